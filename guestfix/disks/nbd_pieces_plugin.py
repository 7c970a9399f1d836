"""An nbdkit plugin (run by nbdkit's python plugin, never imported by
guestfix): one disk made of pieces, read-only.

    nbdkit python nbd_pieces_plugin.py layout=FILE.json

The layout file holds {"size": BYTES, "pieces": [PIECE, ...]}; what no
piece covers reads as zeros. A piece is {"offset", "length"} and one of:

  "path": a local file or block device, read from its start;
  "command": an ssh argv whose remote side answers each "OFFSET LENGTH"
      line with exactly LENGTH bytes (remote.READER), with "reads": a file
      to which each connection appends what it read of this piece (a JSON
      line) when it closes, for the report.

So one plugin serves both what guestfix assembles (a partition table
written by tablewriter.py, then partition images, local or on the Xen
host) and a plain disk on the Xen host (one "command" piece). Each NBD
connection opens its own files and, at its first read of a remote piece,
its own ssh process; requests on a connection are served one at a time.
Local files report their holes (extents), so a copy skips them.
"""

import builtins
import json
import os
import stat
import subprocess

import nbdkit

API_VERSION = 2

_layout = {}


def config(key, value):
    if key != "layout":
        raise RuntimeError(f"unknown parameter {key}")
    with builtins.open(value) as f:
        _layout.update(json.load(f))


def config_complete():
    if "size" not in _layout:
        raise RuntimeError("layout= is required")
    _layout["pieces"] = sorted(_layout.get("pieces", []), key=lambda p: p["offset"])


def thread_model():
    return nbdkit.THREAD_MODEL_SERIALIZE_REQUESTS


def open(readonly):
    handle = {"fds": {}, "procs": {}, "stats": {}}
    for i, piece in enumerate(_layout["pieces"]):
        if "path" in piece:
            fd = os.open(piece["path"], os.O_RDONLY)
            handle["fds"][i] = (fd, stat.S_ISREG(os.fstat(fd).st_mode))
    return handle


def get_size(h):
    return int(_layout["size"])


def can_write(h):
    return False


def can_extents(h):
    return True


def _overlapping(offset, count):
    """(index, piece, start within the piece, length) of each piece that
    holds bytes of [offset, offset + count), in disk order."""
    end = offset + count
    for i, piece in enumerate(_layout["pieces"]):
        start, stop = piece["offset"], piece["offset"] + piece["length"]
        if stop <= offset or start >= end:
            continue
        lo, hi = max(start, offset), min(stop, end)
        yield i, piece, lo - start, hi - lo


def pread(h, buf, offset, flags):
    view = memoryview(buf)
    view[:] = bytes(len(buf))  # gaps read as zeros
    for i, piece, within, length in _overlapping(offset, len(buf)):
        at = piece["offset"] + within - offset
        target = view[at : at + length]
        if "path" in piece:
            fd, _regular = h["fds"][i]
            got = 0
            while got < length:
                n = os.preadv(fd, [target[got:]], within + got)
                if n == 0:
                    break  # a file shorter than its piece: zeros
                got += n
        else:
            _remote_read(h, i, piece, target, within)


def _remote_read(h, i, piece, target, within):
    proc = h["procs"].get(i)
    if proc is None:
        proc = h["procs"][i] = subprocess.Popen(
            piece["command"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
    want = len(target)
    try:
        proc.stdin.write(f"{within} {want}\n".encode())
    except OSError:
        _lost(proc, within, want)
    got = 0
    while got < want:
        n = proc.stdout.readinto(target[got:])
        if not n:
            _lost(proc, within, want)
        got += n
    stats = h["stats"].setdefault(i, {"bytes": 0, "requests": 0})
    stats["bytes"] += want
    stats["requests"] += 1


def _lost(proc, offset, want):
    # guestfix reads this line from nbdkit's log to name the cause
    nbdkit.debug("remote reader ended")
    raise RuntimeError(
        f"guestfix-remote: the connection to the host was lost "
        f"(reading {want} bytes at {offset}, exit {proc.poll()})"
    )


def extents(h, count, offset, flags):
    """Data where a piece has data; holes of local files and the gaps
    between pieces as holes that read as zeros."""
    out, pos, end = [], offset, offset + count
    hole = nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO
    for i, piece, within, length in _overlapping(offset, count):
        start = piece["offset"] + within
        if start > pos:
            out.append((pos, start - pos, hole))
        fd, regular = h["fds"].get(i, (None, False))
        if regular:
            out.extend(
                (piece["offset"] + o, n, t) for o, n, t in _file_extents(fd, within, length, hole)
            )
        else:
            out.append((start, length, 0))
        pos = start + length
    if pos < end:
        out.append((pos, end - pos, hole))
    return out


def _file_extents(fd, offset, length, hole):
    """Data and holes of a regular file between offset and offset+length
    (past its end: a hole)."""
    out, pos, end = [], offset, offset + length
    while pos < end:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:  # ENXIO: no data from here on
            data = end
        data = min(data, end)
        if data > pos:
            out.append((pos, data - pos, hole))
        if data >= end:
            break
        try:
            gap = os.lseek(fd, data, os.SEEK_HOLE)
        except OSError:
            gap = end
        gap = min(gap, end)
        out.append((data, gap - data, 0))
        pos = gap
    return out


def close(h):
    for fd, _regular in h["fds"].values():
        os.close(fd)
    for i, stats in h["stats"].items():
        reads = _layout["pieces"][i].get("reads")
        if reads:
            with builtins.open(reads, "a") as f:
                f.write(json.dumps(stats) + "\n")
    for proc in h["procs"].values():
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
