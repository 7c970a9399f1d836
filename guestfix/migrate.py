"""`guestfix migrate`: the whole job, never touching the originals.

    source -> [backup] -> fix on overlays over the originals -> confirm
           -> copy overlay+original to the destination (-of/-oa)
           -> xml -> write it (-o local) or define it (-o libvirt)
           -> [boot-check]

The fix runs before anything is written: the originals are only ever
backing files, and the destination receives the fixed guest in one
`qemu-img convert` per disk. Everything this run creates at the
destination is recorded and removed again if a stage fails.
"""

import contextlib
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from . import backup as backup_mod
from . import bootcheck, fixer
from .devnames import DeviceMap
from .diskimage import Disk, open_disk
from .domain import convert
from .domain.networks import NetworkMap
from .errors import GuestfixError, InputError, LibvirtError, ToolError
from .storage import check_room


@dataclass
class MigrateOptions:
    input_mode: str = "libvirtxml"
    input_uri: str = ""
    output_mode: str = "local"           # local | libvirt
    output_storage: str = ""             # -os: directory or pool name
    output_uri: str = "qemu:///system"   # -oc
    new_name: str = ""                   # -on
    output_format: str = ""              # -of: raw | qcow2 (default: the source's)
    allocation: str = "sparse"           # -oa: sparse | preallocated
    network_map: NetworkMap = field(default_factory=NetworkMap)
    backup_dir: str = ""
    boot_check: bool = False
    boot_timeout: int = 600
    tcg: bool = False
    virt_type: str = "kvm"
    emulator: str = ""
    allow_backing: bool = False
    packages: object = None              # PackageSource for a missing kernel/boot loader


@dataclass
class MigrateReport:
    source: str
    name: str = ""
    output: str = ""
    disks: list = field(default_factory=list)
    domain_xml: str = ""
    defined: bool = False
    stages: list = field(default_factory=list)
    fix: object = None
    boot: object = None

    def as_dict(self):
        return {"source": self.source, "name": self.name, "output": self.output,
                "disks": self.disks, "domain_xml": self.domain_xml, "defined": self.defined,
                "stages": self.stages,
                "changes": [c.as_dict() for c in self.fix.changes] if self.fix else [],
                "notes": self.fix.notes if self.fix else [],
                "boot_check": self.boot.as_dict() if self.boot else None}


class Created:
    """What this run made at the destination, to undo on failure."""

    def __init__(self):
        self.files, self.volumes, self.domain = [], [], None

    def undo(self):
        for path in self.files:
            try:
                os.unlink(path)
            except OSError:
                pass
        for vol in self.volumes:
            try:
                vol.delete(0)
            except Exception:      # noqa: BLE001 - best effort clean-up
                pass
        if self.domain is not None:
            try:
                self.domain.undefine()
            except Exception:      # noqa: BLE001
                pass


def migrate(source, opts, monitor, confirm=None):
    report = MigrateReport(source=source, output=opts.output_mode)
    created = Created()
    try:
        return _migrate(source, opts, monitor, confirm, report, created)
    except BaseException as e:
        created.undo()
        if isinstance(e, GuestfixError) and report.stages:
            stage = report.stages[-1]["name"]
            raise e.__class__(f"migrate failed at stage `{stage}`: {e}; the originals are "
                              "unchanged and partial outputs were removed", quiet=e.quiet) from None
        raise


@contextlib.contextmanager
def _stage(report, monitor, name, title):
    """Record a stage's timing; `fault_point` lets tests kill us here."""
    entry = {"name": name, "seconds": None, "ok": False}
    report.stages.append(entry)
    started = time.monotonic()
    try:
        fixer.fault_point(f"migrate:{name}")
        with monitor.stage(title):
            yield
        entry["ok"] = True
    finally:
        entry["seconds"] = round(time.monotonic() - started, 1)


def _migrate(source, opts, monitor, confirm, report, created):
    with _stage(report, monitor, "source", "reading the source guest"):
        domain = convert.load_source(source, opts.input_mode, opts.input_uri)
        source_xml = domain.to_string()
        ddisks = domain.guest_disks()
        disks = [open_disk(domain.resolve_source(d.source),
                           fmt=d.driver_type if d.driver_type in ("raw", "qcow2") else None,
                           target=d.target, allow_backing=opts.allow_backing) for d in ddisks]
        devmap = DeviceMap([d.target for d in disks])
        report.name = opts.new_name or domain.name
        dest = Destination.open(opts, report.name, disks, devmap)
        dest.preflight()
    if opts.backup_dir:
        with _stage(report, monitor, "backup", f"backing up to {opts.backup_dir}"):
            if opts.input_mode == "libvirtxml":
                # the user's XML file byte for byte, with the disks it names
                backup_mod.backup([source], opts.backup_dir, monitor, md5=True)
            else:
                backup_mod.backup([d.path for d in disks], opts.backup_dir, monitor, md5=True,
                                  domain_xml_text=source_xml,
                                  domain_xml_name=f"{domain.name}.xml")

    def write_outputs(overlays):
        for overlay, disk in zip(overlays, disks):
            report.disks.append(dest.copy_disk(overlay, disk, monitor, created))
        fixer.fault_point("migrate:copied")

    with _stage(report, monitor, "fix", "fixing the guest (overlays over the originals)"):
        report.fix = fixer.run_fix(disks, devmap, monitor, macs=domain.macs(), tcg=opts.tcg,
                                   confirm=confirm, output=write_outputs,
                                   packages=opts.packages)
    with _stage(report, monitor, "xml", "writing the KVM domain"):
        convert.convert(domain, convert.ConvertOptions(
            virt_type=opts.virt_type, emulator=opts.emulator,
            output_uri=opts.output_uri if opts.output_mode == "libvirt" else "",
            new_name=opts.new_name, network_map=opts.network_map,
            disk_overrides={d["xen_target"]: (d["path"], d["format"]) for d in report.disks}))
        report.domain_xml = dest.finish_domain(domain.to_string(), created)
        report.defined = opts.output_mode == "libvirt"
    if opts.boot_check:
        with _stage(report, monitor, "boot-check", "boot-check of the migrated guest"):
            targets = [Disk(path=d["path"], format=d["format"], target=d["target"])
                       for d in report.disks]
            report.boot = bootcheck.boot_check(targets, monitor, timeout=opts.boot_timeout,
                                               tcg=opts.tcg, macs=domain.macs())
    return report


class Destination:
    """-o local (a directory) or -o libvirt (a storage pool)."""

    def __init__(self, opts, name, disks, devmap):
        self.opts, self.name, self.disks, self.devmap = opts, name, disks, devmap
        self.conn = self.pool = None

    @classmethod
    def open(cls, opts, name, disks, devmap):
        if opts.output_mode not in ("local", "libvirt"):
            raise InputError(f"-o {opts.output_mode}: use local or libvirt")
        if not opts.output_storage:
            raise InputError("-os is needed: a directory (-o local) or a pool (-o libvirt)")
        if not re.match(r"^[\w.+-]+$", name):
            raise InputError(f"domain name {name!r} is not usable as a file name")
        return cls(opts, name, disks, devmap)

    def format_for(self, disk):
        return self.opts.output_format or (disk.format if disk else "")

    def file_name(self, disk):
        fmt = self.format_for(disk)
        return f"{self.name}-{self.devmap.rename(disk.target)}.{'qcow2' if fmt == 'qcow2' else 'img'}"

    def preflight(self):
        """Refuse before any work: existing outputs, no room, no pool."""
        if self.opts.output_mode == "local":
            d = self.opts.output_storage
            if not os.path.isdir(d):
                raise InputError(f"-os {d}: no such directory")
            for disk in self.disks:
                if os.path.lexists(os.path.join(d, self.file_name(disk))):
                    raise InputError(f"{os.path.join(d, self.file_name(disk))} already exists")
            if os.path.lexists(os.path.join(d, f"{self.name}.xml")):
                raise InputError(f"{os.path.join(d, self.name + '.xml')} already exists")
            check_room(d, self._needed())
            return
        from .domain.define import connect, libvirt_bindings
        libvirt = libvirt_bindings()
        self.conn = connect(self.opts.output_uri)
        try:
            self.pool = self.conn.storagePoolLookupByName(self.opts.output_storage)
            if not self.pool.isActive():
                raise LibvirtError(f"storage pool {self.opts.output_storage} is not active",
                                   hint=f"virsh pool-start {self.opts.output_storage}")
            self.pool.refresh(0)
        except libvirt.libvirtError:
            raise LibvirtError(f"no storage pool {self.opts.output_storage} on "
                               f"{self.opts.output_uri}") from None
        try:
            self.conn.lookupByName(self.name)
            raise LibvirtError(f"a domain named {self.name} already exists on "
                               f"{self.opts.output_uri}", hint="rename with -on NAME")
        except libvirt.libvirtError:
            pass
        for disk in self.disks:
            try:
                self.pool.storageVolLookupByName(self.file_name(disk))
                raise LibvirtError(f"pool {self.opts.output_storage} already has a volume "
                                   f"{self.file_name(disk)}")
            except libvirt.libvirtError:
                pass
        free = self.pool.info()[3]
        if free < self._needed():
            raise InputError(f"pool {self.opts.output_storage} has {free >> 20} MiB free but "
                             f"the guest needs {self._needed() >> 20} MiB")

    def _needed(self):
        if self.opts.allocation == "preallocated":
            return sum(d.virtual_size for d in self.disks)
        return sum(os.stat(d.path).st_blocks * 512 for d in self.disks)

    def copy_disk(self, overlay, disk, monitor, created):
        fmt = self.format_for(disk)
        name = self.file_name(disk)
        if self.opts.output_mode == "local":
            path = os.path.join(self.opts.output_storage, name)
            created.files.append(path)
            _convert(overlay.path, path, fmt, self.opts.allocation, monitor, disk.virtual_size,
                     create=True)
        else:
            vol = self._create_volume(name, fmt, disk.virtual_size)
            created.volumes.append(vol)
            path = vol.path()
            if not os.path.exists(path):
                raise GuestfixError(f"pool {self.opts.output_storage}: volume {name} has no "
                                    "local path (only directory-like pools are supported)")
            _convert(overlay.path, path, fmt, self.opts.allocation, monitor, disk.virtual_size,
                     create=False)
        return {"target": self.devmap.rename(disk.target), "source": disk.path, "path": path,
                "format": fmt, "size": disk.virtual_size, "xen_target": disk.target}

    def _create_volume(self, name, fmt, size):
        root = ET.Element("volume")
        ET.SubElement(root, "name").text = name
        ET.SubElement(root, "capacity", {"unit": "bytes"}).text = str(size)
        alloc = size if self.opts.allocation == "preallocated" and fmt == "raw" else 0
        ET.SubElement(root, "allocation", {"unit": "bytes"}).text = str(alloc)
        target = ET.SubElement(root, "target")
        ET.SubElement(target, "format", {"type": fmt})
        from .domain.define import libvirt_bindings
        libvirt = libvirt_bindings()
        try:
            return self.pool.createXML(ET.tostring(root, encoding="unicode"), 0)
        except libvirt.libvirtError as e:
            raise LibvirtError(f"pool {self.opts.output_storage}: cannot create volume {name}: "
                               f"{e.get_error_message()}") from None

    def finish_domain(self, xml_text, created):
        if self.opts.output_mode == "local":
            path = os.path.join(self.opts.output_storage, f"{self.name}.xml")
            created.files.append(path)
            convert.write_atomically(path, xml_text)
            return path
        from .domain.define import define
        define(xml_text, self.opts.output_uri, replace=False)
        created.domain = self.conn.lookupByName(self.name)
        return f"{self.opts.output_uri} {self.name}"


_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


def _convert(src, dst, fmt, allocation, monitor, size, create):
    """qemu-img convert with its progress shown; overlay (qcow2) -> dst."""
    argv = ["qemu-img", "convert", "-p", "-f", "qcow2", "-O", fmt]
    if allocation == "preallocated":
        argv += ["-o", "preallocation=falloc"] if create else []
    if not create:
        argv.append("-n")
    argv += [src, dst]
    with monitor.transfer(f"copying to {os.path.basename(dst)}", size) as advance:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            done, buf = 0.0, b""
            fixer.fault_point("migrate:copying")
            while True:
                chunk = proc.stdout.read1(256)
                if not chunk:
                    break
                buf = (buf + chunk)[-256:]
                found = _PROGRESS.findall(buf)
                if found:
                    pct = float(found[-1])
                    if pct > done:
                        advance(int((pct - done) / 100 * size))
                        done = pct
        except BaseException:
            proc.kill()      # stop writing before the partial output is removed
            proc.wait()
            raise
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        if proc.wait() != 0:
            raise ToolError(f"qemu-img convert to {dst} failed: "
                            f"{err.splitlines()[-1] if err else proc.returncode}")
