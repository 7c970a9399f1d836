"""A Xen HVM guest that boots through BIOS (test-images/hvm.py, layout hb):
MBR, grub-pc's boot code, the disk given to Xen as `hda` and an emulated
e1000 NIC in the xl.cfg, /dev/xvda names in fstab, eth0 by ifupdown and
console=hvc0 on the kernel command line. It migrates with one command and
boots as the PV guests do: virtio disk and NIC, the serial console."""

import os

import pytest
from conftest import checksums
from xentools_guests import local_copy, migrate_local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bios_guest(tmp_path_factory, state_dir):
    guest = local_copy("hb", tmp_path_factory)
    guest["report"] = migrate_local(guest)
    return guest


def test_emulated_devices_become_virtio_and_the_firmware_stays_bios(bios_guest):
    report = bios_guest["report"]
    assert report["firmware"] == "BIOS"
    (disk,) = report["disks"]
    assert disk["target"] == "vda"
    with open(os.path.join(bios_guest["out"], "xenhvm-hb.xml")) as f:
        domain = f.read()
    assert 'firmware="efi"' not in domain
    assert '<target dev="vda" bus="virtio" />' in domain
    assert '<model type="virtio" />' in domain and "e1000" not in domain
    assert not [c for c in report["changes"] if c["step"] == "uefi-boot"]


def test_it_boots_from_its_own_boot_code_to_login(bios_guest):
    boot = bios_guest["report"]["boot_check"]
    assert boot["passed"] and boot["stage"] == "login"
    assert boot["firmware_kind"] == "bios"
    probe = boot["probe"]
    mounts = {m["target"]: m["source"] for m in probe["mounts"]}
    assert mounts["/"] == "/dev/vda1"
    assert probe["swap"] == ["/dev/vda2"]
    assert probe["failed"] == []
    nics = [(n["name"], n["mac"], n["state"]) for n in probe["nics"]]
    assert nics == [("eth0", "00:16:3e:5a:11:e2", "up")]
    assert [a["nic"] for a in probe["addresses"]] == ["eth0"]
    cmdline = probe["cmdline"].split()
    assert "console=ttyS0" in cmdline and "console=hvc0" not in cmdline


def test_the_xen_side_is_unchanged(bios_guest):
    assert checksums(bios_guest["images"]) == bios_guest["before"]
