"""`guestfix define` against a real libvirtd: define, read back, clashes,
--replace, undefine; and libvirt refusing to be reached."""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from conftest import guestfix

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
NAME = "guestfix-test-define"

# every test here needs a running libvirtd (the `converted` fixture too)
pytestmark = pytest.mark.slow


@pytest.fixture
def converted(tmp_path, libvirtd):
    with open(os.path.join(GOLDEN, "guide-sles11sp3.in.xml")) as f:
        text = f.read().replace("@DIR@", str(tmp_path))
    with open(tmp_path / "SLES_11_SP2_JeOS.x86_64-0.0.2_para.raw", "wb") as f:
        f.truncate(16 << 20)
    src = tmp_path / "sles.xml"
    src.write_text(text)
    out = tmp_path / "kvm.xml"
    r = guestfix("xml", src, "-on", NAME, "--out", out, "-b", "virbr-test")
    assert r.returncode == 0, r.stderr
    yield out
    subprocess.run(["virsh", "-c", libvirtd, "undefine", NAME], capture_output=True)


def test_define_read_back_and_clash(converted, libvirtd):
    r = guestfix("define", converted, "-oc", libvirtd)
    assert r.returncode == 0, r.stderr
    assert f"Domain {NAME}" in r.stdout and "virsh -c qemu:///system start" in r.stdout
    dumped = subprocess.run(
        ["virsh", "-c", libvirtd, "dumpxml", NAME], capture_output=True, text=True, check=True
    ).stdout
    root = ET.fromstring(dumped)
    assert root.get("type") == "kvm"
    assert root.find("./devices/disk/target").attrib == {"dev": "vda", "bus": "virtio"}
    assert root.find("./devices/disk/driver").get("type") == "raw"
    assert root.find("./devices/interface/model").get("type") == "virtio"
    assert root.find("./devices/interface/source").get("bridge") == "virbr-test"
    assert root.find("./devices/memballoon").get("model") == "virtio"
    assert root.find("./os/boot").get("dev") == "hd"
    assert root.find("bootloader") is None

    again = guestfix("define", converted, "-oc", libvirtd)
    assert again.returncode == 11
    assert "already exists" in again.stderr and "--replace" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

    replaced = guestfix("define", converted, "-oc", libvirtd, "--replace")
    assert replaced.returncode == 0, replaced.stderr


def test_define_refuses_bad_xml(tmp_path, libvirtd):
    bad = tmp_path / "bad.xml"
    bad.write_text('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]><domain>&x;</domain>')
    r = guestfix("define", bad, "-oc", libvirtd)
    assert r.returncode == 3 and "DTD or entities" in r.stderr


def test_unreachable_libvirt_is_one_line(converted):
    r = guestfix("define", converted, "-oc", "qemu+unix:///system?socket=/nonexistent/sock")
    assert r.returncode == 11
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect" in lines[0] and "libvirtd" in lines[0]
