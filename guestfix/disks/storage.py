"""Copying disk images: sparse-aware, checksummed in the same pass.

The guide's backup is `cp` then `md5sum` of source and copy: three full
reads. Here the source is read once (only its data extents: holes are found
with SEEK_DATA/SEEK_HOLE and never read), hashed while it is written, and
the copy is verified by reading back only its data extents; holes are
hashed as zeros without any I/O.

A disk read out of a stream (an export, a pool's VDI) is written into a
new image only (`open_new_image`), since its zeros are left as holes; a
failed write there is the destination's (`destination_errors`).
"""

import contextlib
import errno
import hashlib
import os
import stat

from ..core.errors import DestinationError, GuestfixError, InputError

CHUNK = 4 * 1024 * 1024
_ZEROS = bytes(CHUNK)


def extents(fd, size):
    """(offset, length, is_data) covering [0, size), from the file's holes."""
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # only a hole is left
                yield pos, size - pos, False
                return
            raise
        if data > pos:
            yield pos, data - pos, False
        hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
        yield data, hole - data, True
        pos = hole


def _hash_zeros(hashers, length):
    while length:
        n = min(length, CHUNK)
        view = _ZEROS[:n]
        for h in hashers:
            h.update(view)
        length -= n


def new_hashers(algorithms):
    return {name: hashlib.new(name) for name in algorithms}


def _data_blocks(f, hashers, progress, path):
    """Yield (offset, block) for the data extents of open file f. Every byte
    of the file, holes as zeros, goes through `hashers` on the way."""
    size = os.fstat(f.fileno()).st_size
    for offset, length, is_data in extents(f.fileno(), size):
        if not is_data:
            _hash_zeros(hashers, length)
            if progress:
                progress(length)
            continue
        f.seek(offset)
        pos, left = offset, length
        while left:
            block = f.read(min(left, CHUNK))
            if not block:
                raise GuestfixError(f"{path} shrank while it was read")
            for h in hashers:
                h.update(block)
            yield pos, block
            pos += len(block)
            left -= len(block)
            if progress:
                progress(len(block))


def copy_sparse(src, dst, algorithms=("sha256",), progress=None):
    """Copy src to dst (holes stay holes, zero blocks become holes) and
    return {algorithm: hexdigest} of the content. `progress(n)` is called
    with the bytes done."""
    hashers = new_hashers(algorithms)
    with open(src, "rb") as fin:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            for pos, block in _data_blocks(fin, list(hashers.values()), progress, src):
                if block.count(0) != len(block):  # all-zero blocks stay holes
                    os.pwrite(fd_out, block, pos)
            os.ftruncate(fd_out, os.fstat(fin.fileno()).st_size)
            os.fsync(fd_out)
        finally:
            os.close(fd_out)
    return {name: h.hexdigest() for name, h in hashers.items()}


def checksum(path, algorithms=("sha256",), progress=None):
    """Checksums of a file's content, reading only its data extents."""
    hashers = new_hashers(algorithms)
    with open(path, "rb") as f:
        for _ in _data_blocks(f, list(hashers.values()), progress, path):
            pass
    return {name: h.hexdigest() for name, h in hashers.items()}


def allocated(path):
    return os.stat(path).st_blocks * 512


def check_room(directory, needed, up_to=0):
    st = os.statvfs(directory)
    return room_for(st.f_bavail * st.f_frsize, directory, needed, up_to)


def room_for(free, where, needed, up_to=0):
    """Refuse a copy whose `needed` bytes do not fit in `free`. `up_to` is
    the most it may take where that is not known ahead (a Xen host's block
    devices: only their data is written, zero blocks stay holes); when
    that may not fit, the note to show is returned."""
    if free < needed:
        raise InputError(
            f"{where} has {free >> 20} MiB free but the copy needs {needed >> 20} MiB",
            hint="choose another destination",
        )
    if free < up_to:
        return (
            f"{where} has {free >> 20} MiB free and the copy may take up to {up_to >> 20} MiB "
            "(block devices on the Xen host, whose zero blocks stay holes); should it "
            "not fit, the copy stops and what it wrote is removed"
        )
    return None


def room_of(disk, copies=1):
    """(bytes a copy of `disk` takes for sure, the most it may take)."""
    remote = disk.remote
    if remote is None:
        size = allocated(disk.path) * copies
        return size, size
    size = remote.allocated * copies
    return (0 if remote.kind == "block" else size), size


# -- new images written by a reader (an export's stream, a pool's VDI) --------
@contextlib.contextmanager
def destination_errors(path):
    try:
        yield
    except OSError as e:
        raise DestinationError(f"{path}: cannot write the disk ({e.strerror or e})") from None


def open_new_image(path, created, premade=()):
    """A write descriptor on a new image (never one that was there: its
    old data would show through the holes), or on one of `premade`."""
    with destination_errors(path):
        if path in premade:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)  # a block device's holes would not read as zeros
                raise DestinationError(f"{path} is not a file")
            return fd
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        created.append(path)
        return fd
