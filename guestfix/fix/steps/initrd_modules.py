"""The initrd driver lists name virtio drivers, not Xen ones.

A Xen guest's initrd is often built with only xen-blkfront/xen-netfront
(MODULES=list, or hostonly images built on Xen). Listing the virtio drivers
in the configuration makes every later rebuild, ours and the guest's own,
carry them. Modprobe aliases that point at Xen drivers are redirected.
"""

import re

from ..facts import XEN_DRIVERS
from ..plan import edit
from .base import Step

VIRTIO_DRIVERS = ["virtio_blk", "virtio_pci", "virtio_net", "virtio_balloon", "virtio_scsi"]
# The virtio replacement for each Xen driver, for modprobe aliases.
ALIAS_REPLACEMENT = {
    "xen-blkfront": "virtio_blk",
    "xen_blkfront": "virtio_blk",
    "xenblk": "virtio_blk",
    "xen-netfront": "virtio_net",
    "xen_netfront": "virtio_net",
    "xennet": "virtio_net",
}
MODULES_FILE = "/etc/initramfs-tools/modules"


def fix_modules_list(text):
    """/etc/initramfs-tools/modules: one module per line (with options)."""
    lines = (text or "").splitlines(keepends=True)
    kept, present = [], set()
    for line in lines:
        words = line.split("#", 1)[0].split()
        if words and words[0] in XEN_DRIVERS:
            continue
        if words:
            present.add(words[0].replace("-", "_"))
        kept.append(line)
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    missing = [m for m in VIRTIO_DRIVERS if m not in present]
    if missing:
        kept.append("# virtio drivers for KVM (added by guestfix)\n")
        kept.extend(m + "\n" for m in missing)
    return "".join(kept)


# The list the SUSE guide asks for (G1, G2); virtio_scsi is added for
# guests later moved to virtio-scsi disks.
GUIDE_DRIVERS = ["virtio_blk", "virtio_pci", "virtio_net", "virtio_balloon"]
SYSCONFIG_KERNEL = "/etc/sysconfig/kernel"
DRACUT_DROPIN = "/etc/dracut.conf.d/90-guestfix-virtio.conf"
_SHELL_LIST = re.compile(
    r"^(\s*(INITRD_MODULES|DOMU_INITRD_MODULES|add_drivers|force_drivers"
    r"|omit_drivers)\s*\+?=\s*)([\"']?)(.*?)\3(\s*(?:#.*)?)$"
)


def replace_xen_drivers(words):
    """A driver list with the Xen drivers replaced, once, by the guide's
    virtio list (kept where the list had no Xen driver)."""
    out, replaced = [], False
    for w in words:
        if w in XEN_DRIVERS:
            if not replaced:
                out.extend(d for d in GUIDE_DRIVERS if d not in words and d not in out)
                replaced = True
            continue
        out.append(w)
    return out


def fix_shell_lists(text):
    """INITRD_MODULES= (SLES 11 sysconfig) and add_drivers+= (dracut.conf):
    Xen drivers replaced by virtio ones, quoting kept. An omit_drivers list
    loses its virtio drivers: it would win over every list that adds them."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        m = _SHELL_LIST.match(body)
        if m and not body.lstrip().startswith("#"):
            words = m.group(4).split()
            if m.group(2) == "omit_drivers":
                new = [w for w in words if not w.replace("-", "_").startswith("virtio")]
            else:
                new = replace_xen_drivers(words)
            if new != words:
                quote = m.group(3) or '"'
                inner = " ".join(new)
                if "+=" in m.group(1):
                    inner = f" {inner} "  # dracut wants spaces around appended lists
                body = f"{m.group(1)}{quote}{inner}{quote}{m.group(5)}"
        out.append(body + ("\n" if line.endswith("\n") else ""))
    return "".join(out)


def dracut_dropin():
    return (
        "# Written by guestfix: virtio drivers in every initrd dracut builds,\n"
        "# hostonly or not, so the guest keeps booting on KVM.\n"
        f'add_drivers+=" {" ".join(VIRTIO_DRIVERS)} "\n'
    )


_ALIAS_RE = re.compile(r"^(\s*alias\s+\S+\s+)(\S+)(.*)$")


def fix_modprobe_aliases(text):
    out = []
    for line in text.splitlines(keepends=True):
        m = _ALIAS_RE.match(line)
        if m and m.group(2) in ALIAS_REPLACEMENT:
            line = (
                m.group(1)
                + ALIAS_REPLACEMENT[m.group(2)]
                + m.group(3)
                + ("\n" if line.endswith("\n") else "")
            )
        out.append(line)
    return "".join(out)


class InitrdModules(Step):
    name = "initrd-modules"
    title = "initrd driver lists: Xen drivers out, virtio in"
    changes = (
        f"{MODULES_FILE}; {SYSCONFIG_KERNEL} INITRD_MODULES; /etc/dracut.conf.d/*.conf "
        f"driver lists and {DRACUT_DROPIN}; modprobe aliases"
    )

    def plan(self, ctx):
        changes = []
        if ctx.facts.initrd_tool == "initramfs-tools":
            before = ctx.guest.read_text(MODULES_FILE)
            changes.append(
                edit(
                    self.name,
                    "virtio drivers listed for the initramfs",
                    MODULES_FILE,
                    before,
                    fix_modules_list(before),
                )
            )
        if ctx.facts.initrd_tool == "mkinitrd" or ctx.guest.is_file(SYSCONFIG_KERNEL):
            before = ctx.guest.read_text(SYSCONFIG_KERNEL)
            if before is not None:
                changes.append(
                    edit(
                        self.name,
                        "INITRD_MODULES name virtio drivers",
                        SYSCONFIG_KERNEL,
                        before,
                        fix_shell_lists(before),
                    )
                )
        if ctx.facts.initrd_tool == "dracut":
            for path in ctx.guest.glob("/etc/dracut.conf.d/*.conf") + ["/etc/dracut.conf"]:
                before = ctx.guest.read_text(path)
                if before is not None and path != DRACUT_DROPIN:
                    changes.append(
                        edit(
                            self.name,
                            "dracut driver lists name virtio drivers",
                            path,
                            before,
                            fix_shell_lists(before),
                        )
                    )
            changes.append(
                edit(
                    self.name,
                    "virtio drivers in every dracut initrd",
                    DRACUT_DROPIN,
                    ctx.guest.read_text(DRACUT_DROPIN),
                    dracut_dropin(),
                )
            )
        for path in ctx.guest.glob("/etc/modprobe.d/*.conf") + ["/etc/modprobe.conf"]:
            before = ctx.guest.read_text(path)
            if before is not None:
                changes.append(
                    edit(
                        self.name,
                        "modprobe aliases point at virtio drivers",
                        path,
                        before,
                        fix_modprobe_aliases(before),
                    )
                )
        return [c for c in changes if c]


STEP = InitrdModules()
