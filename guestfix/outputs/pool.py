"""-o libvirt -os POOL [-oc URI]: volumes in a storage pool, the domain
defined on the same connection; the one output that can start the guest
before its disks are copied (--start-early)."""

import os
import shutil
import xml.etree.ElementTree as ET

from ..core import uefi as host_uefi
from ..core.errors import GuestfixError, LibvirtError, UsageError
from ..core.runner import run
from ..domain import firmware as uefi
from ..domain.define import connect, define, libvirt_bindings
from .base import Output
from .earlystart import EarlyStartOutput, LiveCopy

# pools whose volumes are files (a disk read out of a stream is written
# sparse into its volume)
FILE_POOLS = ("dir", "fs", "netfs")


class LibvirtPool(Output, EarlyStartOutput):
    mode = "libvirt"
    description = "a pool"
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

    def prepare(self, name, disks, devmap, nics=(), firmware=None):
        super().prepare(name, disks, devmap)
        libvirt = libvirt_bindings()
        pool_name, uri = self.opts.output_storage, self.opts.output_uri
        self._connect()
        try:
            self.pool = self.conn.storagePoolLookupByName(pool_name)
            if not self.pool.isActive():
                raise LibvirtError(
                    f"storage pool {pool_name} is not active", hint=f"virsh pool-start {pool_name}"
                )
            self.pool.refresh(0)
        except libvirt.libvirtError:
            raise LibvirtError(f"no storage pool {pool_name} on {uri}") from None
        kind = ET.fromstring(self.pool.XMLDesc(0)).get("type")
        if self.streamed_bytes is not None and kind not in FILE_POOLS:
            # read straight into a volume, its zeros left as holes: a block
            # device's holes would show its old data
            raise UsageError(
                f"pool {pool_name} is a {kind} pool; -i {self.opts.input_mode} reads the "
                f"disks into the files of a {'/'.join(FILE_POOLS)} pool",
                hint="migrate into such a pool or a directory (-o local)",
            )
        try:
            self.conn.lookupByName(name)
            raise LibvirtError(
                f"a domain named {name} already exists on {uri}", hint="rename with -on NAME"
            )
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
        self.check_room(self.pool.info()[3], f"pool {pool_name}")
        for mac, kind, net in nics:
            self._check_connection(mac, kind, net)
        if firmware is not None and firmware.efi:
            self._check_uefi(firmware)

    def _check_uefi(self, firmware):
        """libvirt picks the host's OVMF for firmware='efi'; it must have one."""
        libvirt = libvirt_bindings()
        virt_type = self.opts.virt_type or "kvm"
        try:
            found = uefi.libvirt_has_uefi(self.conn, "x86_64", virt_type)
        except libvirt.libvirtError as e:
            raise LibvirtError(f"{self.opts.output_uri}: domain capabilities: {e}") from None
        if not found:
            raise LibvirtError(
                f"the guest boots through UEFI ({firmware.source}) and "
                f"{self.opts.output_uri} offers no UEFI firmware for {virt_type} guests",
                hint=host_uefi.HINT,
            )

    def _check_connection(self, mac, kind, name):
        """What a NIC connects to must be on the KVM host, or the domain
        would fail at its start, after the whole fix and copy."""
        libvirt = libvirt_bindings()
        uri, nic = self.opts.output_uri, f"NIC {mac}" if mac else "a NIC"
        if kind == "network":
            try:
                network = self.conn.networkLookupByName(name)
            except libvirt.libvirtError:
                raise LibvirtError(
                    f"{uri} has no network {name} ({nic})",
                    hint=f"map it with --network {name}:NETWORK or --bridge, or --mac "
                    f"{mac or 'MAC'}:network:NETWORK",
                ) from None
            if not network.isActive():
                raise LibvirtError(
                    f"network {name} on {uri} is not active ({nic})",
                    hint=f"virsh net-start {name}",
                )
            return
        interfaces = self._host_interfaces()
        if interfaces is not None and name not in interfaces:
            raise LibvirtError(
                f"{uri} has no bridge {name} ({nic})",
                hint=f"map it with --bridge {name}:BRIDGE or --network NETWORK, or --mac "
                f"{mac or 'MAC'}:bridge:BRIDGE",
            )

    def _host_interfaces(self):
        """The network interfaces of the KVM host, as its libvirt reports
        them (the udev backend lists bridges too); None when its libvirt
        has no interface driver to ask (then the start will tell)."""
        libvirt = libvirt_bindings()
        try:
            return {i.name() for i in self.conn.listAllInterfaces(0)}
        except libvirt.libvirtError:
            return None

    def _final_place(self, disk):
        path = self._new_volume(disk)
        self.premade.add(path)
        return path

    def copy_disk(self, overlay, disk, monitor):
        # a disk read straight into its volume is there already
        path = disk.path if disk.path in self._in_place else self._new_volume(disk)
        self._write_disk(overlay, disk, path, monitor, create=False)
        return self._entry(disk, path)

    def _new_volume(self, disk):
        fmt, name = self.format_for(disk), self.file_name(disk)
        vol = self._create_volume(name, fmt, disk.virtual_size)
        self._volumes.append(vol)
        path = vol.path()
        if not os.path.exists(path):
            raise GuestfixError(
                f"pool {self.opts.output_storage}: volume {name} has no "
                "local path (only directory-like pools are supported)"
            )
        return path

    # -- --start-early (earlystart/) ------------------------------------------------
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
        run(
            [
                "qemu-img",
                "rebase",
                "-u",
                "-f",
                "qcow2",
                "-F",
                disk.format,
                "-b",
                os.path.abspath(disk.path),
                early,
            ]
        )
        return early, self._entry(disk, path)

    def start(self):
        libvirt = libvirt_bindings()
        try:
            self._domain.create()
        except libvirt.libvirtError as e:
            raise LibvirtError(
                f"libvirt could not start {self.name}: {e.get_error_message()}"
            ) from None

    def keep(self):
        """The domain runs: from here on nothing of this run is undone."""
        self._files, self._volumes, self._domain = [], [], None

    def live_copy(self, state, monitor, boot=None, boot_deadline=0.0):
        return LiveCopy(state, self.conn, monitor, boot=boot, boot_deadline=boot_deadline).run()

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
            raise LibvirtError(
                f"pool {self.opts.output_storage}: cannot create volume {name}: "
                f"{e.get_error_message()}"
            ) from None

    def write_domain(self, xml_text):
        define(xml_text, self.opts.output_uri, replace=False)
        self._domain = self.conn.lookupByName(self.name)
        return f"{self.opts.output_uri} {self.name}"

    def undo(self):
        super().undo()
        for vol in self._volumes:
            try:
                vol.delete(0)
            except Exception:
                pass
        if self._domain is not None:
            try:
                self._domain.undefine()
            except Exception:
                pass
        self._volumes, self._domain = [], None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = self.pool = None
