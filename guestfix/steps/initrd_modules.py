"""Step 1: the initrd driver lists name virtio drivers, not Xen ones.

A Xen guest's initrd is often built with only xen-blkfront/xen-netfront
(MODULES=list, or hostonly images built on Xen). Listing the virtio drivers
in the configuration makes every later rebuild, ours and the guest's own,
carry them. Modprobe aliases that point at Xen drivers are redirected.
"""

import re

from ..facts import XEN_DRIVERS
from ..plan import edit
from . import Step

VIRTIO_DRIVERS = ["virtio_blk", "virtio_pci", "virtio_net", "virtio_balloon", "virtio_scsi"]
# The virtio replacement for each Xen driver, for modprobe aliases.
ALIAS_REPLACEMENT = {
    "xen-blkfront": "virtio_blk", "xen_blkfront": "virtio_blk", "xenblk": "virtio_blk",
    "xen-netfront": "virtio_net", "xen_netfront": "virtio_net", "xennet": "virtio_net",
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


_ALIAS_RE = re.compile(r"^(\s*alias\s+\S+\s+)(\S+)(.*)$")


def fix_modprobe_aliases(text):
    out = []
    for line in text.splitlines(keepends=True):
        m = _ALIAS_RE.match(line)
        if m and m.group(2) in ALIAS_REPLACEMENT:
            line = m.group(1) + ALIAS_REPLACEMENT[m.group(2)] + m.group(3) + \
                ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out)


class InitrdModules(Step):
    name = "initrd-modules"
    title = "initrd driver lists: Xen drivers out, virtio in"
    changes = f"{MODULES_FILE}, modprobe aliases in /etc/modprobe.d/*.conf and /etc/modprobe.conf"

    def plan(self, ctx):
        changes = []
        if ctx.facts.initrd_tool == "initramfs-tools":
            before = ctx.guest.read_text(MODULES_FILE)
            changes.append(edit(self.name, "virtio drivers listed for the initramfs",
                                MODULES_FILE, before, fix_modules_list(before)))
        for path in ctx.guest.glob("/etc/modprobe.d/*.conf") + ["/etc/modprobe.conf"]:
            before = ctx.guest.read_text(path)
            if before is not None:
                changes.append(edit(self.name, "modprobe aliases point at virtio drivers",
                                    path, before, fix_modprobe_aliases(before)))
        return [c for c in changes if c]


STEP = InitrdModules()
