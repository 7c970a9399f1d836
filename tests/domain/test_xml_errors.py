"""`guestfix xml` on bad input: one line, exit 3, nothing written."""

import os
import subprocess

import pytest
from conftest import guestfix

XEN = (
    "<domain type='xen'><name>g</name><os><type>linux</type></os><devices>"
    "<disk type='file' device='disk'><source file='{src}'/><target dev='xvda' bus='xen'/></disk>"
    "</devices></domain>"
)


def check(r, code, words):
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("guestfix: error:") and words in lines[0], (
        r.stderr
    )


@pytest.fixture
def out(tmp_path):
    p = tmp_path / "existing-out.xml"
    p.write_text("previous content\n")
    return p


@pytest.mark.parametrize(
    "text,words",
    [
        ("", "is empty"),
        ("<domain", "not well-formed"),
        ("<domain type='kvm'><name>g</name><devices/></domain>", "not a Xen domain"),
        ("<domain type='xen'><devices/></domain>", "has no <name>"),
        ("<domain type='xen'><name>g</name><devices/></domain>", "has no disks"),
        (
            '<!DOCTYPE l [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;&a;">]><domain>&b;</domain>',
            "DTD or entities",
        ),
        (
            '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]>'
            '<domain type="xen">&x;</domain>',
            "DTD or entities",
        ),
        (XEN.format(src="/nonexistent/disk.img"), "no such disk image"),
    ],
)
def test_bad_domain_nothing_written(text, words, tmp_path, out):
    src = tmp_path / "in.xml"
    src.write_text(text)
    check(guestfix("xml", src, "--out", out), 3, words)
    assert out.read_text() == "previous content\n"
    assert sorted(os.listdir(tmp_path)) == ["existing-out.xml", "in.xml"]


def test_qcow2_backing_refused(tmp_path, out):
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * 1024 * 1024)
    top = tmp_path / "top.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(top)],
        check=True,
    )
    src = tmp_path / "in.xml"
    src.write_text(XEN.format(src=top))
    check(guestfix("xml", src, "--out", out), 3, "backing file")
    assert out.read_text() == "previous content\n"


def test_huge_xml_refused(tmp_path):
    src = tmp_path / "huge.xml"
    with open(src, "w") as f:
        f.write("<domain type='xen'>")
        f.write("<!-- padding -->" * (11 * 1024 * 1024 // 16))
        f.write("</domain>")
    check(guestfix("xml", src), 3, "too large")


def test_xl_cfg_garbage(tmp_path):
    cfg = tmp_path / "x.cfg"
    cfg.write_text("name = 'a'\ndisk = [ 'file:/x,xvda,w'\n")
    check(guestfix("xml", "-i", "xl", cfg), 3, "unterminated list")
    cfg.write_text("name = __import__('os').system('touch /tmp/pwned')\n")
    check(guestfix("xml", "-i", "xl", cfg), 3, "cannot parse")
    assert not os.path.exists("/tmp/pwned")
    # found by `make fuzz`: a number where a list of strings belongs
    cfg.write_text("name = 'a'\nvfb = 0\n")
    check(guestfix("xml", "-i", "xl", cfg), 3, "vfb is not a string or a list of strings")


def test_duplicate_mapping_is_an_error(tmp_path):
    img = tmp_path / "d.img"
    img.write_bytes(b"\0" * 1024 * 1024)
    src = tmp_path / "in.xml"
    src.write_text(XEN.format(src=img))
    check(guestfix("xml", src, "-b", "br1", "--bridge", "br2"), 3, "duplicate --bridge")
