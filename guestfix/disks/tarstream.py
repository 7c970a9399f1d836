"""A tar archive read as a stream, member by member, each member's data in
one read: what an XVA needs, at the speed of the pipe.

Python's tarfile reads a stream in 10 KiB pieces and copies its buffer on
every read; for an export of 1 MiB chunks that cost more than checking
them (measured in bench/xva_read.py). This reader takes the headers tar
writes (v7, ustar with its name prefix, GNU long names, pax path and size
records), checks each header's checksum, and reads each member's data
with one readinto. A gzip, xz or bzip2 stream is recognised by its magic
and decompressed on the way, as `tar -xf` would; a zstd one is refused
with the command that decompresses it.
"""

import bz2
import gzip
import lzma
from dataclasses import dataclass

BLOCK = 512
REGULAR = (b"0", b"\0", b"7")  # a file (7: contiguous, read as a file)
DIRECTORY = b"5"
GNU_LONGNAME = b"L"
PAX = (b"x", b"g")  # a member's extended header, a global one
MAX_NAME_RECORD = 64 * 1024
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a long name or pax header larger than this is no XVA's


class TarFormatError(Exception):
    """The stream is not a tar archive (or not one this reader takes)."""


@dataclass
class Member:
    name: str
    size: int
    kind: bytes  # the typeflag

    def isfile(self):
        return self.kind in REGULAR

    def isdir(self):
        return self.kind == DIRECTORY


class _Prefixed:
    """`raw` with `head` put back in front of it (bytes read to sniff)."""

    def __init__(self, head, raw):
        self.head, self.raw = head, raw

    def readinto(self, buf):
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        return self.raw.readinto(buf)

    def read(self, n=-1):
        if self.head:
            if n < 0:
                data, self.head = self.head + self.raw.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.raw.read(n)


def _decompressed(raw):
    """The stream, decompressed when its first bytes say so."""
    head = raw.read(6)
    stream = _Prefixed(head, raw)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream)
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream)
    if head.startswith(ZSTD_MAGIC):
        # xe vm-export compress=zstd; Python reads no zstd before 3.14
        raise TarFormatError("it is zstd-compressed: zstd -dc FILE | guestfix ... -i xva -")
    return stream


class TarStream:
    def __init__(self, raw):
        """`raw`: a binary stream with read() and readinto(), never seeked."""
        self._raw = raw
        self._stream = None
        self._pending = 0  # data and padding of the current member not yet read
        self._ended = False

    def next(self):
        """The next member's header (its data follows: read() or skipped),
        or None at the archive's end."""
        if self._stream is None:
            self._stream = _decompressed(self._raw)
        self._skip(self._pending)
        self._pending = 0
        if self._ended:
            return None
        name = pax_size = None
        while True:
            header = self._exactly(BLOCK)
            if not header.strip(b"\0"):
                # the end-of-archive zero blocks, and the padding of the last
                # record: read to the end, so that a writer on a pipe ends
                # cleanly and the count is the whole stream's
                self._ended = True
                while rest := self._stream.read(1024**2):
                    if rest.strip(b"\0"):
                        raise TarFormatError("data after the archive's end")
                return None
            _check_sum(header)
            kind = header[156:157]
            size = _number(header[124:136])
            if kind == GNU_LONGNAME:
                name = self._record(size).rstrip(b"\0").decode("utf-8", "replace")
                continue
            if kind in PAX:
                records = _pax(self._record(size))
                if kind == b"x":
                    name = records.get("path", name)
                    if "size" in records:
                        if not records["size"].isdigit():
                            raise TarFormatError("a pax header's size is not a number")
                        pax_size = int(records["size"])
                continue
            if name is None:
                name = header[0:100].split(b"\0", 1)[0]
                # POSIX ustar's name prefix (GNU's "ustar  " keeps times there)
                if header[257:263] == b"ustar\0" and header[345:500].strip(b"\0"):
                    name = header[345:500].split(b"\0", 1)[0] + b"/" + name
                name = name.decode("utf-8", "replace")
            size = pax_size if pax_size is not None else size
            self._pending = _padded(size)
            return Member(name=name, size=size, kind=kind)

    def read(self, member):
        """The data of the member next() just gave, whole (a bytearray)."""
        data = bytearray(member.size)
        view = memoryview(data)
        got = 0
        while got < member.size:
            n = self._stream.readinto(view[got:])
            if not n:
                raise EOFError(f"{member.name} is cut short")
            got += n
        self._pending -= member.size
        return data  # a bytearray: a copy into bytes would cost as much as the read

    def close(self):
        """The decompressor closed (never the stream it reads)."""
        if self._stream is not None and not isinstance(self._stream, _Prefixed):
            self._stream.close()
        self._stream = None

    def _record(self, size):
        if size > MAX_NAME_RECORD:
            raise TarFormatError(f"an extended header of {size} bytes")
        data = self._exactly(_padded(size))
        return data[:size]

    def _exactly(self, n):
        data = self._stream.read(n)
        while len(data) < n:
            more = self._stream.read(n - len(data))
            if not more:
                raise EOFError("unexpected end of data")
            data += more
        return data

    def _skip(self, n):
        while n > 0:
            data = self._stream.read(min(n, 1024**2))
            if not data:
                raise EOFError("unexpected end of data")
            n -= len(data)


def _padded(size):
    return (size + BLOCK - 1) // BLOCK * BLOCK


def _number(field):
    """A header's numeric field: octal digits, or GNU's base-256."""
    if field[0] == 0xFF:
        raise TarFormatError("a header's number is negative")
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarFormatError(f"a header's number is {text[:12]!r}") from None


def _check_sum(header):
    computed = sum(header[:148]) + 8 * 32 + sum(header[156:])
    try:
        good = _number(header[148:156]) == computed
    except TarFormatError:
        good = False
    if not good:
        raise TarFormatError("a header's checksum is wrong (not a tar archive, or damaged)")


def _pax(data):
    """A pax header's records: "LENGTH key=value\\n" each."""
    records, at = {}, 0
    while at < len(data):
        space = data.find(b" ", at)
        if space < 0:
            break
        try:
            length = int(data[at:space])
        except ValueError:
            raise TarFormatError("a pax header is malformed") from None
        key, _, value = data[space + 1 : at + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        at += length
        if length <= 0:
            raise TarFormatError("a pax header is malformed")
    return records
