"""The kernel arguments the guest booted with on Xen carry into GRUB.

A guest that booted dom0's kernel took its arguments from the domain
(<cmdline>, or xl's `root` and `extra`); a pygrub guest whose GRUB 2 is
configured now for the first time took them from the default entry of its
hand-written menu.lst. Once it boots its own kernel through a generated
grub.cfg they would be lost, with whatever tuning they carried. Those
that mean something on KVM are added to GRUB_CMDLINE_LINUX; left out are
root= (grub-mkconfig writes the root itself), ro/rw (it adds ro), and the
Xen-only ones: xencons=, clocksource=xen, earlyprintk=xen. A Xen console
(console=hvc0) becomes the serial console, by bootloader-config's rule.

A PV guest's kernel console is Xen's hvc0 even when no console= names it
(xen-tools' menu.lst names none): there `xl console` showed the kernel and
the login prompt that systemd starts on the console. On KVM the same
place is the serial port, so such a guest is treated as if its arguments
said console=hvc0, and gets console=tty0 console=ttyS0.
"""

import re

from .. import grubdefaults
from ..plan import edit
from .base import Step
from .bootloader_config import fix_grub_defaults
from .default_kernel import menu_lst_entries

DROPPED = re.compile(r"^(?:root=.*|ro|rw|xencons=.*|clocksource=xen|earlyprintk=xen\S*)$")
VARIABLE = "GRUB_CMDLINE_LINUX"
IMPLICIT_XEN_CONSOLE = "console=hvc0"


def carried(boot_args, present):
    """The words of `boot_args` to add: not dropped, and not already in
    `present` (a key=value whose key is there counts as present)."""
    have = set(present.split())
    keys = {w.split("=", 1)[0] for w in have if "=" in w}
    out = []
    for word in boot_args.split():
        key = word.split("=", 1)[0]
        if (
            DROPPED.match(word)
            or word in have
            or ("=" in word and key in keys and key != "console")
        ):
            continue
        out.append(word)
        have.add(word)
    return out


def menu_lst_args(text):
    """The arguments of the kernel line of menu.lst's default entry."""
    entries = menu_lst_entries(text or "")
    m = re.search(r"^\s*default\s+(\d+)", text or "", re.M)
    index = int(m.group(1)) if m else 0
    if not entries or index >= len(entries):
        return ""
    words = entries[index][2].get("kernel", "").split()
    return " ".join(words[1:])


def names_console(*args):
    """Whether any of the argument strings sets a console."""
    return any(w.startswith("console=") for a in args for w in a.split())


def with_boot_args(text, boot_args, devmap):
    """/etc/default/grub with the Xen-era arguments added, then made KVM's."""
    values = grubdefaults.values(text)
    present = " ".join(values.get(n, "") for n in (VARIABLE, "GRUB_CMDLINE_LINUX_DEFAULT"))
    words = carried(boot_args, present)
    if not words:
        return text
    current = values.get(VARIABLE, "")
    text = grubdefaults.set_value(text, VARIABLE, " ".join(current.split() + words))
    return fix_grub_defaults(text, devmap)[0]


class KernelArguments(Step):
    name = "kernel-arguments"
    title = "kernel arguments the guest booted with on Xen carried into GRUB"
    changes = f"{grubdefaults.PATH} {VARIABLE}"
    after = ("bootloader-config",)  # adds to the settings it made KVM's

    def plan(self, ctx):
        boot_args = ctx.boot_args
        if not boot_args and ctx.facts.legacy_menu and not ctx.guest.exists(ctx.facts.grub_cfg):
            boot_args = menu_lst_args(ctx.guest.read_text(ctx.facts.legacy_menu))
        before = ctx.guest.read_text(grubdefaults.PATH)
        if before is not None and ctx.xen_pv:
            values = grubdefaults.values(before)
            if not names_console(
                boot_args, values.get(VARIABLE, ""), values.get("GRUB_CMDLINE_LINUX_DEFAULT", "")
            ):
                boot_args = f"{boot_args} {IMPLICIT_XEN_CONSOLE}".strip()
        if not boot_args:
            return []
        if before is None:
            if ctx.facts.bootloader == "grub2":
                ctx.notes.append(
                    f"the Xen-era kernel arguments ({boot_args}) were not "
                    f"carried: the guest has no {grubdefaults.PATH}"
                )
            return []
        change = edit(
            self.name,
            "Xen-era kernel arguments kept",
            grubdefaults.PATH,
            before,
            with_boot_args(before, boot_args, ctx.devmap),
        )
        return [change] if change else []


STEP = KernelArguments()
