"""XenServer/XCP-ng, each VM exported as `xe vm-export` writes it and
migrated with one `migrate -i xva`.

Sample (d), a PV Debian guest booted by pygrub with two disks (/boot and
root on xvda; swap and an LVM /srv on xvdb), from standard input into a
directory, raw: the disks are read once, into their final files, and the
fix is committed into them; booted to login with root, /boot, /srv and
swap in place and its NIC up. The same export is inspected (read into
/var/tmp and removed), and the migrated disks are then served by a
stand-in pool master for `-i xapi`.

Most Linux VMs on XCP-ng 8 are HVM guests with PV drivers, and new ones
boot through UEFI: the UEFI sample (hu) (GPT, an ESP with Debian's shim and
GRUB, enX0 from xen-netfront) is exported as such a VM and migrated from
the file into a libvirt pool as qcow2 (read into a staging file in the
pool, converted, the staging file gone), defined with the VM's name,
memory, vCPUs, MAC and UEFI firmware, and booted through OVMF with an
empty variable store.

The exports are written by tests/xva_writer.py, a stand-in for xapi (none
runs here) following its published format: SHA-1 checksums and a last
zero chunk for the first, XCP-ng 8.3's xxhash and none for the second."""

import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from conftest import POOL_DIR, build_sample, guestfix, pool_volumes
from hvm_guests import HU_MAC, check_hu_booted
from xva_writer import pv_vm, write_xva

from guestfix.domain import marker

pytestmark = pytest.mark.slow

GIB = 1024**3
MAC = "00:16:3e:5a:11:30"


def export_of_d(sample_d, path, name, **kw):
    """(d)'s images as an XVA of a VM called `name` (768 MiB, 2 vCPUs)."""
    here = os.path.dirname(sample_d)
    disks = [
        {
            "path": f"{here}/xenguest-d-xvda.img",
            "size": 3 * GIB,
            "device": "xvda",
            "userdevice": 0,
        },
        {"path": f"{here}/xenguest-d-xvdb.img", "size": GIB, "device": "xvdb", "userdevice": 1},
    ]
    nics = [{"mac": MAC, "device": 0, "bridge": "xenbr0", "network": "Pool-wide network"}]
    return write_xva(str(path), pv_vm(name=name, memory_mib=768, vcpus=2), disks, nics, **kw)


@pytest.fixture(scope="module")
def from_stdin(sample_d, tmp_path_factory):
    work = tmp_path_factory.mktemp("xva-dir")
    xva = export_of_d(sample_d, work / "web.xva", "xcp-web")
    out = work / "out"
    out.mkdir()
    r = guestfix(
        "migrate", "-i", "xva", "-", "-o", "local", "-os", out, "--yes", "--json",
        "--boot-check", "--boot-timeout", "400",
        stdin=xva,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout), out, xva


def test_the_export_is_read_once_into_the_final_disks(from_stdin):
    report, out, xva = from_stdin
    stages = [s["name"] for s in report["stages"]]
    assert stages == ["source", "slot", "read", "fix", "copy", "domain", "boot-check"]
    read = report["read_from_export"]
    # the whole tar went through once (its end-of-archive padding aside)
    assert os.path.getsize(xva) - 10240 <= read["bytes_read"] <= os.path.getsize(xva)
    assert read["checksums"] == {"checksum": read["chunks"]}
    # raw out: the disks were read into their places; the copy only commits
    # the fix into them (no second pass over the data)
    assert [d["path"] for d in report["disks"]] == [
        f"{out}/xcp-web-vda.img",
        f"{out}/xcp-web-vdb.img",
    ]
    assert [d["source"].split("/")[-1][:4] for d in report["disks"]] == ["Ref:", "Ref:"]
    assert sorted(os.listdir(out)) == ["xcp-web-vda.img", "xcp-web-vdb.img", "xcp-web.xml"]
    # holes stay holes: (d)'s 4 GiB hold well under 2 GiB of data
    assert sum(os.stat(out / f).st_blocks * 512 for f in os.listdir(out)) < 2 * GIB


def test_the_domain_has_the_vms_name_memory_vcpus_and_mac(from_stdin):
    _report, out, _xva = from_stdin
    root = ET.parse(out / "xcp-web.xml").getroot()
    assert root.get("type") == "kvm" and root.findtext("name") == "xcp-web"
    assert root.findtext("memory") == "768" and root.find("memory").get("unit") == "MiB"
    assert root.findtext("vcpu") == "2"
    assert [m.get("address") for m in root.iter("mac")] == [MAC]
    assert [t.get("dev") for t in root.iter("target") if t.get("bus")] == ["vda", "vdb"]
    record = marker.read(ET.tostring(root, encoding="unicode"))
    assert record.input == "xva" and record.source == "-"


def test_the_migrated_guest_boots_with_its_mounts_swap_and_nic(from_stdin):
    report, _out, _xva = from_stdin
    boot = report["boot_check"]
    assert boot["passed"], boot
    probe = boot["probe"]
    mounts = {m["target"]: m["source"] for m in probe["mounts"]}
    assert mounts["/"] == "/dev/vda2"
    assert mounts["/boot"] == "/dev/vda1"
    assert mounts["/srv"] == "/dev/mapper/datavg-srv"
    assert probe["swap"] == ["/dev/vdb1"]
    assert probe["failed"] == []
    assert [n["name"] for n in probe["nics"]] == ["enX0"]
    assert [a["nic"] for a in probe["addresses"]] == ["enX0"]


def test_inspect_reads_the_export_aside(from_stdin):
    """inspect -i xva: the disks read into /var/tmp for the inspection and
    removed after it; what it finds is (d) as it was on Xen."""
    _report, _out, xva = from_stdin

    def read_aside():
        return {n for n in os.listdir("/var/tmp") if n.startswith("guestfix-read-")}

    before = read_aside()
    r = guestfix("inspect", "-i", "xva", xva, "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads(r.stdout)
    assert info["distro"] == "debian" and info["nic_names"] == ["enX0"]
    assert set(info["mountpoints"]) == {"/", "/boot", "/srv"}
    assert ("/etc/fstab", "device") in {(x["path"], x["kind"]) for x in info["xen_references"]}
    assert read_aside() == before


def export_of_hu(path, name, **kw):
    """(hu)'s disk as an XVA of a UEFI HVM VM called `name` (1 GiB, 1 vCPU)."""
    here = os.path.dirname(build_sample("hu"))
    disks = [
        {"path": f"{here}/xenhvm-hu-disk.img", "size": 3 * GIB, "device": "xvda", "userdevice": 0}
    ]
    nics = [{"mac": HU_MAC, "device": 0, "bridge": "xenbr0", "network": "Pool-wide network"}]
    vm = pv_vm(name=name, memory_mib=1024, vcpus=1, hvm=True, firmware="uefi")
    return write_xva(str(path), vm, disks, nics, **kw)


def test_a_uefi_hvm_vm_into_a_pool_as_qcow2_from_an_xxhash_export(pool, libvirtd, tmp_path):
    xva = export_of_hu(tmp_path / "db.xva", "xcp-db", checksum="xxhash", last_zero_chunk=False)
    name = "xcp-db"
    try:
        r = guestfix(
            "migrate", "-i", "xva", xva, "-o", "libvirt", "-os", pool, "-of", "qcow2",
            "--bridge", "xenbr0:br0", "--yes", "--json", "--virt-type", "qemu",
            "--boot-check", "--boot-timeout", "400",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        report = json.loads(r.stdout)
        read = report["read_from_export"]
        assert read["checksums"] == {"xxhash": read["chunks"]}
        # the staging copy was converted and removed
        mine = [f"{name}-vda.qcow2"]
        assert [v for v in pool_volumes(libvirtd) if v.startswith(name)] == mine
        assert sorted(f for f in os.listdir(POOL_DIR) if f.startswith(name)) == mine
        info = json.loads(
            subprocess.run(
                ["qemu-img", "info", "--output=json", f"{POOL_DIR}/{mine[0]}"],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        assert info["format"] == "qcow2" and "backing-filename" not in info
        dumped = subprocess.run(
            ["virsh", "-c", libvirtd, "dumpxml", "--inactive", name],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        root = ET.fromstring(dumped)
        assert root.find("os").get("firmware") == "efi"
        assert root.findtext("memory") == str(1024 * 1024)  # libvirt says KiB
        assert root.findtext("vcpu") == "1"
        assert [m.get("address") for m in root.iter("mac")] == [HU_MAC]
        # the XenServer network's bridge, mapped by -b as on the other routes
        assert [s.get("bridge") for s in root.findall("devices/interface/source")] == ["br0"]
        # the shim where a firmware with an empty NVRAM looks
        assert "uefi-boot" in {c["step"] for c in report["changes"]}
        check_hu_booted(report["boot_check"], HU_MAC)
    finally:
        subprocess.run(["virsh", "-c", libvirtd, "undefine", "--nvram", name], capture_output=True)
        for vol in [v for v in pool_volumes(libvirtd) if v.startswith(name)]:
            subprocess.run(
                ["virsh", "-c", libvirtd, "vol-delete", vol, "--pool", pool], capture_output=True
            )


def test_through_the_pool_masters_api_the_disks_are_pulled_once(from_stdin, tmp_path):
    """-i xapi against a stand-in pool master (tests/xapi_standin.py) that
    holds the guest just migrated: its disks pulled once, over HTTPS with
    the stand-in's certificate trusted, into a directory, the pool's disks
    only read; a second fix of a migrated guest finds nothing to change."""
    from xapi_standin import StandInPool

    _report, out, _xva = from_stdin
    pool = StandInPool(str(tmp_path))
    try:
        disks = [
            {"path": out / "xcp-web-vda.img", "size": 3 * GIB, "device": "xvda", "userdevice": 0},
            {"path": out / "xcp-web-vdb.img", "size": GIB, "device": "xvdb", "userdevice": 1},
        ]
        nics = [{"mac": MAC, "device": 0, "bridge": "xenbr0"}]
        pool.add_vm(pv_vm(name="xcp-api", memory_mib=768, vcpus=2), disks, nics)
        (tmp_path / "pw").write_text("secret\n")
        before = [_sha256(d["path"]) for d in disks]
        dest = tmp_path / "out"
        dest.mkdir()
        r = guestfix(
            "migrate", "-i", "xapi", "-ic", pool.uri, "-ip", tmp_path / "pw", "xcp-api",
            "-o", "local", "-os", dest, "--yes", "--json",
            env={"SSL_CERT_FILE": pool.cert},
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        report = json.loads(r.stdout)
        assert [s["name"] for s in report["stages"]][:3] == ["source", "slot", "read"]
        assert sorted(pool.served.values()) == [GIB, 3 * GIB]  # each disk once
        assert report["read_from_export"]["bytes_read"] == 4 * GIB
        # a migrated guest: nothing left to change
        assert report["changes"] == []
        assert sorted(os.listdir(dest)) == ["xcp-api-vda.img", "xcp-api-vdb.img", "xcp-api.xml"]
        # the pool's disks were only read; the session was closed
        assert [_sha256(d["path"]) for d in disks] == before
        assert "session.logout" in pool.calls
    finally:
        pool.stop()


def _sha256(path):
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(4 * 1024**2):
            h.update(block)
    return h.hexdigest()
