"""Sources whose disks are not files to open but data still to come: an
export's stream (xva.py), a pool's VDIs pulled over HTTPS (xapi.py).

`open` gives a SourceGuest whose `incoming` says what is to come:

    vdis              Xen target -> XvaDisk (size, the VDI's id)
    size_bound        what the disks take at most (0: not known)
    origin_of(t)      where a disk's data comes from, for reports
    description(n)    (file name, text): the source's own record of the guest
    read_into(paths, monitor) -> (Disks, stats with as_dict() and summary())
                      each disk written (raw, sparse) at paths[target], once
    close()

migrate has the output name each disk's final place before reading
(migrate.py, stage `read`); backup reads them into the backup directory,
inspect into a temporary one. The data is read once in every case.
"""

import contextlib
import os
import tempfile

from ..disks import backup as backup_mod
from ..disks.assembly import Layout
from ..disks.image import Disk
from ..disks.storage import check_room
from .base import Source, SourceGuest


class IncomingSource(Source):
    disks_exist = False  # named by the source, not files here

    def guest(self, origin, xen_guest, incoming):
        """The SourceGuest of an ovaxml.XvaGuest whose disks are to come;
        until they are read, each Disk's path says where its data is."""
        disks = [
            Disk(
                path=incoming.origin_of(d.target),
                format="raw",
                target=d.target,
                virtual_size=d.virtual_size,
            )
            for d in xen_guest.disks
        ]
        guest = SourceGuest(
            origin=origin,
            domain=xen_guest.domain,
            xml_text=xen_guest.domain.to_string(),
            disks=disks,
            # whole disks only (ovaxml refuses partitions): nothing to assemble
            layout=Layout(list(disks)),
            devmap=None,
            incoming=incoming,
            left_out=list(xen_guest.left_out),
        )
        guest.devmap = guest.device_map()
        return guest

    def backup(self, guest, dest, monitor, md5=True):
        """The disks read into `dest`, the source's record of the guest as
        it was, and NAME.xml naming the disks: the directory is then a guest
        of its own (-i libvirtxml DIR/NAME.xml)."""
        incoming = guest.incoming
        names = {t: f"{guest.name}-{t}.raw" for t in incoming.vdis}
        described = incoming.description(guest.name)
        dest = backup_mod.prepare_directory(
            dest,
            [
                *names.values(),
                *(f".{name}.partial" for name in names.values()),
                f"{guest.name}.xml",
                described[0],
            ],
        )
        check_room(dest, incoming.size_bound or 0)
        partial = {t: os.path.join(dest, f".{name}.partial") for t, name in names.items()}
        try:
            disks, _stats = incoming.read_into(partial, monitor)
        except BaseException:
            for path in partial.values():
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise
        return backup_mod.keep_received(
            [(d, names[d.target], incoming.origin_of(d.target)) for d in disks],
            dest,
            monitor,
            md5=md5,
            files=[described],
            domain=guest.domain,
        )

    @contextlib.contextmanager
    def readable(self, guest, monitor):
        """The guest with its disks read into a temporary directory (for
        inspect), removed afterwards."""
        # /var/tmp, not /tmp: a tmpfs in RAM cannot hold a disk
        tmp_root = os.environ.get("TMPDIR") or "/var/tmp"
        with tempfile.TemporaryDirectory(prefix="guestfix-read-", dir=tmp_root) as tmp:
            check_room(tmp, guest.incoming.size_bound or 0)
            paths = {t: os.path.join(tmp, f"{t}.raw") for t in guest.incoming.vdis}
            disks, _stats = guest.incoming.read_into(paths, monitor)
            yield guest.with_disks(disks)
