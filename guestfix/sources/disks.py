"""Which disks a command works on, in the guest's order, and their names.

With --domain, the disks and their Xen targets come from the domain XML
(DISK arguments, if any, replace the XML's sources in order); without it the
DISK arguments are xvda, xvdb, ... in the order given.
"""

import os

from ..core.devnames import DeviceMap, is_partition_target, xen_name
from ..core.errors import InputError
from ..disks.assembly import bare_filesystem, read_head
from ..disks.image import open_disk
from ..domain.model import Domain


def resolve(
    disk_args, domain_path=None, writable=False, allow_backing=False, fmt=None, whole_disks=False
):
    """Returns (disks, device map, NIC MACs). With `whole_disks`, disks
    that need a partition table first (partition images, a bare filesystem
    as the first disk) are refused before anything is changed."""
    if domain_path:
        domain = Domain.from_file(domain_path)
        if whole_disks:
            refuse_partition_images(domain, domain_path)
        disks = domain_disks(
            domain, allow_backing=allow_backing, writable=writable, fmt=fmt, paths=disk_args
        )
        macs = domain.macs()
    else:
        if not disk_args:
            raise InputError("no disk given", hint="name the guest's disk images, or --domain XML")
        disks = _open_all(
            [(p, fmt, xen_name(i)) for i, p in enumerate(disk_args)], writable, allow_backing
        )
        macs = []
    if whole_disks:
        refuse_bare_filesystem(disks[0], domain_path)
    return disks, DeviceMap([d.target for d in disks]), macs


def _migrate_hint(domain_path):
    source = f"-i libvirtxml {domain_path}" if domain_path else "-i libvirtxml DOMAIN.xml"
    return (
        f"guestfix migrate {source} -o local -os DIR makes that disk from copies "
        "and leaves these untouched"
    )


def refuse_partition_images(domain, domain_path):
    """Partition images (xen-tools' disk.img as xvda2, swap.img as xvda1)
    boot on KVM only as partitions of one disk with a partition table.
    Editing them in place cannot make that disk; migrate assembles it.

    InputError (exit 3), not UnsupportedGuestError (5): the guest is one
    guestfix converts, and 5 would tell a script to give up on it; it is
    these disks, given to this command, that cannot be used."""
    parts = [d.target for d in domain.guest_disks() if is_partition_target(d.target)]
    if not parts:
        return
    these = (
        f"disk {parts[0]} is a partition image that needs"
        if len(parts) == 1
        else f"disks {', '.join(parts)} are partition images that need"
    )
    raise InputError(
        f"{domain_path}: {these} a partition table, which fix cannot add to disks it "
        "edits in place",
        hint=_migrate_hint(domain_path),
    )


def refuse_bare_filesystem(disk, domain_path):
    """A first disk that is one bare filesystem has no room for boot code."""
    kind = bare_filesystem(read_head(disk))
    if kind:
        raise InputError(
            f"{disk.path} ({disk.target}) holds a bare {kind} filesystem with no partition "
            "table, which fix cannot add to a disk it edits in place",
            hint=_migrate_hint(domain_path),
        )


def domain_disks(domain, allow_backing=False, writable=False, fmt=None, paths=None):
    """The domain's hard disks as checked Disk objects, in the guest's order,
    each with its Xen target. `paths`, if given, replace the XML's sources
    in order."""
    return _open_all(disk_entries(domain, fmt, paths), writable, allow_backing)


def disk_entries(domain, fmt=None, paths=None):
    """(path, format or None, Xen target) of each hard disk, in the guest's
    order. The XML's driver type gives the format when it is raw or qcow2
    (Xen driver types such as 'aio' are no image format); otherwise `fmt`,
    and without it the image header will."""
    ddisks = domain.guest_disks()
    if paths and len(paths) != len(ddisks):
        raise InputError(f"{len(paths)} disk(s) given but the domain has {len(ddisks)}")
    return [
        (
            paths[i] if paths else domain.resolve_source(d.source),
            d.driver_type if d.driver_type in ("raw", "qcow2") else fmt,
            d.target,
        )
        for i, d in enumerate(ddisks)
    ]


def _open_all(entries, writable, allow_backing):
    """open_disk for each (path, format, target); one image named twice would
    be two drives over the same data."""
    seen = set()
    disks = []
    for path, disk_fmt, target in entries:
        real = os.path.realpath(path)
        if real in seen:
            raise InputError(f"{path} is given twice")
        seen.add(real)
        disks.append(
            open_disk(
                path, fmt=disk_fmt, target=target, writable=writable, allow_backing=allow_backing
            )
        )
    return disks
