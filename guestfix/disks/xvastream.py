"""An XVA read once, as a stream: ova.xml first, then each disk's chunks
written into a sparse raw image, every chunk checked against its checksum
before it is written.

After ova.xml, xapi writes each VDI as 1 MiB chunks `Ref:N/00000000`,
`Ref:N/00000001` ..., each followed by its checksum (`.checksum`: the hex
SHA-1 of the chunk; xapi since 2019, XCP-ng 8.3: `.xxhash`, XXH64 as 16
upper-case hex digits). All-zero chunks are left out (chunk 0 and the last
are always written): they stay holes here. A chunk's place follows xapi's
importer, not index x 1 MiB: xapi writes an empty chunk when its source
stalls for 5 s, which takes an index and no room, so a chunk lies the
skipped indices' 1 MiB each past the end of the one before it. Nothing
is seeked: the export may come from a pipe (stdin, `ssh HOST xe
vm-export ... filename=`), and may be larger than twice the space there is.

A bad checksum, a chunk of a VDI ova.xml does not have, a chunk past its
disk's size, or a tar that ends early stops the read with one line; the
images begun are removed (the caller's `outputs` are only ever these).
"""

import contextlib
import hashlib
import os
import re
from dataclasses import asdict, dataclass, field

from ..core.errors import InputError
from ..core.fsutil import remove_files
from .storage import destination_errors, open_new_image
from .tarstream import TarFormatError, TarStream

CHUNK = 1024**2
ZERO_CHUNK = memoryview(bytes(CHUNK))  # sliced without a copy; compared by memcmp
OVA_XML = "ova.xml"
MAX_OVA_XML = 16 * 1024**2
CHUNK_RE = re.compile(r"^(Ref:\d+)/(\d{8})(?:\.(checksum|xxhash))?$")


def _xxh64(data):
    import xxhash

    return xxhash.xxh64(data).hexdigest()


DIGESTS = {"checksum": lambda data: hashlib.sha1(data).hexdigest(), "xxhash": _xxh64}


@dataclass
class ReadStats:
    bytes_read: int = 0  # of the tar stream
    chunks: int = 0
    zero_chunks: int = 0  # present in the stream but all zero: left as holes
    checksums: dict = field(default_factory=dict)  # kind -> count verified

    def as_dict(self):
        return asdict(self)

    def summary(self):
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.checksums.items()))
        return (
            f"read {self.bytes_read / 1024**2:.0f} MiB of export: {self.chunks} chunks "
            f"checked ({kinds or 'none'}), {self.zero_chunks} all-zero left as holes"
        )


class _Counting:
    """A read-only stream that counts what passes through (for progress)."""

    def __init__(self, raw, progress):
        self.raw, self.progress, self.count = raw, progress, 0

    def read(self, n=-1):
        data = self.raw.read(n)
        self._counted(len(data))
        return data

    def readinto(self, buf):
        n = self.raw.readinto(buf) or 0
        self._counted(n)
        return n

    def _counted(self, n):
        self.count += n
        if self.progress:
            self.progress(self.count)


class XvaStream:
    """An XVA being read from `stream` (a binary file object, never
    seeked): `ova_xml()` reads its head, `read_disks()` the rest, once.
    Between the two the caller decides where the disks go (an output
    prepared from ova.xml), so a pipe is read only once as well."""

    def __init__(self, stream, where, progress=None):
        self.where = where
        self._counting = _Counting(stream, progress)
        self._tar = None
        self._ova_xml = None

    @property
    def bytes_read(self):
        return self._counting.count

    @property
    def progress(self):
        return self._counting.progress

    @progress.setter
    def progress(self, progress):
        """progress(bytes read so far), called as the stream is read."""
        self._counting.progress = progress

    def ova_xml(self):
        """ova.xml's text (read from the stream the first time)."""
        if self._ova_xml is None:
            with self._errors():
                self._tar = TarStream(self._counting)
                first = self._tar.next()
                if first is None or first.name != OVA_XML or not first.isfile():
                    raise InputError(
                        f"{self.where}: not an XVA (its first member is not {OVA_XML})"
                    )
                if first.size > MAX_OVA_XML:
                    raise InputError(f"{self.where}: {OVA_XML} is too large ({first.size} bytes)")
                self._ova_xml = self._tar.read(first).decode("utf-8", "replace")
        return self._ova_xml

    def read_disks(self, disks, premade=()):
        """The disks' chunks, each checked, written into their images.

        disks: {vdi id: (image path, virtual size in bytes)}. Each image is
        created here (and removed again on error), except those in
        `premade`: new, empty files the caller made for this (a pool's
        volumes), which it removes. Returns ReadStats; on any error
        InputError says what was wrong, in one line."""
        self.ova_xml()
        created = []
        stats = ReadStats()
        try:
            with self._errors():
                _read_chunks(self._tar, self.where, disks, created, stats, premade)
            for path, size in disks.values():
                with destination_errors(path):
                    os.truncate(path, size)
        except BaseException:
            remove_files(created)
            raise
        finally:
            self.close()
        stats.bytes_read = self.bytes_read
        return stats

    def close(self):
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    @contextlib.contextmanager
    def _errors(self):
        try:
            yield
        except (TarFormatError, OSError) as e:
            # OSError: gzip's, lzma's and bz2's word for a corrupt stream
            raise InputError(f"{self.where}: not a whole XVA (tar: {e})") from None
        except EOFError as e:
            raise InputError(
                f"{self.where}: the XVA ends early ({e or 'unexpected end of data'})"
            ) from None


def read_xva(stream, where, on_ova_xml, progress=None):
    """Read a whole XVA from `stream`: on_ova_xml(text) is called with
    ova.xml and returns the disks to write ({vdi id: (image path, virtual
    size)}, XvaStream.read_disks)."""
    xva = XvaStream(stream, where, progress)
    try:
        disks = on_ova_xml(xva.ova_xml())
    except BaseException:
        xva.close()
        raise
    return xva.read_disks(disks)


def _read_chunks(tar, where, disks, created, stats, premade):
    files = {}
    try:
        for vdi, (path, _size) in disks.items():
            files[vdi] = open_new_image(path, created, premade)
        _read_members(tar, where, disks, files, stats)
    finally:
        for fd in files.values():
            os.close(fd)
    return disks


# what a checksum member holds at most (40 hex digits, and some room)
MAX_CHECKSUM = 128


def _read_members(tar, where, disks, files, stats):
    pending = None  # (vdi, index, data, offset) waiting for its checksum
    # per VDI: (index of the last chunk, offset after its data)
    last = {vdi: (-1, 0) for vdi in disks}
    while (member := tar.next()) is not None:
        if member.isdir():
            continue
        m = CHUNK_RE.match(member.name)
        if not m or not member.isfile():
            raise InputError(f"{where}: {member.name!r} is not part of an XVA")
        vdi, index, kind = m.group(1), int(m.group(2)), m.group(3)
        if vdi not in disks:
            raise InputError(f"{where}: data for {vdi}, which ova.xml has no disk for")
        if member.size > (CHUNK if kind is None else MAX_CHECKSUM):
            raise InputError(f"{where}: {member.name} is {member.size} bytes, too large")
        data = tar.read(member)
        if kind is None:
            if pending is not None:
                raise InputError(f"{where}: {_name(pending)} has no checksum")
            size = disks[vdi][1]
            before, end = last[vdi]
            if index <= before:
                raise InputError(f"{where}: {member.name} comes after a later chunk")
            offset = end + (index - before - 1) * CHUNK
            if len(data) > CHUNK or offset + len(data) > size:
                raise InputError(
                    f"{where}: {member.name} lies past the end of its disk ({size} bytes)"
                )
            last[vdi] = (index, offset + len(data))
            pending = (vdi, index, data, offset)
            continue
        if pending is None or pending[:2] != (vdi, index):
            raise InputError(f"{where}: {member.name} checks a chunk that is not there")
        expected = data.decode("ascii", "replace").strip().lower()
        actual = DIGESTS[kind](pending[2])
        if expected != actual:
            raise InputError(
                f"{where}: {_name(pending)} is corrupt (its {kind} is {expected[:16]}, "
                f"the data's {actual[:16]})"
            )
        _write(files[vdi], pending, stats, disks[vdi][0])
        stats.checksums[kind] = stats.checksums.get(kind, 0) + 1
        pending = None
    if pending is not None:
        raise InputError(f"{where}: {_name(pending)} has no checksum")
    # xapi writes every disk's chunk 0, zero or not: without it the
    # export was cut (or damaged) before that disk
    missing = [vdi for vdi, (index, _end) in last.items() if index < 0]
    if missing:
        raise InputError(f"{where}: no data for {', '.join(missing)} (the export is cut short)")


def _name(pending):
    return f"{pending[0]}/{pending[1]:08d}"


def _write(fd, pending, stats, path):
    _vdi, _index, data, offset = pending
    stats.chunks += 1
    if data == ZERO_CHUNK[: len(data)]:
        stats.zero_chunks += 1
        return  # a hole
    with destination_errors(path):
        os.pwrite(fd, data, offset)
