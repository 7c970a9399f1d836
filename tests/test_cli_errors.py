"""Bad input: one line naming the problem, the documented exit code, no
traceback, and the user's files untouched. None of these launch the
appliance."""

import os
import subprocess
import time

import pytest

from conftest import guestfix
from guestfix.diskimage import held_by_qemu


def one_line_error(r, code, *words):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("guestfix: error:")
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture
def raw(tmp_path):
    p = tmp_path / "disk.img"
    p.write_bytes(b"\0" * 65536)
    return p


@pytest.mark.parametrize("command", ["inspect", "fix", "boot-check"])
def test_missing_disk(command, tmp_path):
    one_line_error(guestfix(command, "--yes" if command == "fix" else "--json",
                            tmp_path / "nope.img"), 3, "no such disk image")


def test_no_disk_at_all():
    one_line_error(guestfix("inspect"), 3, "no disk given")


def test_empty_disk(tmp_path):
    p = tmp_path / "empty.img"
    p.write_bytes(b"")
    one_line_error(guestfix("fix", "--yes", p), 3, "is empty")


def test_directory_as_disk(tmp_path):
    one_line_error(guestfix("inspect", tmp_path), 3, "is a directory")


def test_read_only_disk_for_fix(raw):
    os.chmod(raw, 0o444)
    if os.access(raw, os.W_OK):      # root ignores mode bits: use the immutable flag
        subprocess.run(["chattr", "+i", str(raw)], check=True)
    try:
        one_line_error(guestfix("fix", "--yes", raw), 3, "read-only")
    finally:
        subprocess.run(["chattr", "-i", str(raw)], check=False)


def test_qcow2_with_backing_refused(tmp_path, raw):
    top = tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(raw),
                    str(top)], check=True)
    one_line_error(guestfix("inspect", top), 3, "backing file", "--allow-backing")


def test_qcow2_backing_host_file_not_read(tmp_path):
    """A qcow2 whose backing file is a host file is refused before QEMU opens it."""
    top = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/shadow",
                    "-u", str(top), "1M"], check=True)
    one_line_error(guestfix("fix", "--yes", top), 3, "backing file")


def test_declared_raw_but_qcow2(tmp_path):
    q = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(q), "1M"], check=True)
    one_line_error(guestfix("inspect", "--format", "raw", q), 3, "qcow2 header")


def test_vmdk_refused_with_hint(tmp_path):
    v = tmp_path / "d.vmdk"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", str(v), "1M"], check=True)
    one_line_error(guestfix("inspect", v), 3, "vmdk", "qemu-img convert")


def test_same_disk_twice(raw):
    one_line_error(guestfix("inspect", raw, raw), 3, "given twice")


XML_CASES = {
    "not-xml": ("this is not xml", "not well-formed"),
    "empty": ("", "is empty"),
    "truncated": ("<domain type='xen'><name>x</name><devices>", "not well-formed"),
    "entities": ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
                 "<domain>&b;</domain>", "DTD or entities"),
    "external-entity": ('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]><domain>&x;</domain>',
                        "DTD or entities"),
    "not-domain": ("<network><name>x</name></network>", "not a libvirt domain"),
    "no-disks": ("<domain type='xen'><name>x</name><devices/></domain>", "has no disks"),
    "network-disk": ("<domain type='xen'><name>x</name><devices><disk type='network' device='disk'>"
                     "<source protocol='nbd' name='x'/><target dev='xvda'/></disk></devices></domain>",
                     "network disk"),
    "duplicate-targets": ("<domain type='xen'><name>x</name><devices>"
                          "<disk type='file' device='disk'><source file='a.img'/><target dev='xvda'/></disk>"
                          "<disk type='file' device='disk'><source file='b.img'/><target dev='xvda'/></disk>"
                          "</devices></domain>", "two disks have the target xvda"),
    "missing-disk-file": ("<domain type='xen'><name>x</name><devices><disk type='file' device='disk'>"
                          "<source file='/nonexistent/x.img'/><target dev='xvda'/></disk></devices></domain>",
                          "no such disk image"),
}


@pytest.mark.parametrize("case", sorted(XML_CASES))
def test_bad_domain_xml(case, tmp_path):
    text, words = XML_CASES[case]
    xml = tmp_path / "dom.xml"
    xml.write_text(text)
    one_line_error(guestfix("fix", "--yes", "--domain", xml), 3, words)


def test_fix_without_terminal_needs_yes(raw):
    r = guestfix("fix", raw, input="")
    one_line_error(r, 1, "--yes")


def test_help_lists_exit_codes():
    r = guestfix("--help")
    assert r.returncode == 0 and "Exit codes" in r.stdout and "130" in r.stdout


def test_usage_error_exit_2():
    r = guestfix("fix", "--no-such-option")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_locked_disk_refused(tmp_path):
    """A disk held by a running QEMU (its image lock) is refused."""
    img = tmp_path / "busy.img"
    img.write_bytes(b"\0" * (1 << 20))
    qemu = subprocess.Popen(["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-S",
                             "-nodefaults", "-display", "none",
                             "-drive", f"file={img},format=raw,if=virtio"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):          # wait until QEMU holds the lock
            if held_by_qemu(str(img)):
                break
            time.sleep(0.1)
        before = img.read_bytes()
        one_line_error(guestfix("fix", "--yes", img), 4, "in use by a running virtual machine")
        assert img.read_bytes() == before
    finally:
        qemu.kill()
        qemu.wait()
