"""What every output is: naming, room, the copy of a fixed disk, undo.

An output receives the fixed overlays and the converted domain; the
subclasses (local.py, pool.py) differ in where disks and domain go.
"""

import os
import re
from dataclasses import asdict, dataclass

from ..core.errors import InputError
from ..disks import qemuimg, storage
from ..domain import marker


@dataclass
class NewDisk:
    """A disk the output made (or, --dry-run, would make)."""

    target: str  # its name on KVM (vda)
    source: str  # what it was made from (an image, images, a host's URL)
    path: str
    format: str
    size: int
    xen_target: str  # its name on Xen (xvda)

    def as_dict(self):
        return asdict(self)


class Output:
    mode = ""
    description = ""  # what -os names, for messages
    defines = False  # the domain is defined in libvirt, not written to a file
    emulator_uri = ""

    def __init__(self, opts):
        self.opts = opts
        self.name = ""
        self.disks, self.devmap = [], None
        self._files = []  # created by this run, removed by undo()
        # disks that arrive in one stream (an XVA): the most they take, when
        # known (0: not known), set before prepare(); None: files to copy
        self.streamed_bytes = None
        self._received = {}  # Xen target -> what it was read from (receive_path)
        self._in_place = set()  # disks read straight into their final place
        # of those, the ones made empty here to be read into (pool volumes);
        # any other file to read into must not exist yet
        self.premade = set()
        self.notes = []  # for the user, once prepare() has looked

    # -- naming ---------------------------------------------------------------
    def format_for(self, disk):
        """-of, else the source's format; a format read but not written (a
        VHD) becomes raw."""
        if self.opts.output_format:
            return self.opts.output_format
        return "raw" if disk.converted_only else disk.format

    def file_name(self, disk):
        fmt = self.format_for(disk)
        return (
            f"{self.name}-{self.devmap.disk_name(disk.target)}."
            f"{'qcow2' if fmt == 'qcow2' else 'img'}"
        )

    def room_needed(self):
        """(bytes the copy needs for sure, the most it may take)."""
        if self.opts.allocation == "preallocated":
            total = sum(d.virtual_size for d in self.disks)
            return total, total
        if self.streamed_bytes is not None:
            # read raw: converted to another format from a staging copy
            staged = any(self.format_for(d) != "raw" for d in self.disks)
            total = self.streamed_bytes * (2 if staged else 1)
            return total, total
        # an assembled disk (partition images) takes what its images hold;
        # a remote disk in another format passes through a staging copy
        rooms = [
            storage.room_of(p, copies=2 if p.remote and self.format_for(d) != p.format else 1)
            for d in self.disks
            for p in d.parts or [d]
        ]
        return sum(r[0] for r in rooms), sum(r[1] for r in rooms)

    def check_room(self, free, where):
        note = storage.room_for(free, where, *self.room_needed())
        if note:
            self.notes.append(note)

    def _entry(self, disk, path):
        source = (
            " + ".join(p.path for p in disk.parts)
            if disk.parts
            else (disk.remote.url if disk.remote else disk.path)
        )
        if disk.target in self._received:
            source = self._received[disk.target]
        return NewDisk(
            target=self.devmap.disk_name(disk.target),
            source=source,
            path=path,
            format=self.format_for(disk),
            size=disk.virtual_size,
            xen_target=disk.target,
        )

    def receive_path(self, disk, what):
        """Where `disk` (raw, `what` at its source) is to be read to, once:
        its final place when it stays raw, else a staging file next to it
        that copy_disk converts from and removes."""
        if self.format_for(disk) == "raw":
            path = self._final_place(disk)
            self._in_place.add(path)
        else:
            path = f"{self.planned_path(disk)}.from-source"
            if os.path.lexists(path):
                # its holes would not read as zeros
                raise InputError(f"{path} is in the way (left by an earlier run?)")
            self._files.append(path)
        self._received[disk.target] = what
        return path

    def _final_place(self, disk):
        """A raw disk's final place, made ready to be read into (and
        registered for undo)."""
        path = self.planned_path(disk)
        self._files.append(path)
        return path

    def _write_disk(self, overlay, disk, path, monitor, create=True):
        """The fixed disk (overlay over disk) into `path`."""
        fmt, prealloc = self.format_for(disk), self.opts.allocation == "preallocated"
        from_host = [p for p in disk.parts or [disk] if p.remote is not None]
        if disk.path == path and path in self._in_place:
            # read straight into its place: the fix goes on top
            qemuimg.commit_into(overlay.path, path, "raw")
            if prealloc:
                _fallocate(path, disk.virtual_size)
            return
        if not from_host:
            qemuimg.convert(
                overlay.path,
                "qcow2",
                path,
                fmt,
                monitor,
                disk.virtual_size,
                preallocate=prealloc,
                create=create,
            )
            if disk.target in self._received:
                os.unlink(disk.path)  # a staging copy of a stream's disk, converted
            return
        # On the Xen host: its one full read lands in the new disk (each
        # partition image at its offset, after the table), and the fix's
        # clusters are written on top. Another format needs a staging copy
        # to convert from.
        base_format = "raw" if disk.parts else disk.format
        base = path if fmt == base_format else f"{path}.from-host"
        if base != path:
            self._files.append(base)
        if disk.table is not None:
            _assemble_from_host(disk.table, base, monitor)
        else:
            disk.remote.stream_to(base, monitor, algorithms=())  # checked against the host
        qemuimg.commit_into(overlay.path, base, base_format)
        if base != path:
            qemuimg.convert(
                base,
                base_format,
                path,
                fmt,
                monitor,
                disk.virtual_size,
                preallocate=prealloc,
                create=create,
            )
            os.unlink(base)
        elif prealloc and fmt == "raw":
            _fallocate(path, disk.virtual_size)

    # -- the interface ----------------------------------------------------------
    def previous_migration(self, name):
        text = self.existing_domain(name)
        return marker.read(text) if text else None

    def existing_domain(self, name):
        raise NotImplementedError

    def planned_path(self, disk):
        raise NotImplementedError

    def prepare(self, name, disks, devmap, nics=(), firmware=None):
        """Refuse before any work what would stop the migration later:
        outputs in the way, a NIC's bridge or network, or (`firmware`, from
        domain/firmware.py) UEFI firmware the KVM host lacks."""
        if not re.match(r"^[\w.+-]+$", name):
            raise InputError(f"domain name {name!r} is not usable as a file name")
        self.name, self.disks, self.devmap = name, disks, devmap

    def copy_disk(self, overlay, disk, monitor):
        raise NotImplementedError

    def write_domain(self, xml_text):
        raise NotImplementedError

    def undo(self):
        for path in self._files:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._files = []

    def close(self):
        pass


def _fallocate(path, size):
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)


def _assemble_from_host(table, dest, monitor):
    """An assembled disk whose partition images are on the Xen host, made
    in `dest` as the server presented it: the table guestfix wrote, then
    each image streamed once at its offset (checked against the host)."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.ftruncate(fd, table.size)
        os.pwrite(fd, table.head, 0)
        if table.tail:
            os.pwrite(fd, table.tail, table.size - len(table.tail))
    finally:
        os.close(fd)
    for slot in table.filled():
        slot.source.remote.stream_to(dest, monitor, algorithms=(), offset=slot.offset)
