"""A stand-in for `xe vm-export`: writes an XVA from disk images, following
xapi's published format (no xapi runs here). ova.xml is one XML-RPC value
with `version` and `objects` ({class, id, snapshot} per VM, VBD, VDI, VIF,
network, SR); each VDI follows as 1 MiB chunks `Ref:N/NNNNNNNN`, each with
its `.checksum` (hex SHA-1) or `.xxhash` (XXH64, 16 upper-case hex
digits), all-zero chunks left out except chunk 0 and, when
`last_zero_chunk`, the disk's last one (xapi writes both). As xapi: no
<?xml?> line, booleans typed, every other scalar a bare <value>, refs
numbered from a counter that does not start at 0.

Options exist to write the broken exports the tests refuse: a corrupted
chunk, a missing checksum, data for a VDI ova.xml lacks, a cut-off tar."""

import hashlib
import io
import tarfile
from xml.sax.saxutils import escape

CHUNK = 1024**2


def _value(v):
    if isinstance(v, bool):
        return f"<value><boolean>{int(v)}</boolean></value>"
    if isinstance(v, dict):
        members = "".join(
            f"<member><name>{escape(k)}</name>{_value(x)}</member>" for k, x in v.items()
        )
        return f"<value><struct>{members}</struct></value>"
    if isinstance(v, list):
        return f"<value><array><data>{''.join(_value(x) for x in v)}</data></array></value>"
    return f"<value>{escape(str(v))}</value>"


def ova_xml(vm, disks, nics, version=None):
    """ova.xml for one VM. disks: [{path?, size, device, userdevice, type}];
    nics: [{mac, device, bridge, network}]. Ids are Ref:N in the order xapi
    numbers them: the VM, then its VBDs, VDIs, VIFs, networks, the SR."""
    # xapi numbers refs from a counter that lives as long as the process
    objects, n = [], [40]

    def ref():
        n[0] += 1
        return f"Ref:{n[0]}"

    vm_ref = ref()
    sr_ref = "Ref:999"
    vbds, vdi_refs = [], []
    for d in disks:
        vbd_ref = ref()
        vdi_ref = ref() if d.get("type", "Disk") == "Disk" else "OpaqueRef:NULL"
        vbds.append(vbd_ref)
        vdi_refs.append(vdi_ref)
        objects.append(
            {
                "class": "VBD",
                "id": vbd_ref,
                "snapshot": {
                    "uuid": f"vbd-{vbd_ref}",
                    "VM": vm_ref,
                    "VDI": vdi_ref,
                    "device": d.get("device", ""),
                    "userdevice": str(d["userdevice"]),
                    "bootable": d.get("bootable", d["userdevice"] == 0),
                    "mode": "RW",
                    "type": d.get("type", "Disk"),
                },
            }
        )
        if vdi_ref != "OpaqueRef:NULL":
            objects.append(
                {
                    "class": "VDI",
                    "id": vdi_ref,
                    "snapshot": {
                        "uuid": f"vdi-{vdi_ref}",
                        "name_label": d.get("name", f"disk {d['userdevice']}"),
                        "virtual_size": str(d["size"]),
                        "SR": sr_ref,
                        "type": "user",
                        "VBDs": [vbd_ref],
                    },
                }
            )
        d["vdi"] = vdi_ref
    vifs = []
    for nic in nics:
        vif_ref, net_ref = ref(), ref()
        vifs.append(vif_ref)
        objects.append(
            {
                "class": "VIF",
                "id": vif_ref,
                "snapshot": {
                    "uuid": f"vif-{vif_ref}",
                    "device": str(nic["device"]),
                    "MAC": nic["mac"],
                    "network": net_ref,
                    "VM": vm_ref,
                    "MTU": "1500",
                },
            }
        )
        objects.append(
            {
                "class": "network",
                "id": net_ref,
                "snapshot": {
                    "uuid": f"net-{net_ref}",
                    "name_label": nic.get("network", "Pool-wide network associated with eth0"),
                    "bridge": nic.get("bridge", "xenbr0"),
                },
            }
        )
    record = dict(vm, VBDs=vbds, VIFs=vifs)
    objects.insert(0, {"class": "VM", "id": vm_ref, "snapshot": record})
    objects.append(
        {"class": "SR", "id": sr_ref, "snapshot": {"uuid": "sr", "name_label": "Local storage"}}
    )
    version = version or {
        "hostname": "xcp-ng-test",
        "date": "2026-12-01",
        "product_version": "8.3.0",
        "product_brand": "XCP-ng",
        "build_number": "cloud",
        "xapi_major": "25",
        "xapi_minor": "6",
        "export_vsn": "2",
    }
    return _value({"version": version, "objects": objects})


def pv_vm(name="xva-guest", memory_mib=1024, vcpus=2, hvm=False, firmware="bios"):
    """A VM record as xapi exports a halted Linux guest."""
    record = {
        "uuid": "7a7a7a7a-0000-4000-8000-00000000a1a1",
        "name_label": name,
        "name_description": "",
        "power_state": "Halted",
        "is_a_template": False,
        "is_a_snapshot": False,
        "is_control_domain": False,
        "memory_static_max": str(memory_mib * 1024**2),
        "memory_dynamic_max": str(memory_mib * 1024**2),
        "memory_dynamic_min": str(memory_mib * 1024**2),
        "memory_static_min": str(256 * 1024**2),
        "VCPUs_max": str(vcpus),
        "VCPUs_at_startup": str(vcpus),
        "domain_type": "hvm" if hvm else "pv",
        "HVM_boot_policy": "BIOS order" if hvm else "",
        "HVM_boot_params": {"order": "cd", "firmware": firmware} if hvm else {},
        "PV_bootloader": "" if hvm else "pygrub",
        "PV_args": "" if hvm else "console=hvc0",
        "PV_kernel": "",
        "platform": {"timeoffset": "0", "nx": "true", "acpi": "1", "apic": "true", "pae": "true"},
        "other_config": {},
    }
    return record


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _digest(kind, data):
    if kind == "xxhash":
        import xxhash

        return f"{xxhash.xxh64(data).intdigest():016X}"
    return hashlib.sha1(data).hexdigest()


def write_xva(
    out,
    vm,
    disks,
    nics,
    checksum="checksum",
    last_zero_chunk=True,
    corrupt=None,
    drop_checksum=None,
    extra_vdi=False,
    cut_at=None,
    stall_before=None,
):
    """Write the XVA to `out` (a path). disks: [{path, size, device,
    userdevice}]; the image at `path` is read as raw. corrupt/drop_checksum:
    (disk index, chunk index). cut_at: the file is cut to this many bytes.
    stall_before: (disk index, chunk index) gets an empty keep-alive chunk
    before it, and the chunks from there on one index more."""
    text = ova_xml(vm, disks, nics)
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, "ova.xml", text.encode())
        for i, d in enumerate(disks):
            if d.get("type", "Disk") != "Disk":
                continue
            count = (d["size"] + CHUNK - 1) // CHUNK
            shift = 0
            with open(d["path"], "rb") as f:
                for index in range(count):
                    data = f.read(CHUNK)
                    data += bytes(min(CHUNK, d["size"] - index * CHUNK) - len(data))
                    last = index == count - 1
                    # chunk 0 is always written, the last one too (by default)
                    keep = index == 0 or (last and last_zero_chunk)
                    if not data.strip(b"\0") and not keep:
                        continue
                    if stall_before == (i, index):
                        # xapi's keep-alive when its source stalls: an
                        # empty chunk that takes an index and no room
                        name = f"{d['vdi']}/{index + shift:08d}"
                        _add(tar, name, b"")
                        _add(tar, f"{name}.{checksum}", _digest(checksum, b"").encode())
                        shift += 1
                    digest = _digest(checksum, data)
                    if corrupt == (i, index):
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                    name = f"{d['vdi']}/{index + shift:08d}"
                    _add(tar, name, data)
                    if drop_checksum != (i, index):
                        _add(tar, f"{name}.{checksum}", digest.encode())
        if extra_vdi:
            _add(tar, "Ref:777/00000000", b"x" * 512)
            _add(tar, "Ref:777/00000000.checksum", hashlib.sha1(b"x" * 512).hexdigest().encode())
    if cut_at is not None:
        with open(out, "r+b") as f:
            f.truncate(cut_at)
    return out
