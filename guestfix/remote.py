"""A Xen host reached over ssh: the guest's configuration and disks, read there.

Only the user's own `ssh` client runs here, so their keys, agent,
~/.ssh/config and known_hosts apply as for any ssh command; BatchMode
makes it fail rather than ask (no password ever goes on a command line).
On the host, nothing is installed or written: the commands are POSIX sh
and coreutils (cat, dd, head, od, stat, sha256sum), with util-linux's
blockdev (or /sys) for the size of a block device and GNU tar, where the
host has it, to send a sparse file without its holes.

Every remote command is one of the constant scripts below, run as
`sh -c SCRIPT sh ARG...` with each word quoted for the remote shell: a
path taken from the guest's configuration reaches the host only as an
argument, never as code.

How the data crosses the network once:
  * the fix reads only what it needs, range by range, through nbdkit
    (nbd_pieces_plugin.py runs READER on the host: one `dd` per range);
  * the copy streams each disk whole, once (`stream_to`), into the
    destination: holes of a file are not sent (tar --sparse), zero blocks
    are not written, and the SHA-256 is computed on the way and compared
    with the host's own `sha256sum` of the disk.
"""

import hashlib
import json
import os
import shlex
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from .diskimage import Disk, check_qcow2_tables, checked_format, format_of_header
from .errors import DiskLockedError, InputError, RemoteHostError, UsageError
from .faults import fault_point
from .storage import new_hashers

HEAD_BYTES = 65608          # assembly.HEADER_BYTES: enough for every magic guestfix reads
CHUNK = 1 << 20

# One line per path: KIND SIZE ALLOCATED HEAD, HEAD being the disk's first
# bytes in hex. A block device's size comes from blockdev, or from /sys by
# its device numbers (stat reports 0 bytes for it).
DESCRIBE = r"""
for p; do
  if [ ! -e "$p" ]; then echo missing 0 0 -; continue; fi
  if [ ! -r "$p" ]; then echo unreadable 0 0 -; continue; fi
  if [ -b "$p" ]; then
    kind=block
    size=$(blockdev --getsize64 "$p" 2>/dev/null) || size=$((512 * $(cat \
      "/sys/dev/block/$((0x$(stat -L -c %t "$p"))):$((0x$(stat -L -c %T "$p")))/size")))
    alloc=$size
  elif [ -f "$p" ]; then
    kind=file
    set -- $(stat -L -c '%s %b %B' "$p")
    size=$1 alloc=$(($2 * $3))
  else
    echo other 0 0 -; continue
  fi
  head=$(head -c HEAD_BYTES "$p" | od -An -v -tx1 | tr -d ' \n')
  echo "$kind" "$size" "$alloc" "${head:--}"
done
""".replace("HEAD_BYTES", str(HEAD_BYTES))

# Serves ranges: reads "OFFSET LENGTH" lines, answers each with exactly
# LENGTH bytes of $1. A failed read ends the shell, which the reader sees
# as the end of the stream.
READER = r"""
while read -r off len; do
  dd if="$1" iflag=skip_bytes,count_bytes,fullblock bs=1M skip="$off" count="$len" \
    2>/dev/null || exit 1
done
"""

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

# Exit 0 when the domain runs there (xl knows a domid for it), 1 when it
# does not, 2 when the host has no xl to ask.
RUNNING = r"""
command -v xl >/dev/null 2>&1 || exit 2
xl domid "$1" >/dev/null 2>&1 || exit 1
"""

HAS_GNU_TAR = r"""tar --version 2>/dev/null | head -n 1"""


@dataclass(frozen=True)
class SshHost:
    """Where the Xen host is: [USER@]HOST[:PORT], from -ic."""
    host: str
    user: str = ""
    port: int = 0
    keyfile: str = ""          # libvirt's ?keyfile= on xen+ssh URIs

    @classmethod
    def from_uri(cls, uri):
        """ssh://[USER@]HOST[:PORT] (-i xl) or a libvirt URI over ssh such as
        xen+ssh://[USER@]HOST[:PORT]/ (-i libvirt); None for other URIs (a
        libvirt connection on this machine)."""
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme != "ssh" and not parts.scheme.endswith("+ssh"):
            return None     # a libvirt connection without ssh: the disks are here
        try:
            port = parts.port or 0
        except ValueError:
            raise InputError(f"-ic {uri}: the port is not a number") from None
        host = parts.hostname or ""
        if not host or host.startswith("-"):
            raise InputError(f"-ic {uri}: no host name", hint="ssh://[USER@]HOST[:PORT]")
        if parts.scheme == "ssh" and parts.path not in ("", "/"):
            raise InputError(f"-ic {uri}: an ssh URI names the host only; the "
                             "configuration's path is the argument after it")
        query = urllib.parse.parse_qs(parts.query)
        return cls(host=host, user=urllib.parse.unquote(parts.username or ""), port=port,
                   keyfile=query.get("keyfile", [""])[0])

    def __str__(self):
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}" + (f":{self.port}" if self.port else "")

    def url(self, path):
        return f"ssh://{self}{path}"

    def ssh_argv(self):
        """The ssh command up to the host. BatchMode: fail instead of asking
        for a password or an unknown host key. The keepalives turn a dead
        connection into an error within a minute instead of a hang."""
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15",
                "-o", "ServerAliveCountMax=4", "-e", "none"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.user:
            argv += ["-l", self.user]
        if self.keyfile:
            argv += ["-i", self.keyfile]
        return argv + ["--", self.host]

    def command(self, script, *args):
        """The argv that runs `script` with `args` as $1... on the host."""
        remote = " ".join(shlex.quote(w) for w in ["sh", "-c", script, "sh", *map(str, args)])
        return self.ssh_argv() + [remote]

    def run(self, script, *args, what=""):
        """Run a script there; returns its stdout. ssh's own failures
        (exit 255) become a RemoteHostError naming the cause."""
        proc = subprocess.run(self.command(script, *args), capture_output=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode == 255:
            raise self.connection_error(proc.stderr, what)
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RemoteHostError(f"{self}: {what or 'a command'} failed: "
                                  f"{err[-1] if err else f'exit {proc.returncode}'}")
        return proc.stdout.decode("utf-8", "replace")

    def connection_error(self, stderr, what=""):
        """ssh's exit 255: say which of the usual causes it was."""
        text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
        lines = [l.strip() for l in text.splitlines() if l.strip() and not l.startswith("@@@")]
        during = f" while {what}" if what else ""
        if "IDENTIFICATION HAS CHANGED" in text or "Host key verification failed" in text:
            return RemoteHostError(
                f"{self}: the host key does not match known_hosts (or is not in it); "
                "nothing was read", hint="check the host's key, then update ~/.ssh/known_hosts")
        if "Permission denied" in text:
            return RemoteHostError(f"{self}: ssh could not log in{during} (no key or agent "
                                   "the host accepts; guestfix never asks for a password)")
        return RemoteHostError(f"{self}: the ssh connection failed{during}: "
                               f"{lines[-1] if lines else 'exit 255'}")

    # -- what is there ------------------------------------------------------------
    def read_file(self, path, what):
        if not path.startswith("/"):
            raise InputError(f"{path}: a path on {self} must be absolute")
        found = self.describe([path])[0]
        if found.kind != "file":
            raise InputError(f"{self.url(path)}: {found.problem or 'not a regular file'}")
        return self.run("exec cat -- \"$1\"", path, what=f"reading {what} {path}")

    def describe(self, paths):
        """RemoteImage for each path, in one round trip."""
        lines = self.run(DESCRIBE, *paths, what="looking at the disks").splitlines()
        try:
            images = []
            for path, line in zip(paths, lines, strict=True):
                kind, size, alloc, head = line.split()
                images.append(RemoteImage(self, path, kind, int(size), int(alloc),
                                          b"" if head == "-" else bytes.fromhex(head)))
            return images
        except ValueError:
            raise RemoteHostError(f"{self}: no complete answer about the disks") from None

    def refuse_running(self, name):
        """A guest still running on the host would change under the copy.
        Asked of the host's xl where it has one (its libvirt refuses a
        running domain by itself)."""
        proc = subprocess.run(self.command(RUNNING, name), capture_output=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode == 255:
            raise self.connection_error(proc.stderr, "asking xl about the guest")
        if proc.returncode == 0:
            raise DiskLockedError(f"{self}: the guest {name} is running there (xl domid "
                                  "knows it)", hint=f"shut it down first: xl shutdown -w {name}")

    def has_gnu_tar(self):
        return "GNU tar" in self.run(HAS_GNU_TAR, what="looking for tar")


def host_for(input_mode, input_uri):
    """The SshHost a source's disks are read through, or None when they are
    on this machine. -i xl takes ssh://; -i libvirt takes any libvirt URI,
    and an ssh transport one (xen+ssh://) means the disks are on that host."""
    if not input_uri:
        return None
    if input_mode == "xl":
        if urllib.parse.urlsplit(input_uri).scheme != "ssh":
            raise UsageError(f"-i xl -ic {input_uri}: use ssh://[USER@]HOST[:PORT]")
        return SshHost.from_uri(input_uri)
    if input_mode == "libvirt":
        if urllib.parse.urlsplit(input_uri).scheme == "ssh":
            raise UsageError(f"-i libvirt -ic {input_uri}: a libvirt URI is needed, "
                             "e.g. xen+ssh://[USER@]HOST[:PORT]/")
        return SshHost.from_uri(input_uri)
    raise UsageError(f"-ic applies only with -i libvirt or -i xl (this run: -i {input_mode})")


@dataclass
class RemoteImage:
    """A disk image or block device on the host, as DESCRIBE found it."""
    host: SshHost
    path: str
    kind: str                  # file | block | missing | unreadable | other
    size: int
    allocated: int
    head: bytes = b""          # the first HEAD_BYTES (fewer for a small file)
    stats: dict = field(default_factory=dict)   # filled by stream_to
    reads_log: str = ""        # where nbd_pieces_plugin notes what it served

    @property
    def url(self):
        return self.host.url(self.path)

    @property
    def problem(self):
        return {"missing": "no such file or device on the host",
                "unreadable": "not readable on the host",
                "other": "neither a file nor a block device"}.get(self.kind, "")

    def ranges_read(self):
        """What the fix (or inspect) read of this disk through nbdkit."""
        total = {"bytes_read": 0, "requests": 0}
        try:
            with open(self.reads_log) as f:
                for line in f:
                    entry = json.loads(line)
                    total["bytes_read"] += entry["bytes"]
                    total["requests"] += entry["requests"]
        except (OSError, ValueError):
            pass
        return total

    def reader_command(self):
        """For nbd_pieces_plugin: the ssh command that serves ranges."""
        return self.host.command(READER, self.path)

    # -- the one full read ------------------------------------------------------
    def stream_to(self, dest, monitor, algorithms=("sha256",), how=None, offset=None):
        """Copy the whole image into the local file `dest` (created or
        truncated), or with `offset` into the existing `dest` from there on
        (a partition image in an assembled disk): zero blocks stay holes,
        and the image's checksums in `algorithms` are computed on the way.
        What arrived must hash as what the host sent. Returns {algorithm:
        hexdigest}; `stats` gets the bytes read from the host and the time."""
        if how is None:
            how = "tar" if self.kind == "file" and self.allocated < self.size \
                and self.host.has_gnu_tar() else "cat"
        started = time.monotonic()
        proc = subprocess.Popen(self.host.command(STREAM, self.path, how),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        stderr = _Background(proc.stderr.read)
        hashers = new_hashers(algorithms)
        wire = _CountingReader(proc.stdout, hashlib.sha1())
        flags = os.O_WRONLY | os.O_NOFOLLOW | (os.O_CREAT | os.O_TRUNC if offset is None else 0)
        fd = os.open(dest, flags, 0o600)
        try:
            with monitor.transfer(f"reading {os.path.basename(self.path)} from {self.host}",
                                  self.size) as advance:
                sink = _SparseSink(fd, hashers, advance, base=offset or 0)
                fault_point("remote:streaming")
                if how == "tar":
                    _untar_sparse(wire, sink, self.size)
                else:
                    sink.data(wire, 0, self.size)
                wire.drain()       # tar's end-of-archive blocks
            if offset is None:
                os.ftruncate(fd, self.size)
            os.fsync(fd)
            if proc.wait() != 0:
                raise _ShortStream()
        except BaseException as e:
            proc.kill()
            proc.wait()
            if isinstance(e, _ShortStream):
                raise self._stream_error(proc, stderr.result(), wire.count) from None
            raise
        finally:
            os.close(fd)
        sent = _sent_sum(stderr.result())
        if sent is None:
            raise self._stream_error(proc, stderr.result(), wire.count)
        if sent != wire.hasher.hexdigest():
            raise RemoteHostError(f"{self.url}: what arrived does not hash as what the host "
                                  "sent (sha1)")
        seconds = time.monotonic() - started
        self.stats = {"bytes_read": wire.count, "seconds": round(seconds, 2),
                      "mb_per_s": round(wire.count / seconds / 1e6, 1) if seconds else None,
                      "sent_as": "sparse tar" if how == "tar" else "stream"}
        return {name: hashers[name].hexdigest() for name in algorithms}

    def _stream_error(self, proc, stderr, received):
        where = f"while reading {self.path} ({received} bytes received)"
        if proc.returncode == 255 or proc.returncode < 0:
            return RemoteHostError(f"{self.host}: the connection was lost {where}")
        lines = [l for l in stderr.decode("utf-8", "replace").splitlines()
                 if l.strip() and not l.startswith("guestfix-sha1 ")]
        return RemoteHostError(f"{self.host}: reading {self.path} failed: "
                               f"{lines[-1] if lines else f'exit {proc.returncode}'}")


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
        except BaseException as e:      # noqa: BLE001 - handed to result()
            self._error = e

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class _CountingReader:
    """Reads exactly what is asked of a stream, counting (and, given a
    hasher, hashing) every byte."""

    def __init__(self, f, hasher=None):
        self.f, self.count, self.hasher = f, 0, hasher

    def read(self, n):
        """Exactly n bytes, or _ShortStream."""
        parts, left = [], n
        while left:
            chunk = self.f.read(min(left, CHUNK))
            if not chunk:
                raise _ShortStream()
            parts.append(chunk)
            left -= len(chunk)
        self.count += n
        data = b"".join(parts)
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
        self.base = base           # where the image starts in the file

    def data(self, reader, offset, length):
        while length:
            block = reader.read(min(length, CHUNK))
            for h in self.hashers:
                h.update(block)
            if block.count(0) != len(block):
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
        key, _, value = data[space + 1:pos + length - 1].partition(b"=")
        records[key.decode()] = value.decode("utf-8", "replace")
        pos += length
    return records


def _untar_sparse(reader, sink, size):
    records = {}
    while True:
        header = reader.read(BLOCK)
        if header == bytes(BLOCK):
            raise RemoteHostError("the host's tar sent no file")
        kind, stored = header[156:157], _octal(header[124:136])
        if kind in (b"x", b"g"):
            records.update(_pax_records(reader.read(_padded(stored))[:stored]))
            continue
        if kind not in (b"0", b"\0"):
            raise RemoteHostError(f"the host's tar sent an entry of type {kind!r}")
        break
    stored = int(records.get("size", stored))
    if records.get("GNU.sparse.major") != "1":
        sink.data(reader, 0, stored)
        done = stored
    else:
        numbers, text = [], b""
        while True:
            text += reader.read(BLOCK)
            numbers = text.split(b"\n")[:-1]
            if numbers and len(numbers) >= 1 + 2 * int(numbers[0]):
                break
        count = int(numbers[0])
        segments = [(int(numbers[1 + 2 * i]), int(numbers[2 + 2 * i])) for i in range(count)]
        consumed, done = len(text), 0
        for offset, length in segments:
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


# -- the guest's disks on the host -----------------------------------------------------
def open_disks(host, entries):
    """Disk objects for (path, format or None, Xen target) entries on the
    host, checked as open_disk checks local ones: present, readable, not
    empty, a format guestfix takes. One round trip for all of them."""
    paths = [path for path, _fmt, _target in entries]
    if len(set(paths)) != len(paths):
        twice = next(p for p in paths if paths.count(p) > 1)
        raise InputError(f"{host.url(twice)} is given twice")
    disks = []
    for image, (path, fmt, target) in zip(host.describe(paths), entries):
        if image.problem:
            raise InputError(f"{image.url} ({target}): {image.problem}")
        if image.size == 0:
            raise InputError(f"{image.url} ({target}) is empty")
        fmt = checked_format(image.url, fmt, format_of_header(image.head[:64], image.url))
        size = image.size
        if fmt == "qcow2":
            check_qcow2_tables(image.head[:64], image.url, image.size)
            if int.from_bytes(image.head[8:16], "big"):
                raise InputError(f"{image.url} is a qcow2 image with a backing file",
                                 hint="flatten it on the host (qemu-img convert) first")
            size = int.from_bytes(image.head[24:32], "big")
        disks.append(Disk(path=image.url, format=fmt, target=target, virtual_size=size,
                          remote=image))
    return disks
