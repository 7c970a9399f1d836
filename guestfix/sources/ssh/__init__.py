"""A Xen host reached over ssh: the guest's configuration and disks, read there.

    host.py     who the host is (ssh://, xen+ssh://), the constant scripts
                run there, and running them
    images.py   the guest's disks on the host: described and checked in one
                round trip, served range by range to the fix (READER)
    stream.py   a disk read whole, once, into the destination: holes of a
                file not sent (tar --sparse), zero blocks not written, the
                transfer checked against the host's own hash

How the data crosses the network once: the fix reads only what it needs,
range by range, through nbdkit (disks/nbd_pieces_plugin.py runs READER on
the host: one `dd` per range); the copy streams each disk whole, once.

Imports: core/, disks/ (Disk, the image checks).
"""

from .host import READER, SshHost
from .images import RemoteImage, open_disks
from .stream import STREAM

__all__ = ["READER", "STREAM", "RemoteImage", "SshHost", "open_disks"]
