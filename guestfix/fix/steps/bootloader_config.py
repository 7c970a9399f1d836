"""The boot loader's settings name virtio disks and a serial console.

Every GRUB_CMDLINE_* in /etc/default/grub (and grub.d drop-ins), kernel and
`# kopt=` lines of GRUB legacy's menu.lst, and device.map: Xen device names
are remapped (root=, resume=, disk=), console=xvc*/hvc* becomes console=tty0
console=ttyS0 and xencons= is dropped. When the guest used a Xen console,
GRUB is also told to use the serial port, so `virsh console` shows the menu.
"""

import re

from .. import grubdefaults
from ..plan import edit
from .base import Step

DEFAULTS = grubdefaults.PATH
DEVICE_MAPS = ["/boot/grub/device.map", "/boot/grub2/device.map", "/boot/grub2-efi/device.map"]
MENU_LSTS = ["/boot/grub/menu.lst", "/boot/grub/grub.conf"]
XEN_CONSOLE = re.compile(r"^console=(?:xvc|hvc)\d*(?:,\S*)?$")
SERIAL_CONSOLE = "console=ttyS0"


def fix_cmdline(args, devmap):
    """Kernel arguments (a string) for KVM."""
    args, _unknown = devmap.rewrite(args)
    out, had_xen_console = [], False
    for word in args.split():
        if XEN_CONSOLE.match(word):
            had_xen_console = True
            continue
        if word.startswith("xencons="):
            continue
        out.append(word)
    if had_xen_console:
        if "console=tty0" not in out:
            out.append("console=tty0")
        if not any(w == SERIAL_CONSOLE or w.startswith(SERIAL_CONSOLE + ",") for w in out):
            out.append(SERIAL_CONSOLE)
    return " ".join(out)


_CMDLINE = re.compile(r"GRUB_CMDLINE_[A-Z0-9_]+")


def fix_grub_defaults(text, devmap):
    """Returns (new text, whether a Xen console was configured)."""
    out, xen_console = [], False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        a = grubdefaults.assignment(body)
        if a and _CMDLINE.fullmatch(a.name):
            if any(XEN_CONSOLE.match(w) for w in a.value.split()):
                xen_console = True
            body = a.with_value(fix_cmdline(a.value, devmap))
        out.append(body + ("\n" if line.endswith("\n") else ""))
    text = "".join(out)
    if xen_console and not re.search(r"^\s*GRUB_TERMINAL=", text, re.M):
        if text and not text.endswith("\n"):
            text += "\n"
        text += (
            "# serial console for KVM (added by guestfix)\n"
            'GRUB_TERMINAL="console serial"\n'
            'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n'
        )
    return text, xen_console


def fix_device_map(text, devmap):
    """(hd0) /dev/xvda -> (hd0) /dev/vda; bare xvda names too."""
    out = []
    for line in text.splitlines(keepends=True):
        new, _ = devmap.rewrite(line)
        new = re.sub(
            r"(?<![\w/])(xvd[a-z]+)\b", lambda m: devmap.rename(m.group(1)) or m.group(1), new
        )
        out.append(new)
    return "".join(out)


# `module` lines too: a Xen entry passes the guest kernel its arguments there.
_KERNEL_LINE = re.compile(r"^(\s*(?:kernel|module)\s+\S+)(.*)$")
_KOPT_LINE = re.compile(r"^(#\s*kopt=)(.*)$")


def fix_menu_lst(text, devmap):
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        for pattern in (_KERNEL_LINE, _KOPT_LINE):
            m = pattern.match(body)
            if m:
                args = fix_cmdline(m.group(2), devmap)
                sep = " " if pattern is _KERNEL_LINE and args else ""
                body = m.group(1) + sep + args
                break
        out.append(body + ("\n" if line.endswith("\n") else ""))
    return "".join(out)


# SUSE's perl-Bootloader builds the menu.lst entry of every kernel installed
# later from these; the Xen-only *XEN* settings are left alone.
SYSCONFIG_BOOTLOADER = "/etc/sysconfig/bootloader"
_APPEND = re.compile(r"^(\s*(?:DEFAULT|FAILSAFE)_APPEND=)(\"|')?(.*?)(\2)?(\s*(?:#.*)?)$")


def fix_sysconfig_bootloader(text, devmap):
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        m = _APPEND.match(body)
        if m:
            quote = m.group(2) or '"'
            body = f"{m.group(1)}{quote}{fix_cmdline(m.group(3), devmap)}{quote}{m.group(5) or ''}"
        out.append(body + ("\n" if line.endswith("\n") else ""))
    return "".join(out)


class BootloaderConfig(Step):
    name = "bootloader-config"
    title = "boot loader settings: kernel arguments, serial console, device.map"
    changes = (
        f"{DEFAULTS}, /etc/default/grub.d/*.cfg, device.map, menu.lst kernel lines, "
        f"{SYSCONFIG_BOOTLOADER} DEFAULT_APPEND/FAILSAFE_APPEND"
    )

    def plan(self, ctx):
        changes = []
        for path in [DEFAULTS] + ctx.guest.glob("/etc/default/grub.d/*.cfg"):
            before = ctx.guest.read_text(path)
            if before is not None:
                after, _ = fix_grub_defaults(before, ctx.devmap)
                changes.append(edit(self.name, "kernel arguments for KVM", path, before, after))
        for path in DEVICE_MAPS:
            before = ctx.guest.read_text(path)
            if before is not None:
                changes.append(
                    edit(
                        self.name,
                        "device.map names virtio disks",
                        path,
                        before,
                        fix_device_map(before, ctx.devmap),
                    )
                )
        for path in MENU_LSTS:
            before = ctx.guest.read_text(path)
            if before is not None and not ctx.guest.is_symlink(path):
                changes.append(
                    edit(
                        self.name,
                        "GRUB legacy kernel lines for KVM",
                        path,
                        before,
                        fix_menu_lst(before, ctx.devmap),
                    )
                )
        before = ctx.guest.read_text(SYSCONFIG_BOOTLOADER)
        if before is not None:
            changes.append(
                edit(
                    self.name,
                    "kernel arguments for kernels installed later",
                    SYSCONFIG_BOOTLOADER,
                    before,
                    fix_sysconfig_bootloader(before, ctx.devmap),
                )
            )
        return [c for c in changes if c]


STEP = BootloaderConfig()
