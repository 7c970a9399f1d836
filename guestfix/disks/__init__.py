"""Disk images and moving their data, whatever the guest inside.

    image.py              Disk; formats from the header, checks, QEMU's lock, overlays
    qemuimg.py            qemu-img convert (with progress) and commit
    storage.py            sparse copy with checksums in the same pass; room checks
    backup.py             verified backups with a manifest
    partitions.py         reading a disk's partition table
    tablewriter.py        writing one for a disk guestfix assembles
    assembly.py           partition images (and a bare filesystem) as one disk,
                          served by nbdkit with nbd_pieces_plugin.py (also a
                          disk on the Xen host, range by range)

Imports: core/; domain.model only (a backup keeps the domain XML).
"""
