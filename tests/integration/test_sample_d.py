"""Sample guest (d): separate /boot, two disks, LVM, swap on the second
disk, root=/dev/xvda2 typed into GRUB settings with GRUB_DISABLE_LINUX_UUID.
Fixed in place once, then started by libvirt itself. Its boot-check, with
the mounts, swap and kernel command line, is in test_remote_source.py,
where (d) is migrated from a Xen host over ssh (the same fix, one boot
fewer for the suite)."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest
from conftest import copy_sample, guestfix

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fixed_d(sample_d, state_dir):
    # Under libvirt's images directory: libvirt's QEMU runs as another user
    # and must reach the disks.
    work = tempfile.mkdtemp(prefix="guestfix-test-", dir="/var/lib/libvirt/images")
    os.chmod(work, 0o755)
    xml = copy_sample(sample_d, work)
    r = guestfix(
        "fix", "--yes", "--json", "--domain", xml, "--direct-boot", os.path.join(work, "direct")
    )
    assert r.returncode == 0, r.stderr
    yield xml, json.loads(r.stdout)
    shutil.rmtree(work, ignore_errors=True)


def test_fix_report(fixed_d):
    _xml, report = fixed_d
    assert report["committed"]
    targets = {c["target"] for c in report["changes"]}
    assert {
        "/etc/fstab",
        "/etc/default/grub",
        "/boot/grub/device.map",
        "/etc/systemd/network/10-guestfix-enX0.link",
    } <= targets
    link = [c for c in report["changes"] if c["target"].endswith("enX0.link")][0]
    assert "MACAddress=00:16:3e:5a:11:04" in link["diff"]


def test_direct_boot_files(fixed_d, tmp_path):
    """The alternative for disks without room for boot code: kernel and
    initrd copied out, and a domain that boots them directly."""
    xml, report = fixed_d
    info = report["direct_boot"]
    assert os.path.getsize(info["kernel"]) > 1 << 20 and os.path.getsize(info["initrd"]) > 1 << 20
    assert info["cmdline"].startswith("root=UUID=") and "console=ttyS0" in info["cmdline"]
    json_file = os.path.join(os.path.dirname(info["kernel"]), "xenguest-d-direct-boot.json")
    out = tmp_path / "direct.xml"
    r = guestfix("xml", xml, "--direct-boot", json_file, "--out", out)
    assert r.returncode == 0, r.stderr
    os_el = ET.parse(out).getroot().find("os")
    assert os_el.findtext("kernel") == info["kernel"]
    assert os_el.findtext("initrd") == info["initrd"]
    assert os_el.findtext("cmdline") == info["cmdline"]
    assert subprocess.run(["virt-xml-validate", str(out)], capture_output=True).returncode == 0


def test_libvirt_runs_what_guestfix_wrote(fixed_d, libvirtd):
    """Converted by `guestfix xml`, defined by `guestfix define`, started by
    libvirt (type='qemu': this machine has no usable KVM): the guest reaches
    its login prompt. The serial console goes to a file to watch it."""
    xml, _report = fixed_d
    work = os.path.dirname(xml)
    name = "guestfix-test-d-libvirt"
    kvm_xml = os.path.join(work, "kvm.xml")
    r = guestfix("xml", xml, "--virt-type", "qemu", "-on", name, "--out", kvm_xml)
    assert r.returncode == 0, r.stderr
    # Test-only changes: console to a file, user networking (no bridge here).
    tree = ET.parse(kvm_xml)
    devices = tree.getroot().find("devices")
    log = os.path.join(work, "console.log")
    for tag in ("serial", "console"):
        for el in devices.findall(tag):
            devices.remove(el)
    serial = ET.SubElement(devices, "serial", {"type": "file"})
    ET.SubElement(serial, "source", {"path": log})
    ET.SubElement(serial, "target", {"port": "0"})
    for nic in devices.findall("interface"):
        nic.set("type", "user")
        nic.remove(nic.find("source"))
    tree.write(kvm_xml)
    try:
        r = guestfix("define", kvm_xml, "-oc", libvirtd)
        assert r.returncode == 0, r.stderr
        subprocess.run(["virsh", "-c", libvirtd, "start", name], check=True, capture_output=True)
        deadline, text = time.monotonic() + 400, ""
        while time.monotonic() < deadline and " login:" not in text:
            time.sleep(2)
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    text = f.read()
        assert " login:" in text, text[-2000:]
    finally:
        subprocess.run(["virsh", "-c", libvirtd, "destroy", name], capture_output=True)
        subprocess.run(["virsh", "-c", libvirtd, "undefine", name], capture_output=True)
