"""A disk on the Xen host read whole, once, into a local file.

A sparse file comes as a pax archive whose sparse map leaves the holes
out (when the host has GNU tar), anything else as a plain stream; zero
blocks are not written, so the copy is sparse; the checksums asked for are
computed on the way, and what arrived must hash as what the host sent.
"""

import fcntl
import hashlib
import os
import subprocess
import threading
import time

from ...core import faults
from ...core.errors import RemoteHostError
from ...core.faults import fault_point
from ...disks.storage import destination_errors, new_hashers

CHUNK = 1 << 20
ZEROS = bytes(CHUNK)

# The whole disk, once: a sparse file as a pax archive whose sparse map
# leaves the holes out (when the host has GNU tar), anything else as is.
# The host's SHA-1 of what it sends follows on stderr, and guestfix
# compares it with its own of what arrived. For a plain stream, sha1sum
# reads the image alongside (in parallel: tee's small copies would halve
# the stream); for tar, it hashes the archive through tee (a second read
# of a sparse file would hash every hole). SHA-1, not SHA-256: this checks
# the transfer, and coreutils' sha256sum is half as fast, slower than the
# network. A failed read says so on stderr (a pipeline's status is its
# last command's).
STREAM = r"""
p=$1 how=$2
if [ "$how" = tar ]; then
  {
    { cd "$(dirname "$p")" && tar --format=posix --sparse --sparse-version=1.0 \
        -cf - -- "./$(basename "$p")"; } || echo "guestfix: tar could not read $p" >&2
  } | tee /dev/fd/3 | sha1sum | { read -r sum _; echo "guestfix-sha1 $sum" >&2; }
else
  { sum=$(sha1sum < "$p") && echo "guestfix-sha1 ${sum%% *}" >&2; } 3>&- &
  cat -- "$p" || echo "guestfix: cat could not read $p" >&2
  wait
fi 3>&1
"""


def stream_image(image, dest, monitor, algorithms=("sha256",), how=None, offset=None):
    """Copy the whole image into the local file `dest` (created or
    truncated), or with `offset` into the existing `dest` from there on
    (a partition image in an assembled disk): zero blocks stay holes,
    and the image's checksums in `algorithms` are computed on the way.
    What arrived must hash as what the host sent. Returns ({algorithm:
    hexdigest}, stats: the bytes read from the host and the time)."""
    if how is None:
        how = (
            "tar"
            if image.kind == "file" and image.allocated < image.size and image.host.has_gnu_tar()
            else "cat"
        )
    started = time.monotonic()
    proc = subprocess.Popen(
        image.host.command(STREAM, image.path, how),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # read straight from the pipe: no copy through a buffer
    )
    _widen_pipe(proc.stdout)
    stderr = _Background(proc.stderr.read)
    hashers = new_hashers(algorithms)
    wire = _CountingReader(proc.stdout, hashlib.sha1())
    flags = os.O_WRONLY | os.O_NOFOLLOW | (os.O_CREAT | os.O_TRUNC if offset is None else 0)
    fd = os.open(dest, flags, 0o600)
    try:
        # a write that fails (no room left) is the destination's fault
        with destination_errors(dest):
            with monitor.transfer(
                f"reading {os.path.basename(image.path)} from {image.host}", image.size
            ) as advance:
                sink = _SparseSink(fd, hashers, advance, base=offset or 0)
                fault_point(faults.STREAMING)
                if how == "tar":
                    _untar_sparse(wire, sink, image.size)
                else:
                    sink.data(wire, 0, image.size)
                wire.drain()  # tar's end-of-archive blocks
            if offset is None:
                os.ftruncate(fd, image.size)
            os.fsync(fd)
        if proc.wait() != 0:
            raise _ShortStream()
    except BaseException as e:
        proc.kill()
        proc.wait()
        if isinstance(e, _ShortStream):
            raise _stream_error(image, proc, stderr.result(), wire.count) from None
        raise
    finally:
        os.close(fd)
    sent = _sent_sum(stderr.result())
    if sent is None:
        raise _stream_error(image, proc, stderr.result(), wire.count)
    if sent != wire.hasher.hexdigest():
        raise RemoteHostError(
            f"{image.url}: what arrived does not hash as what the host sent (sha1)"
        )
    seconds = time.monotonic() - started
    stats = {
        # the host's hash of the image itself when it was sent as it is
        "sha1": sent if how != "tar" else None,
        "bytes_read": wire.count,
        "seconds": round(seconds, 2),
        "mb_per_s": round(wire.count / seconds / 1e6, 1) if seconds else None,
        "sent_as": "sparse tar" if how == "tar" else "stream",
    }
    return {name: hashers[name].hexdigest() for name in algorithms}, stats


def _stream_error(image, proc, stderr, received):
    where = f"while reading {image.path} ({received} bytes received)"
    if proc.returncode == 255 or proc.returncode < 0:
        return RemoteHostError(f"{image.host}: the connection was lost {where}")
    lines = [
        line
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("guestfix-sha1 ")
    ]
    return RemoteHostError(
        f"{image.host}: reading {image.path} failed: "
        f"{lines[-1] if lines else f'exit {proc.returncode}'}"
    )


def _sent_sum(stderr):
    """The host's SHA-1 of what it sent (a STREAM stderr line)."""
    for line in reversed(stderr.decode("utf-8", "replace").splitlines()):
        if line.startswith("guestfix-sha1 "):
            return line.split()[1]
    return None


class _ShortStream(Exception):
    """The stream ended before the disk did."""


class _Background:
    """A call run on a thread; `result()` waits and re-raises."""

    def __init__(self, fn):
        self._value = self._error = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn):
        try:
            self._value = fn()
        except BaseException as e:
            self._error = e

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _widen_pipe(f):
    """ssh's pipe to us made as large as the kernel allows a user (1 MiB by
    default) from its 64 KiB: a 1 MiB read is then one system call and one
    wake-up instead of sixteen."""
    try:
        fcntl.fcntl(f.fileno(), fcntl.F_SETPIPE_SZ, CHUNK)
    except OSError:
        pass  # a smaller pipe is only slower


class _CountingReader:
    """Reads exactly what is asked of a stream (an unbuffered pipe),
    counting (and, given a hasher, hashing) every byte."""

    def __init__(self, f, hasher=None):
        self.f, self.count, self.hasher = f, 0, hasher

    def read(self, n):
        """Exactly n bytes, or _ShortStream."""
        data = self.f.read(n)
        if len(data) < n:  # a pipe gives what it holds; the rest follows
            parts, left = [data], n - len(data)
            while left:
                chunk = self.f.read(left)
                if not chunk:
                    raise _ShortStream()
                parts.append(chunk)
                left -= len(chunk)
            data = b"".join(parts)
        self.count += n
        if self.hasher:
            self.hasher.update(data)
        return data

    def drain(self):
        while True:
            chunk = self.f.read(CHUNK)
            if not chunk:
                return
            self.count += len(chunk)
            if self.hasher:
                self.hasher.update(chunk)


class _SparseSink:
    """Writes ranges of a disk into fd: all-zero blocks are left as holes,
    every byte (holes as zeros) goes through the hashers."""

    def __init__(self, fd, hashers, advance, base=0):
        self.fd, self.hashers, self.advance = fd, list(hashers.values()), advance
        self.base = base  # where the image starts in the file

    def data(self, reader, offset, length):
        while length:
            block = reader.read(min(length, CHUNK))
            for h in self.hashers:
                h.update(block)
            # compared with zeros (memcmp, stops at the first data byte),
            # not counted: count(0) ran at 1 GB/s, slower than the wire
            if block != (ZEROS if len(block) == CHUNK else bytes(len(block))):
                os.pwrite(self.fd, block, self.base + offset)
            offset += len(block)
            length -= len(block)
            self.advance(len(block))

    def hole(self, length):
        zeros = bytes(min(length, CHUNK))
        while length:
            n = min(length, CHUNK)
            for h in self.hashers:
                h.update(zeros[:n])
            length -= n
            self.advance(n)


# -- the pax archive GNU tar writes for one sparse file --------------------------------
# Only what `tar --format=posix --sparse --sparse-version=1.0` produces for
# one file is read: an extended header ('x') of "LEN KEY=VALUE\n" records,
# the file's header, then the sparse map as decimal lines (count, then
# offset/size pairs) padded to 512 bytes, then the data segments back to
# back. A file tar did not find sparse comes as a plain member.
BLOCK = 512
# more segments than this in one sparse map is no disk image tar made
MAX_SEGMENTS = 1 << 20


class _Malformed(Exception):
    """Something in the archive is not what tar writes."""


def _padded(n):
    return -(-n // BLOCK) * BLOCK


def _octal(field_bytes):
    text = field_bytes.rstrip(b"\0 ").decode("ascii") or "0"
    return int(text, 8)


def _pax_records(data):
    records, pos = {}, 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        if length <= space - pos or pos + length > len(data):
            raise _Malformed("a pax record's length")
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


def _untar_sparse(reader, sink, size):
    """The one file of the host's archive into `sink`, its `size` bytes and
    no more: an archive that says otherwise (a segment past the end, going
    backwards, a record that does not parse) is refused as the host's."""
    try:
        _untar(reader, sink, size)
    except (_Malformed, ValueError, IndexError, UnicodeDecodeError) as e:
        raise RemoteHostError(f"the host's tar sent a malformed archive ({e})") from None


def _untar(reader, sink, size):
    records = {}
    while True:
        header = reader.read(BLOCK)
        if header == bytes(BLOCK):
            raise RemoteHostError("the host's tar sent no file")
        kind, stored = header[156:157], _octal(header[124:136])
        if kind in (b"x", b"g"):
            if stored > 1 << 20:
                raise _Malformed("an extended header of over 1 MiB")
            records.update(_pax_records(reader.read(_padded(stored))[:stored]))
            continue
        if kind not in (b"0", b"\0"):
            raise RemoteHostError(f"the host's tar sent an entry of type {kind!r}")
        break
    stored = int(records.get("size", stored))
    if records.get("GNU.sparse.major") != "1":
        if not 0 <= stored <= size:
            raise _Malformed(f"{stored} bytes for a disk of {size}")
        sink.data(reader, 0, stored)
        done = stored
    else:
        numbers, text = [], b""
        while True:
            text += reader.read(BLOCK)
            numbers = text.split(b"\n")[:-1]
            if numbers and not 0 <= int(numbers[0]) <= MAX_SEGMENTS:
                raise _Malformed(f"a sparse map of {int(numbers[0])} segments")
            if numbers and len(numbers) >= 1 + 2 * int(numbers[0]):
                break
        count = int(numbers[0])
        segments = [(int(numbers[1 + 2 * i]), int(numbers[2 + 2 * i])) for i in range(count)]
        consumed, done = len(text), 0
        for offset, length in segments:
            if offset < done or length < 0 or offset + length > size:
                raise _Malformed(f"a segment of {length} bytes at {offset} (disk: {size})")
            if offset > done:
                sink.hole(offset - done)
            sink.data(reader, offset, length)
            consumed += length
            done = offset + length
        stored = consumed
    if done < size:
        sink.hole(size - done)
    if _padded(stored) > stored:
        reader.read(_padded(stored) - stored)
