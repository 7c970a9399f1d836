"""Xen device names in fstab, crypttab and resume settings.

/dev/xvdXN becomes the virtio name of the same disk with the same partition
number (see devnames.py). UUID=, LABEL=, /dev/mapper and LVM paths name no
disk and are left alone.
"""

from ..plan import edit
from .base import Step

FILES = ["/etc/fstab", "/etc/crypttab", "/etc/initramfs-tools/conf.d/resume", "/etc/uswsusp.conf"]


def rename_devices(text, devmap):
    """Rename Xen devices outside comments; comment lines are kept as is."""
    out, unknown = [], []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#"):
            out.append(line)
            continue
        new, missing = devmap.rewrite(line)
        unknown.extend(missing)
        out.append(new)
    return "".join(out), unknown


class DeviceNames(Step):
    name = "device-names"
    title = "device names: Xen disks renamed to virtio in fstab, crypttab, resume"
    changes = ", ".join(FILES)

    def plan(self, ctx):
        changes = []
        for path in FILES:
            before = ctx.guest.read_text(path)
            if before is None:
                continue
            after, unknown = rename_devices(before, ctx.devmap)
            for dev in unknown:
                ctx.notes.append(f"{path}: {dev} is not one of the guest's disks; left as is")
            changes.append(edit(self.name, "Xen device names -> virtio", path, before, after))
        return [c for c in changes if c]


STEP = DeviceNames()
