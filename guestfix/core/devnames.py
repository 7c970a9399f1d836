"""Xen device names -> the names the disks get on virtio.

The disks keep their domain order and are renamed vda, vdb, ... in that
order, so xvda+xvdc become vda+vdb. References to a disk keep their
partition number: /dev/xvda2 -> /dev/vda2. Partition images (xvda1 +
xvda2) that migrate assembles into one disk are mapped as that disk
(xvda); a bare filesystem that becomes partition 1 of a new disk has an
alias (xvda -> xvda1), so /dev/xvda becomes /dev/vda1. The same map is
used by the XML conversion.
"""

import re

# A Xen-era block device name: xvd*, and hd* (Xen HVM's emulated IDE).
_XEN_DISK = r"(?:xvd[a-z]{1,2}|hd[a-z])"
DEVICE_RE = re.compile(r"(?<![\w/.-])/dev/(" + _XEN_DISK + r")(p?\d*)(?![\w-])")


def virtio_name(index):
    """0 -> vda, 25 -> vdz, 26 -> vdaa (the kernel's naming)."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(ord("a") + rem) + name
    return "vd" + name


def xen_name(index):
    return "x" + virtio_name(index)


def is_partition_target(target):
    """xvda2, sda3, hda1: a Xen target that names one partition, exported
    to the guest as a disk of its own (as xen-tools does with each image).
    Whole disks (xvda) and Xen's numeric device numbers are not."""
    return re.fullmatch(r"[a-z]+\d+", target) is not None


class DeviceMap:
    """Maps Xen target names (xvda, or partition targets like xvda1) to
    virtio disk names in domain order."""

    def __init__(self, xen_targets, aliases=None):
        self.targets = list(xen_targets)
        self.disk_map = {t: virtio_name(i) for i, t in enumerate(self.targets)}
        self.aliases = dict(aliases or {})  # reference name -> the name it now is
        # An HVM disk given to Xen as emulated IDE or SCSI (hda, sda) is
        # unplugged once the guest's PV driver loads, and xen-blkfront names
        # it xvda: the guest's files say /dev/xvda for target hda.
        self.pv_names = {
            "xvd" + t[2:]: t
            for t in self.targets
            if re.fullmatch(r"(?:hd|sd)[a-z]{1,2}", t) and "xvd" + t[2:] not in self.disk_map
        }

    def disk_name(self, target):
        """The virtio name of the disk itself (vda), never of a partition."""
        return self.disk_map[target]

    @classmethod
    def default(cls, count):
        """Without a domain XML: the disks given are xvda, xvdb, ..."""
        return cls([xen_name(i) for i in range(count)])

    def rename(self, name):
        """'xvda1' -> 'vda1'; a partition target 'xvda2' -> 'vdb'.
        Returns None for a name that is not one of the guest's disks."""
        name = self.aliases.get(name, name)
        if name in self.disk_map:
            return self.disk_map[name]
        m = re.match(r"^([a-z]+)(p?\d*)$", name)
        if not m:
            return None
        disk = self.pv_names.get(m.group(1), m.group(1))
        if disk not in self.disk_map:
            return None
        return self.disk_map[disk] + m.group(2).lstrip("p")

    def rewrite(self, text):
        """Rename every /dev/<xen name> in text; return (new_text, unknown)
        where unknown lists Xen names that are not disks of this guest."""
        unknown = []

        def sub(m):
            new = self.rename(m.group(1) + m.group(2))
            if new is None:
                unknown.append(m.group(0))
                return m.group(0)
            return "/dev/" + new

        return DEVICE_RE.sub(sub, text), unknown

    def as_dict(self):
        return dict(self.disk_map, **{k: self.rename(k) for k in self.aliases})
