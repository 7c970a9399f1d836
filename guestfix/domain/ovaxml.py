"""A XenServer/XCP-ng export's ova.xml -> the guest's Xen domain.

ova.xml, the first member of an XVA (`xe vm-export`), is one XML-RPC value:
a struct with `version` (the exporting host: hostname, product_brand,
export_vsn ...) and `objects`, an array of {class, id, snapshot} structs,
one per VM, VBD, VDI, VIF, network and SR. `id` is the export's own
reference ("Ref:12"); records point at each other with these (a VBD's
`VDI`, a VIF's `network`), and a VDI's data follows in the tar under a
directory named by its id.

The result is a domain as libvirt's Xen driver would describe the VM (what
every other input gives), its disks naming `disk_path(vdi_id)`; the record
of each disk (size, the chunk directory) is kept in `XvaGuest.disks`.
Every value from the file is checked where it is read (core/values.py).
"""

import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..core import values
from ..core.devnames import is_partition_target
from ..core.errors import InputError
from . import firmware
from .model import Domain, parse_xml_text, sub

NULL_REF = "OpaqueRef:NULL"
MIB = 1024**2
# a disk Xen can have: its VBD's device name (xvda ... , hda for emulated)
DEVICE_PREFIXES = ("xvd", "hd", "sd")
MAX_USERDEVICE = 26  # xvda ... xvdz: the names a slot without a device gets


@dataclass
class XvaDisk:
    vdi: str  # the export's id of the VDI ("Ref:5"): its data directory
    target: str  # the VBD's device (xvda), from userdevice when it has none
    userdevice: int
    virtual_size: int  # bytes
    name: str = ""  # the VDI's name_label
    bootable: bool = False


@dataclass
class XvaNic:
    mac: str
    device: int  # the VIF's position (eth0 = 0)
    network: str = ""  # the network's name_label
    bridge: str = ""  # its bridge on the XenServer host (xenbr0)


@dataclass
class XvaGuest:
    domain: Domain
    disks: list = field(default_factory=list)  # XvaDisk, in device order
    nics: list = field(default_factory=list)
    left_out: list = field(default_factory=list)  # what was not carried, said to the user
    host: dict = field(default_factory=dict)  # the exporting host (version)


# -- XML-RPC values -----------------------------------------------------------
def _value(el, where):
    """An XML-RPC <value> as Python: str, int, bool, float, dict or list."""
    children = list(el)
    if not children:
        return el.text or ""  # a bare <value>text</value> is a string
    (typed,) = children[:1]
    tag = typed.tag
    if tag == "string":
        return typed.text or ""
    if tag in ("int", "i4", "i8"):
        try:
            return int((typed.text or "").strip())
        except ValueError:
            raise InputError(f"{where}: <{tag}> {typed.text!r} is not a number") from None
    if tag == "boolean":
        return (typed.text or "").strip() == "1"
    if tag == "double":
        try:
            return float((typed.text or "").strip())
        except ValueError:
            raise InputError(f"{where}: <double> {typed.text!r} is not a number") from None
    if tag == "struct":
        out = {}
        for member in typed.findall("member"):
            name, value = member.find("name"), member.find("value")
            if name is None or value is None:
                raise InputError(f"{where}: a struct member without a name or value")
            out[name.text or ""] = _value(value, where)
        return out
    if tag == "array":
        data = typed.find("data")
        return [_value(v, where) for v in (data.findall("value") if data is not None else [])]
    if tag == "dateTime.iso8601":
        return typed.text or ""
    if tag == "nil":
        return None
    raise InputError(f"{where}: an XML-RPC value of type <{tag}>, which ova.xml does not use")


def parse(text, where="ova.xml"):
    """ova.xml's value: {version: {...}, objects: [{class, id, snapshot}]}."""
    root = parse_xml_text(text, where)
    if root.tag != "value":
        raise InputError(f"{where}: not an XVA's ova.xml (its root is <{root.tag}>, not <value>)")
    export = _value(root, where)
    if not isinstance(export, dict) or not isinstance(export.get("objects"), list):
        raise InputError(f"{where}: no objects in the export")
    return export


# -- records -> domain ------------------------------------------------------------
class Records:
    """The export's objects by class and by id."""

    def __init__(self, objects, where):
        self.where = where
        self.by_id = {}
        self.by_class = {}
        for obj in objects:
            if not isinstance(obj, dict) or not isinstance(obj.get("snapshot"), dict):
                raise InputError(f"{where}: an object without a record")
            ref, cls = str(obj.get("id", "")), str(obj.get("class", ""))
            self.by_id[ref] = (cls, obj["snapshot"])
            self.by_class.setdefault(cls, []).append((ref, obj["snapshot"]))

    def get(self, ref, cls, what):
        found = self.by_id.get(ref)
        if found is None or found[0] != cls:
            raise InputError(
                f"{self.where}: {what} names {ref}, which is not a {cls} of the export"
            )
        return found[1]


def _int(record, key, where, default=None):
    raw = record.get(key, default)
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        raise InputError(f"{where}: {key} {raw!r} is not a number") from None


def _vm(records):
    vms = [
        (ref, r)
        for ref, r in records.by_class.get("VM", [])
        if not _true(r.get("is_control_domain")) and not _true(r.get("is_a_snapshot"))
    ]
    if len(vms) != 1:
        raise InputError(f"{records.where}: the export holds {len(vms)} VMs, not one")
    return vms[0]


def _true(value):
    return value is True or str(value).lower() in ("true", "1")


def is_hvm(vm):
    """HVM when the VM says so (domain_type, Xen 4.x xapi) or, in older
    exports, when it boots by HVM_boot_policy rather than PV_bootloader."""
    kind = str(vm.get("domain_type", "")).lower()
    if kind in ("hvm", "pv", "pv_in_pvh", "pvh"):
        return kind == "hvm"
    return bool(vm.get("HVM_boot_policy")) and not vm.get("PV_bootloader")


def xva_firmware(vm):
    """'efi' or 'bios' from HVM_boot_params' firmware (xapi: bios or uefi)."""
    params = vm.get("HVM_boot_params") or {}
    value = str(params.get("firmware", "") if isinstance(params, dict) else "").lower()
    return "efi" if value == "uefi" else "bios"


def guest_from_export(export, disk_path, where="ova.xml"):
    """The XvaGuest of a parsed ova.xml; disk_path(vm name, XvaDisk) is
    where each disk's data is (or will be) written."""
    records = Records(export["objects"], where)
    vm_ref, vm = _vm(records)
    if _true(vm.get("is_a_template")):
        raise InputError(f"{where}: the export is a template, not a VM")
    # what the guest's PV tools last reported (VM_guest_metrics' os_version)
    metrics = records.by_id.get(str(vm.get("guest_metrics", "")), ("", {}))
    os_version = metrics[1].get("os_version") if metrics[0] == "VM_guest_metrics" else {}
    if not isinstance(os_version, dict):
        os_version = {}
    os_name = " ".join(str(v) for v in os_version.values())
    platform = vm.get("platform") if isinstance(vm.get("platform"), dict) else {}
    if "windows" in os_name.lower() or str(platform.get("viridian", "")).lower() == "true":
        raise InputError(
            f"{where}: {vm.get('name_label', 'the VM')} is a Windows guest; guestfix converts "
            "Linux guests only (Windows needs its virtio drivers installed, which it does not do)"
        )
    root = ET.Element("domain", {"type": "xen"})
    name = values.name(str(vm.get("name_label", "")), f"{where}: name_label")
    sub(root, "name").text = name
    vm_uuid = str(vm.get("uuid", ""))
    sub(root, "uuid").text = (
        values.uuid(vm_uuid, f"{where}: the VM's uuid") if vm_uuid else str(uuidlib.uuid4())
    )
    memory = _int(vm, "memory_static_max", where) // MIB
    current = _int(vm, "memory_dynamic_max", where, vm.get("memory_static_max")) // MIB
    if memory <= 0:
        raise InputError(f"{where}: memory_static_max is not a size")
    sub(root, "memory", {"unit": "MiB"}).text = str(memory)
    sub(root, "currentMemory", {"unit": "MiB"}).text = str(min(current, memory) or memory)
    vcpus = _int(vm, "VCPUs_max", where, 1)
    if not 1 <= vcpus <= 4096:
        raise InputError(f"{where}: VCPUs_max {vcpus} is not a vCPU count")
    sub(root, "vcpu").text = str(vcpus)
    hvm = is_hvm(vm)
    if not hvm and vm.get("PV_bootloader"):
        sub(root, "bootloader").text = str(vm["PV_bootloader"])
    os_el = sub(root, "os")
    sub(os_el, "type", {"arch": "x86_64", "machine": "xenfv" if hvm else "xenpv"}).text = (
        "hvm" if hvm else "linux"
    )
    if hvm and xva_firmware(vm) == "efi":
        sub(os_el, "loader", {"type": "pflash", "readonly": "yes"}).text = firmware.XEN_OVMF
    if not hvm and vm.get("PV_args") and vm.get("PV_kernel"):
        sub(os_el, "cmdline").text = str(vm["PV_args"])
    devices = sub(root, "devices")
    guest = XvaGuest(domain=None, host=export.get("version") or {})
    for vbd_ref, vbd in sorted(
        ((ref, records.get(ref, "VBD", "the VM")) for ref in vm.get("VBDs") or []),
        key=lambda rv: _int(rv[1], "userdevice", where, 0),
    ):
        disk = _disk(records, vbd_ref, vbd, guest, where)
        if disk is None:
            continue
        for other in guest.disks:
            if disk.target == other.target:
                raise InputError(f"{where}: two disks are {disk.target}")
            if disk.vdi == other.vdi:
                raise InputError(f"{where}: VDI {disk.vdi} is attached twice")
        guest.disks.append(disk)
        el = sub(devices, "disk", {"type": "file", "device": "disk"})
        sub(el, "driver", {"name": "file", "type": "raw"})
        sub(el, "source", {"file": disk_path(name, disk)})
        sub(el, "target", {"dev": disk.target, "bus": "xen"})
    if not guest.disks:
        raise InputError(f"{where}: the VM has no disk in the export")
    for vif_ref in vm.get("VIFs") or []:
        guest.nics.append(_nic(records, vif_ref, where))
    for nic in sorted(guest.nics, key=lambda n: n.device):
        el = sub(devices, "interface", {"type": "bridge"})
        sub(el, "mac", {"address": nic.mac})
        sub(el, "source", {"bridge": nic.bridge or "xenbr0"})
    console = sub(devices, "console", {"type": "pty"})
    sub(console, "target", {"type": "xen", "port": "0"})
    domain = Domain(root, where)
    domain.source_text = ""
    guest.domain = domain
    return guest


def _disk(records, vbd_ref, vbd, guest, where):
    kind = str(vbd.get("type", "Disk"))
    userdevice = _int(vbd, "userdevice", f"{where}: VBD {vbd_ref}", 0)
    if not 0 <= userdevice < MAX_USERDEVICE:
        raise InputError(f"{where}: VBD {vbd_ref} userdevice {userdevice} is not a slot")
    vdi_ref = str(vbd.get("VDI", NULL_REF))
    if kind.lower() == "cd":
        guest.left_out.append(f"CD-ROM drive {userdevice} (its ISO stays on the Xen side)")
        return None
    if vdi_ref == NULL_REF:
        guest.left_out.append(f"empty disk slot {userdevice}")
        return None
    vdi = records.get(vdi_ref, "VDI", f"VBD {vbd_ref}")
    device = str(vbd.get("device", "") or "")
    target = device if device.startswith(DEVICE_PREFIXES) else "xvd" + chr(ord("a") + userdevice)
    values.target(target, f"{where}: VBD {vbd_ref} device")
    if is_partition_target(target):
        # xapi attaches whole disks; a partition image is xen-tools' way
        raise InputError(f"{where}: VBD {vbd_ref} device {target!r} names a partition")
    size = _int(vdi, "virtual_size", f"{where}: VDI {vdi_ref}")
    if size <= 0:
        raise InputError(f"{where}: VDI {vdi_ref} has no size")
    return XvaDisk(
        vdi=vdi_ref,
        target=target,
        userdevice=userdevice,
        virtual_size=size,
        name=str(vdi.get("name_label", "")),
        bootable=_true(vbd.get("bootable")),
    )


def _nic(records, vif_ref, where):
    vif = records.get(str(vif_ref), "VIF", "the VM")
    mac = values.mac(str(vif.get("MAC", "")), f"{where}: VIF {vif_ref} MAC")
    network = {}
    net_ref = str(vif.get("network", NULL_REF))
    if net_ref != NULL_REF and net_ref in records.by_id:
        network = records.get(net_ref, "network", f"VIF {vif_ref}")
    bridge = str(network.get("bridge", "") or "")
    if bridge:
        bridge = values.bridge(bridge, f"{where}: network {net_ref} bridge")
    return XvaNic(
        mac=mac,
        device=_int(vif, "device", f"{where}: VIF {vif_ref}", 0),
        network=str(network.get("name_label", "")),
        bridge=bridge,
    )
