"""A VHD as xapi writes it (creator "caml"): qemu alone sizes it from its
geometry, short of its true size; guestfix reads it whole (a json:
filename with force_size_calc=current_size), through the overlay the fix
and the copy use, and never edits it in place. The image is qemu-img's own
dynamic VHD with the footer's creator set to xapi's, a stand-in (no xapi
runs here)."""

import json
import struct
import subprocess

import pytest
from conftest import guestfix

from guestfix.core.errors import InputError
from guestfix.disks import vhd
from guestfix.disks.image import create_overlay, open_disk

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


LAST_MIB = SIZE - 1024**2


@pytest.fixture
def xapi_vhd(tmp_path):
    """3000 MiB with its last MiB written (0xab): where a disk sized by its
    geometry ends early."""
    path = str(tmp_path / "disk.vhd")
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=dynamic,force_size=on",
         path, str(SIZE)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["qemu-io", "-f", "vpc", "-c", f"write -P 0xab {LAST_MIB} 1M", path],
        check=True, capture_output=True,
    )  # fmt: skip
    as_xapi_wrote_it(path)
    return path


def test_qemu_alone_reads_it_short_and_the_footer_says_so(xapi_vhd):
    footer = vhd.read_footer(open(xapi_vhd, "rb").read(512))
    assert footer.creator == "caml" and footer.current_size == SIZE
    assert footer.short_in_qemu
    assert qemu_size(xapi_vhd) == footer.chs_size < SIZE


def test_guestfix_reads_it_whole_through_the_fix_overlay(xapi_vhd, tmp_path):
    disk = open_disk(xapi_vhd)
    assert disk.format == "vpc" and disk.virtual_size == SIZE
    assert disk.qemu_name.startswith("json:") and "current_size" in disk.qemu_name
    overlay = create_overlay(disk, str(tmp_path / "overlay.qcow2"))
    assert qemu_size("-f", "qcow2", overlay.path) == SIZE
    # what the copy writes: the overlay, the VHD behind it, to the last MiB
    out = tmp_path / "out.img"
    subprocess.run(
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", overlay.path, str(out)], check=True
    )
    assert out.stat().st_size == SIZE
    with open(out, "rb") as f:
        f.seek(LAST_MIB)
        assert f.read() == b"\xab" * 1024**2


def test_a_vhd_qemu_sizes_right_is_opened_as_it_is(tmp_path):
    path = str(tmp_path / "q.vhd")
    subprocess.run(["qemu-img", "create", "-q", "-f", "vpc", path, "1G"], check=True)
    disk = open_disk(path)
    assert disk.format == "vpc" and disk.qemu_name == "" and disk.virtual_size >= 1024**3


def test_fix_does_not_edit_a_vhd_in_place(xapi_vhd):
    before = open(xapi_vhd, "rb").read()
    r = guestfix("fix", "--yes", xapi_vhd)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "is a VHD" in r.stderr and "migrate converts it" in r.stderr
    assert open(xapi_vhd, "rb").read() == before


def test_a_vhd_declared_raw_is_refused(xapi_vhd):
    with pytest.raises(InputError, match="has a vpc header but was declared raw"):
        open_disk(xapi_vhd, fmt="raw")


def test_a_differencing_vhd_is_refused(xapi_vhd, tmp_path):
    with open(xapi_vhd, "r+b") as f:
        footer = bytearray(f.read(512))
        footer[60:64] = struct.pack(">I", vhd.DIFFERENCING)
        f.seek(0)
        f.write(footer)
    with pytest.raises(InputError, match="differencing VHD"):
        open_disk(xapi_vhd)
