"""A VHD as xapi writes it (creator "caml"): qemu alone sizes it from its
geometry, short of its true size; guestfix's refusal names the qemu-img
command that reads it whole. The image is qemu-img's own dynamic VHD with
the footer's creator set to xapi's, a stand-in (no xapi runs here)."""

import json
import shlex
import struct
import subprocess

import pytest
from conftest import guestfix

from guestfix.disks import vhd

SIZE = 3000 * 1024**2  # not a whole number of CHS cylinders


def vhd_geometry(size):
    """(cylinders, heads, sectors) by the VHD specification's algorithm, as
    xapi's vhd-tool computes them: rounded down, so short of `size`."""
    total = min(size // 512, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = total // spt
    else:
        spt = 17
        cth = total // spt
        heads = max((cth + 1023) // 1024, 4)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = total // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = total // spt
    return cth // heads, heads, spt


def as_xapi_wrote_it(path):
    """Both footer copies as xapi writes them: creator "caml", the geometry
    of the specification, the true size as current size; checksums fixed."""
    size = len(open(path, "rb").read())
    with open(path, "r+b") as f:
        for offset in (0, size - 512):
            f.seek(offset)
            footer = bytearray(f.read(512))
            assert footer.startswith(b"conectix")
            footer[28:32] = b"caml"
            footer[56:60] = struct.pack(">HBB", *vhd_geometry(SIZE))
            footer[64:68] = b"\0\0\0\0"
            footer[64:68] = struct.pack(">I", ~sum(footer) & 0xFFFFFFFF)
            f.seek(offset)
            f.write(footer)


def qemu_size(*argv):
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", *argv], check=True, capture_output=True
    ).stdout
    return json.loads(out)["virtual-size"]


@pytest.fixture
def xapi_vhd(tmp_path):
    path = str(tmp_path / "disk.vhd")
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "vpc",
            "-o",
            "subformat=dynamic,force_size=on",
            path,
            str(SIZE),
        ],
        check=True,
    )
    as_xapi_wrote_it(path)
    return path


def test_qemu_alone_reads_it_short_and_the_footer_says_so(xapi_vhd):
    footer = vhd.read_footer(open(xapi_vhd, "rb").read(512))
    assert footer.creator == "caml" and footer.current_size == SIZE
    assert footer.short_in_qemu
    assert qemu_size(xapi_vhd) == footer.chs_size < SIZE


def test_the_refusal_names_the_command_that_reads_its_true_size(xapi_vhd, tmp_path):
    r = guestfix("inspect", xapi_vhd)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    command = next(line for line in lines if "qemu-img convert" in line)
    command = command[command.index("qemu-img convert") :].rstrip(")")
    command = command.replace("NEW.img", str(tmp_path / "new.img"))
    subprocess.run(shlex.split(command), check=True)
    assert qemu_size("-f", "raw", str(tmp_path / "new.img")) == SIZE


def test_a_vhd_qemu_sizes_right_gets_the_plain_command(tmp_path):
    path = str(tmp_path / "q.vhd")
    subprocess.run(["qemu-img", "create", "-q", "-f", "vpc", path, "1G"], check=True)
    footer = vhd.read_footer(open(path, "rb").read(512))
    assert not footer.short_in_qemu
    assert vhd.convert_hint(path, footer).endswith(f"-f vpc -O raw {path} NEW.img")
