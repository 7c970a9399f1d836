"""-i xva FILE.xva: a XenServer/XCP-ng export (`xe vm-export`).

The domain comes from ova.xml, the tar's first member (domain/ovaxml.py);
the disks are inside the tar, read once as a stream (disks/xvastream.py)
straight into where they are to be. `open` reads only ova.xml and gives a
guest whose disks are still to come (`SourceGuest.incoming`): migrate has
the output say where each goes, then reads the rest of the stream there.
FILE may be `-`, the export on standard input (`ssh HOST xe vm-export
vm=NAME filename= | guestfix migrate -i xva - ...`): the same stream.

`guestfix xml` names each disk FILE's directory/NAME-TARGET.raw, where
nothing has been written.
"""

import os
import stat
import sys
from dataclasses import dataclass

from ..core.errors import InputError
from ..core.progress import by_total
from ..disks.image import Disk
from ..disks.xvastream import XvaStream
from ..domain import ovaxml
from .incoming import IncomingSource

STDIN = "-"
COMPRESSED_MAGICS = (b"\x1f\x8b", b"\xfd7zXZ\x00", b"BZh", b"\x28\xb5\x2f\xfd")


def _open_export(path):
    """The export as a binary stream, and its size when it is a file."""
    if path == STDIN:
        return sys.stdin.buffer, None
    try:
        f = open(path, "rb")  # read by XvaStream until the disks are in
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    st = os.fstat(f.fileno())
    if stat.S_ISDIR(st.st_mode):
        f.close()
        raise InputError(f"{path} is a directory, not an XVA export")
    if not stat.S_ISREG(st.st_mode):
        return f, None
    compressed = any(f.read(6).startswith(m) for m in COMPRESSED_MAGICS)
    f.seek(0)
    # a compressed export's disks take more than its size: not known
    return f, None if compressed else st.st_size


def read_ova_xml(path):
    """ova.xml's text, from the head of the export (nothing more is read)."""
    f, _size = _open_export(path)
    stream = XvaStream(f, path)
    try:
        return stream.ova_xml()
    finally:
        stream.close()
        f.close()


def export_guest(path, disk_path=None):
    """The XvaGuest of an export; disk_path(vm name, XvaDisk) names its
    disks (by default NAME-TARGET.raw next to the export)."""
    here = os.path.dirname(os.path.abspath(path))
    return ovaxml.guest_from_export(
        ovaxml.parse(read_ova_xml(path), path),
        disk_path or (lambda name, disk: os.path.join(here, f"{name}-{disk.target}.raw")),
        path,
    )


@dataclass
class ExportDisks:
    """The disks still in an export's stream (SourceGuest.incoming,
    sources/incoming.py)."""

    stream: XvaStream
    file: object  # what the stream reads (closed once the disks are in)
    vdis: dict  # Xen target -> XvaDisk
    size_bound: int = 0  # an uncompressed export file's size: the most they can take
    mtime: float = None  # the export file's, for migrate's record (--skip-migrated)

    def origin_of(self, target):
        """Where a disk's data is in the export (FILE/Ref:N)."""
        return f"{self.stream.where}/{self.vdis[target].vdi}"

    def description(self, name):
        return f"{name}.ova.xml", self.stream.ova_xml()

    def read_into(self, paths, monitor, premade=()):
        """Each disk written into paths[target] (raw, sparse), every chunk
        checked on the way: (the Disks now there, ReadStats)."""
        total = self.size_bound or sum(d.virtual_size for d in self.vdis.values())
        try:
            with monitor.transfer("reading the export", total) as advance:
                self.stream.progress = by_total(advance)
                stats = self.stream.read_disks(
                    {d.vdi: (paths[t], d.virtual_size) for t, d in self.vdis.items()}, premade
                )
        finally:
            self.close()
        disks = [
            Disk(path=paths[t], format="raw", target=t, virtual_size=d.virtual_size)
            for t, d in self.vdis.items()
        ]
        return disks, stats

    def close(self):
        self.stream.close()
        if self.file is not sys.stdin.buffer:
            self.file.close()


class XvaExport(IncomingSource):
    mode = "xva"

    def load_domain(self, arg):
        return export_guest(arg).domain

    def open(self, arg):
        f, size = _open_export(arg)
        stream = XvaStream(f, arg)
        try:
            xva = ovaxml.guest_from_export(
                ovaxml.parse(stream.ova_xml(), arg),
                # the data's place in the export, until it is written out
                lambda _name, disk: f"{arg}/{disk.vdi}",
                arg,
            )
        except BaseException:
            stream.close()
            f.close()
            raise
        incoming = ExportDisks(
            stream=stream,
            file=f,
            vdis={d.target: d for d in xva.disks},
            size_bound=size or 0,
            mtime=None if arg == STDIN else round(os.fstat(f.fileno()).st_mtime, 3),
        )
        return self.guest(arg, xva, incoming)
