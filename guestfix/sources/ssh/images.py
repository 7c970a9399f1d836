"""The guest's disks on the Xen host: described in one round trip,
checked as local disks are, read range by range (for the fix, through
nbdkit) and streamed once (stream.py)."""

import json
from dataclasses import dataclass, field

from ...core.errors import InputError
from ...disks.image import (
    Disk,
    check_qcow2_tables,
    check_whole_sectors,
    checked_format,
    format_of_header,
)
from .host import PROBLEMS, READER
from .stream import stream_image


@dataclass
class RemoteImage:
    """A disk image or block device on the host, as DESCRIBE found it."""

    host: object  # the SshHost
    path: str
    kind: str  # file | block | missing | unreadable | other
    size: int
    allocated: int
    mtime: int = None  # a file's, on the host (a block device has none that helps)
    head: bytes = b""  # the first HEAD_BYTES (fewer for a small file)
    stats: dict = field(default_factory=dict)  # filled by stream_to
    reads_log: str = ""  # where nbd_pieces_plugin notes what it served

    @property
    def url(self):
        return self.host.url(self.path)

    @property
    def problem(self):
        return PROBLEMS.get(self.kind, "")

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

    def fingerprint(self):
        """The host's SHA-1 of the whole image (read there, nothing sent):
        what tells a block device that changed from one that did not."""
        out = self.host.run('sha1sum < "$1"', self.path, what=f"hashing {self.path}")
        return out.split()[0] if out.split() else ""

    def reader_command(self):
        """For nbd_pieces_plugin: the ssh command that serves ranges."""
        return self.host.command(READER, self.path)

    # -- the one full read ------------------------------------------------------
    def stream_to(self, dest, monitor, algorithms=("sha256",), how=None, offset=None):
        """Copy the whole image into the local file `dest` (stream.py);
        returns {algorithm: hexdigest}, and `stats` gets the bytes read
        from the host and the time."""
        digests, self.stats = stream_image(self, dest, monitor, algorithms, how, offset)
        return digests


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
    images = [RemoteImage(host, path, *found) for path, found in zip(paths, host.describe(paths))]
    for image, (_path, fmt, target) in zip(images, entries):
        if image.problem:
            raise InputError(f"{image.url} ({target}): {image.problem}")
        if image.size == 0:
            raise InputError(f"{image.url} ({target}) is empty")
        fmt = checked_format(image.url, fmt, format_of_header(image.head[:512], image.url))
        if fmt not in ("raw", "qcow2"):
            raise InputError(
                f"{image.url} ({target}) is a {fmt} image; guestfix reads those on this machine",
                hint="copy it here first (guestfix backup -i ... keeps it as it is)",
            )
        if fmt == "raw":
            check_whole_sectors(image.url, image.size)
        size = image.size
        if fmt == "qcow2":
            check_qcow2_tables(image.head[:64], image.url, image.size)
            if int.from_bytes(image.head[8:16], "big"):
                raise InputError(
                    f"{image.url} is a qcow2 image with a backing file",
                    hint="flatten it on the host (qemu-img convert) first",
                )
            size = int.from_bytes(image.head[24:32], "big")
        disks.append(
            Disk(path=image.url, format=fmt, target=target, virtual_size=size, remote=image)
        )
    return disks
