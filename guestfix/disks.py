"""Which disks a command works on, in the guest's order, and their names.

With --domain, the disks and their Xen targets come from the domain XML
(DISK arguments, if any, replace the XML's sources in order); without it the
DISK arguments are xvda, xvdb, ... in the order given.
"""

import os

from .devnames import DeviceMap, xen_name
from .diskimage import open_disk
from .domain.model import Domain
from .errors import InputError


def resolve(disk_args, domain_path=None, writable=False, allow_backing=False, fmt=None):
    """Returns (disks, device map, NIC MACs)."""
    macs = []
    if domain_path:
        domain = Domain.from_file(domain_path)
        ddisks = domain.guest_disks()
        macs = domain.macs()
        if disk_args and len(disk_args) != len(ddisks):
            raise InputError(f"{len(disk_args)} disk(s) given but the domain has {len(ddisks)}")
        entries = []
        for i, d in enumerate(ddisks):
            path = disk_args[i] if disk_args else domain.resolve_source(d.source)
            entries.append((path, d.driver_type if d.driver_type in ("raw", "qcow2") else fmt,
                            d.target))
    else:
        if not disk_args:
            raise InputError("no disk given", hint="name the guest's disk images, or --domain XML")
        entries = [(p, fmt, xen_name(i)) for i, p in enumerate(disk_args)]
    seen = set()
    disks = []
    for path, disk_fmt, target in entries:
        real = os.path.realpath(path)
        if real in seen:
            raise InputError(f"{path} is given twice")
        seen.add(real)
        disks.append(open_disk(path, fmt=disk_fmt, target=target, writable=writable,
                               allow_backing=allow_backing))
    return disks, DeviceMap([d.target for d in disks]), macs
