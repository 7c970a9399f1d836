"""Disk images as guestfix sees them: path, explicit format, Xen target.

The format is read from the image header by guestfix itself and always
passed explicitly to QEMU: letting QEMU probe a raw image is unsafe (a guest
could write a qcow2 header into its own disk and point it at host files).
"""

import fcntl
import json
import os
import re
import stat
import struct
from dataclasses import dataclass

from ..core.errors import DiskLockedError, InputError
from ..core.runner import run
from . import vhd

QCOW2_MAGIC = b"QFI\xfb"
# Formats guestfix recognises but does not take directly.
FOREIGN_MAGICS = {
    b"KDMV": "vmdk",
    b"vhdxfile": "vhdx",
    b"<<< Oracle VM VirtualBox Disk Image >>>": "vdi",
}
# Formats read (migrate converts them, inspect reads them) but never edited
# in place: VHD, as xapi exports it and file SRs keep it (`vpc` to QEMU).
READ_ONLY_FORMATS = ("vpc",)


@dataclass
class Disk:
    path: str
    format: str
    target: str = ""  # the name the guest knew it by on Xen (xvda)
    virtual_size: int = 0
    backing: str = ""
    parts: tuple = ()  # an assembled disk (assembly.py): the images it is made of
    remote: object = None  # a disk on the Xen host (remote.RemoteImage), read over ssh
    table: object = None  # an assembled disk's layout (tablewriter.DiskLayout)
    # what QEMU opens when the path alone would mislead it (a VHD xapi wrote:
    # its true size needs an option, given in a json: filename)
    qemu_name: str = ""

    @property
    def name(self):
        return os.path.basename(self.path)

    @property
    def qemu_path(self):
        return self.qemu_name or self.path

    @property
    def converted_only(self):
        """A format guestfix reads but never writes (a VHD): the fix works
        on an overlay over it, and migrate writes raw or qcow2."""
        return self.format in READ_ONLY_FORMATS


def detect_format(path):
    """'qcow2', 'vpc' (a dynamic VHD) or 'raw', from the header; other
    formats are refused."""
    with open(path, "rb") as f:
        return format_of_header(f.read(vhd.FOOTER), path)


def format_of_header(head, path):
    if head.startswith(QCOW2_MAGIC):
        return "qcow2"
    if head.startswith(vhd.COOKIE):
        return "vpc"
    for magic, fmt in FOREIGN_MAGICS.items():
        if head.startswith(magic) or (fmt == "vdi" and magic in head):
            hint = f"convert it first: qemu-img convert -f {fmt} -O raw {path} NEW.img"
            raise InputError(f"{path} is a {fmt} image", hint=hint)
    return "raw"


def checked_format(path, fmt, detected):
    """The format to use: the declared one, else the header's; a header
    of another format declared raw is refused (QEMU would hand the guest
    the header)."""
    fmt = fmt or detected
    if fmt not in ("raw", "qcow2", *READ_ONLY_FORMATS):
        raise InputError(f"{path}: unsupported format {fmt!r} (raw, qcow2 or vpc)")
    if fmt != detected and detected != "raw":
        raise InputError(
            f"{path} has a {detected} header but was declared {fmt}",
            hint="check the domain XML's driver type",
        )
    if fmt != detected:
        raise InputError(f"{path} was declared {fmt} but has no {fmt} header")
    return fmt


def open_disk(path, fmt=None, target="", writable=False, allow_backing=False):
    """Check a disk the user named and describe it; raise InputError if unusable."""
    if not os.path.lexists(path):
        raise InputError(f"{path}: no such disk image")
    try:
        st = os.stat(path)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a directory, not a disk image")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise InputError(f"{path} is not a regular file or block device")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise InputError(f"{path} is empty")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path} is not readable")
    if writable and not os.access(path, os.W_OK):
        raise InputError(f"{path} is read-only", hint="fix needs write access to the disk")
    if held_by_qemu(path):
        raise DiskLockedError(
            f"{path} is in use by a running virtual machine", hint="shut the guest down first"
        )
    fmt = checked_format(path, fmt, detect_format(path))
    if fmt == "raw" and stat.S_ISREG(st.st_mode):
        check_whole_sectors(path, st.st_size)
    if fmt == "qcow2" and stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            check_qcow2_tables(f.read(64), path, st.st_size)
    qemu_name = ""
    if fmt == "vpc":
        if writable:
            raise InputError(
                f"{path} is a VHD: fix edits raw and qcow2 disks in place",
                hint="migrate converts it (or: qemu-img convert -f vpc -O raw ...)",
            )
        qemu_name = vhd_qemu_name(os.path.abspath(path))
    # a json: filename names its driver itself
    info = image_info(qemu_name, None) if qemu_name else image_info(path, fmt)
    backing = info.get("full-backing-filename") or info.get("backing-filename") or ""
    if backing and not allow_backing:
        raise InputError(
            f"{path} is a qcow2 image with a backing file ({backing})",
            hint="flatten it with qemu-img convert, or pass --allow-backing",
        )
    return Disk(
        path=os.path.abspath(path),
        format=fmt,
        target=target,
        virtual_size=int(info.get("virtual-size", 0)),
        backing=backing,
        qemu_name=qemu_name,
    )


def vhd_qemu_name(path):
    """What QEMU opens for the VHD at `path`: the path itself, or, when
    QEMU would size it short by its geometry (xapi's), a json: filename
    with force_size_calc=current_size. A differencing VHD is refused."""
    with open(path, "rb") as f:
        footer = vhd.read_footer(f.read(vhd.FOOTER))
    if footer is None:
        raise InputError(f"{path}: no VHD footer at its start (only dynamic VHDs are read)")
    if footer.disk_type == vhd.DIFFERENCING:
        raise InputError(
            f"{path} is a differencing VHD (it needs its parent)",
            hint="coalesce it on the Xen side first (or qemu-img convert its chain)",
        )
    if not footer.short_in_qemu:
        return ""
    spec = {
        "driver": "vpc",
        "force_size_calc": "current_size",
        "file": {"driver": "file", "filename": path},
    }
    return "json:" + json.dumps(spec, separators=(",", ":"))


SECTOR = 512


def check_whole_sectors(path, size):
    """A raw disk is whole 512-byte sectors; anything else was never a disk
    image, or was cut short."""
    if size and size % SECTOR:
        raise InputError(
            f"{path} is {size} bytes: no disk image (a disk is whole {SECTOR}-byte sectors)"
        )


def check_qcow2_tables(header, path, size):
    """A qcow2 cut short (a copy interrupted, a full disk) still has a valid
    header, and qemu-img info accepts it; QEMU fails only later, deep in
    libguestfs. Its L1 and refcount tables must lie inside the file."""
    if len(header) < 64:
        raise InputError(f"{path} is a truncated qcow2 image (no complete header)")
    (cluster_bits,) = struct.unpack(">I", header[20:24])
    l1_size, l1_offset, refcount_offset, refcount_clusters = struct.unpack(">IQQI", header[36:60])
    if not 9 <= cluster_bits <= 21:
        raise InputError(f"{path} is not a valid qcow2 image (cluster size 2^{cluster_bits})")
    ends = [l1_offset + l1_size * 8, refcount_offset + (refcount_clusters << cluster_bits)]
    if max(ends) > size:
        raise InputError(
            f"{path} is a truncated qcow2 image ({size} bytes, its tables reach byte {max(ends)})",
            hint="restore it from the source or a backup",
        )


# QEMU marks the permissions it holds on an image with OFD locks on single
# bytes: 100 + bit for a permission held (bit 1 = write), 200 + bit for one
# it will not share. A shared lock on byte 101 means a QEMU is writing.
QEMU_WRITE_PERM_BYTE = 101


def held_by_qemu(path):
    """True when a running QEMU has the image open for writing.

    `qemu-img info` does not notice a writer, so the lock byte is tested
    directly: an exclusive lock on it conflicts with QEMU's shared one. The
    file is opened read-write only to be allowed that lock; nothing is
    written."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False  # cannot test; QEMU itself will refuse later
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, QEMU_WRITE_PERM_BYTE)
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, QEMU_WRITE_PERM_BYTE)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


# How QEMU (qemu-img too) says another process holds an image: its locking
# code's one message ('Failed to get "write" lock', 'Failed to get shared
# "write" lock', then 'Is another process using the image [PATH]?'). Matched
# whole, never as a substring of a message that may hold a path with
# "block" or "lock" in it.
QEMU_LOCK_MESSAGE = re.compile(r'Failed to get (?:shared )?"[a-z-]+" lock')


def held_lock_message(text):
    """Whether `text` (QEMU's or libguestfs' error) is QEMU's image lock message."""
    return QEMU_LOCK_MESSAGE.search(text) is not None


def image_info(path, fmt):
    """qemu-img info without -U: it takes QEMU's shared lock, so an image a
    running VM holds for writing is refused here rather than corrupted later.
    `fmt` None: `path` is a json: filename, which names its driver itself."""
    fmt_args = ["-f", fmt] if fmt else []
    result = run(["qemu-img", "info", *fmt_args, "--output=json", path], check=False)
    if not result.ok:
        err = result.stderr
        if held_lock_message(err):
            raise DiskLockedError(
                f"{path} is in use by a running virtual machine", hint="shut the guest down first"
            )
        raise InputError(f"{path} is not a valid {fmt} image: {result.last_error_line()}")
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise InputError(f"{path}: qemu-img info gave no readable answer") from None


def create_overlay(base, overlay_path):
    """A qcow2 overlay whose backing is `base` with its format stated."""
    run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            base.format,
            "-b",
            base.qemu_path,
            overlay_path,
        ]
    )
    return Disk(
        path=overlay_path,
        format="qcow2",
        target=base.target,
        virtual_size=base.virtual_size,
        backing=base.path,
    )
