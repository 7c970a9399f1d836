"""Where a migration puts the guest: its disks and its domain.

One class per output mode (-o), behind one interface:

    previous_migration(name)       guestfix's marker in a domain already
                                   there (domain/marker.py), or None
    prepare(name, disks, devmap)   refuse before any work: existing outputs,
                                   no room, no pool
    planned_path(disk)             where copy_disk would put it (--dry-run)
    copy_disk(overlay, disk, monitor) -> the new disk's entry in the report
    write_domain(xml_text) -> where the domain went
    undo()                         remove everything this run created
    close()                        release connections

`emulator_uri` is the libvirt connection whose emulator the domain should
name ("" for the host's). A new output is a new class here.
"""

import os
import re
import shutil
import xml.etree.ElementTree as ET

from ..disks import qemuimg
from ..domain import convert, marker
from ..domain.define import connect, define, libvirt_bindings
from ..domain.model import read_text_file
from ..core.errors import GuestfixError, InputError, LibvirtError, UsageError
from ..core.runner import run
from ..disks.storage import check_room


class Output:
    mode = ""
    defines = False          # the domain is defined in libvirt, not written to a file
    emulator_uri = ""

    def __init__(self, opts):
        self.opts = opts
        self.name = ""
        self.disks, self.devmap = [], None
        self._files = []     # created by this run, removed by undo()

    # -- naming ---------------------------------------------------------------
    def format_for(self, disk):
        return self.opts.output_format or disk.format

    def file_name(self, disk):
        fmt = self.format_for(disk)
        return f"{self.name}-{self.devmap.disk_name(disk.target)}." \
               f"{'qcow2' if fmt == 'qcow2' else 'img'}"

    def needed_bytes(self):
        if self.opts.allocation == "preallocated":
            return sum(d.virtual_size for d in self.disks)
        # an assembled disk (partition images) takes what its images hold;
        # a remote disk in another format passes through a staging copy
        return sum(_allocated(p) * (2 if p.remote and self.format_for(d) != p.format else 1)
                   for d in self.disks for p in d.parts or [d])

    def _entry(self, disk, path):
        source = " + ".join(p.path for p in disk.parts) if disk.parts else \
            (disk.remote.url if disk.remote else disk.path)
        return {"target": self.devmap.disk_name(disk.target), "source": source, "path": path,
                "format": self.format_for(disk), "size": disk.virtual_size,
                "xen_target": disk.target}

    def _write_disk(self, overlay, disk, path, monitor, create=True):
        """The fixed disk (overlay over disk) into `path`."""
        fmt, prealloc = self.format_for(disk), self.opts.allocation == "preallocated"
        from_host = [p for p in disk.parts or [disk] if p.remote is not None]
        if not from_host:
            qemuimg.convert(overlay.path, "qcow2", path, fmt, monitor, disk.virtual_size,
                            preallocate=prealloc, create=create)
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
            disk.remote.stream_to(base, monitor, algorithms=())   # checked against the host
        qemuimg.commit_into(overlay.path, base, base_format)
        if base != path:
            qemuimg.convert(base, base_format, path, fmt, monitor, disk.virtual_size,
                            preallocate=prealloc, create=create)
            os.unlink(base)
        elif prealloc and fmt == "raw":
            fd = os.open(path, os.O_WRONLY)
            try:
                os.posix_fallocate(fd, 0, disk.virtual_size)
            finally:
                os.close(fd)

    # -- the interface ----------------------------------------------------------
    def previous_migration(self, name):
        text = self.existing_domain(name)
        return marker.read(text) if text else None

    def existing_domain(self, name):
        raise NotImplementedError

    def planned_path(self, disk):
        raise NotImplementedError

    def prepare(self, name, disks, devmap):
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


class LocalDirectory(Output):
    """-o local -os DIR: disk images and NAME.xml in a directory."""

    mode = "local"

    @property
    def directory(self):
        return os.path.abspath(self.opts.output_storage)

    def prepare(self, name, disks, devmap):
        super().prepare(name, disks, devmap)
        d = self.directory
        if not os.path.isdir(d):
            raise InputError(f"-os {d}: no such directory")
        for path in [os.path.join(d, self.file_name(disk)) for disk in disks] + \
                [os.path.join(d, f"{name}.xml")]:
            if os.path.lexists(path):
                raise InputError(f"{path} already exists")
        check_room(d, self.needed_bytes())

    def existing_domain(self, name):
        path = os.path.join(self.directory, f"{name}.xml")
        return read_text_file(path, "domain XML") if os.path.isfile(path) else None

    def planned_path(self, disk):
        return os.path.join(self.directory, self.file_name(disk))

    def copy_disk(self, overlay, disk, monitor):
        path = self.planned_path(disk)
        self._files.append(path)
        self._write_disk(overlay, disk, path, monitor)
        return self._entry(disk, path)

    def write_domain(self, xml_text):
        path = os.path.join(self.directory, f"{self.name}.xml")
        self._files.append(path)
        convert.write_atomically(path, xml_text)
        return path


class LibvirtPool(Output):
    """-o libvirt -os POOL [-oc URI]: volumes in a storage pool, the domain
    defined on the same connection."""

    mode = "libvirt"
    defines = True

    def __init__(self, opts):
        super().__init__(opts)
        self.conn = self.pool = None
        self._volumes, self._domain = [], None

    @property
    def emulator_uri(self):
        return self.opts.output_uri

    def existing_domain(self, name):
        libvirt = libvirt_bindings()
        self._connect()
        try:
            return self.conn.lookupByName(name).XMLDesc(0)
        except libvirt.libvirtError:
            return None

    def _connect(self):
        if self.conn is None:
            self.conn = connect(self.opts.output_uri)

    def planned_path(self, disk):
        root = ET.fromstring(self.pool.XMLDesc(0))
        return os.path.join(root.findtext("target/path") or "", self.file_name(disk))

    def prepare(self, name, disks, devmap):
        super().prepare(name, disks, devmap)
        libvirt = libvirt_bindings()
        pool_name, uri = self.opts.output_storage, self.opts.output_uri
        self._connect()
        try:
            self.pool = self.conn.storagePoolLookupByName(pool_name)
            if not self.pool.isActive():
                raise LibvirtError(f"storage pool {pool_name} is not active",
                                   hint=f"virsh pool-start {pool_name}")
            self.pool.refresh(0)
        except libvirt.libvirtError:
            raise LibvirtError(f"no storage pool {pool_name} on {uri}") from None
        try:
            self.conn.lookupByName(name)
            raise LibvirtError(f"a domain named {name} already exists on {uri}",
                               hint="rename with -on NAME")
        except libvirt.libvirtError:
            pass
        names = [self.file_name(d) for d in disks]
        if self.opts.start_early:
            names += [self.early_overlay_name(d) for d in disks]
        for vol_name in names:
            try:
                self.pool.storageVolLookupByName(vol_name)
                raise LibvirtError(f"pool {pool_name} already has a volume {vol_name}")
            except libvirt.libvirtError:
                pass
        free = self.pool.info()[3]
        if free < self.needed_bytes():
            raise InputError(f"pool {pool_name} has {free >> 20} MiB free but "
                             f"the guest needs {self.needed_bytes() >> 20} MiB")

    def copy_disk(self, overlay, disk, monitor):
        path = self._new_volume(disk)
        self._write_disk(overlay, disk, path, monitor, create=False)
        return self._entry(disk, path)

    def _new_volume(self, disk):
        fmt, name = self.format_for(disk), self.file_name(disk)
        vol = self._create_volume(name, fmt, disk.virtual_size)
        self._volumes.append(vol)
        path = vol.path()
        if not os.path.exists(path):
            raise GuestfixError(f"pool {self.opts.output_storage}: volume {name} has no "
                                "local path (only directory-like pools are supported)")
        return path

    # -- --start-early (earlystart.py) ---------------------------------------------
    def early_overlay_name(self, disk):
        return f"{self.name}-{self.devmap.disk_name(disk.target)}.early.qcow2"

    def place_early(self, overlay, disk):
        """The empty volume, and the fix's overlay next to it for the guest
        to run on until the copy pivots: (overlay path, report entry)."""
        path = self._new_volume(disk)
        early = os.path.join(os.path.dirname(path), self.early_overlay_name(disk))
        self._files.append(early)
        shutil.copyfile(overlay.path, early)
        # the backing file named absolutely, as QEMU will open it from elsewhere
        run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-F", disk.format,
             "-b", os.path.abspath(disk.path), early])
        return early, self._entry(disk, path)

    def start(self):
        libvirt = libvirt_bindings()
        try:
            self._domain.create()
        except libvirt.libvirtError as e:
            raise LibvirtError(f"libvirt could not start {self.name}: "
                               f"{e.get_error_message()}") from None

    def keep(self):
        """The domain runs: from here on nothing of this run is undone."""
        self._files, self._volumes, self._domain = [], [], None

    def _create_volume(self, name, fmt, size):
        root = ET.Element("volume")
        ET.SubElement(root, "name").text = name
        ET.SubElement(root, "capacity", {"unit": "bytes"}).text = str(size)
        alloc = size if self.opts.allocation == "preallocated" and fmt == "raw" else 0
        ET.SubElement(root, "allocation", {"unit": "bytes"}).text = str(alloc)
        target = ET.SubElement(root, "target")
        ET.SubElement(target, "format", {"type": fmt})
        libvirt = libvirt_bindings()
        try:
            return self.pool.createXML(ET.tostring(root, encoding="unicode"), 0)
        except libvirt.libvirtError as e:
            raise LibvirtError(f"pool {self.opts.output_storage}: cannot create volume {name}: "
                               f"{e.get_error_message()}") from None

    def write_domain(self, xml_text):
        define(xml_text, self.opts.output_uri, replace=False)
        self._domain = self.conn.lookupByName(self.name)
        return f"{self.opts.output_uri} {self.name}"

    def undo(self):
        super().undo()
        for vol in self._volumes:
            try:
                vol.delete(0)
            except Exception:      # noqa: BLE001 - best effort clean-up
                pass
        if self._domain is not None:
            try:
                self._domain.undefine()
            except Exception:      # noqa: BLE001
                pass
        self._volumes, self._domain = [], None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = self.pool = None


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


def _allocated(disk):
    return disk.remote.allocated if disk.remote else os.stat(disk.path).st_blocks * 512


OUTPUTS = {cls.mode: cls for cls in (LocalDirectory, LibvirtPool)}


def output_for(opts):
    if opts.output_mode not in OUTPUTS:
        raise UsageError(f"-o {opts.output_mode}: use {' or '.join(OUTPUTS)}")
    if not opts.output_storage:
        raise UsageError("-os is needed: a directory (-o local) or a pool (-o libvirt)")
    return OUTPUTS[opts.output_mode](opts)
