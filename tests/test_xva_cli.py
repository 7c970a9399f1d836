"""`-i xva` on the command line, where no appliance is needed: a broken
export (on standard input, or a file) stops migrate at its read with one
line and nothing at the destination; `backup -i xva` keeps the disks read
out of the export, verified, as a guest of its own; what cannot apply to a
stream read once is refused before any work. The exports are written by
tests/xva_writer.py, a stand-in for xapi's `xe vm-export`."""

import json
import os

import pytest
from conftest import guestfix
from test_xva import MIB, make_image
from xva_writer import pv_vm, write_xva


@pytest.fixture
def images(tmp_path):
    root = make_image(tmp_path / "root.raw", 6 * MIB, [0, 2, 5])
    data = make_image(tmp_path / "data.raw", 3 * MIB, [1])
    disks = [
        {"path": root, "size": 6 * MIB, "device": "xvda", "userdevice": 0},
        {"path": data, "size": 3 * MIB, "device": "xvdb", "userdevice": 1},
    ]
    nics = [{"mac": "00:16:3e:aa:bb:01", "device": 0, "bridge": "xenbr0"}]
    return disks, nics


def one_line_error(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("guestfix: error")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_a_corrupt_chunk_on_stdin_stops_migrate_with_nothing_written(tmp_path, images):
    disks, nics = images
    xva = write_xva(str(tmp_path / "bad.xva"), pv_vm(), disks, nics, corrupt=(1, 1))
    out = tmp_path / "out"
    out.mkdir()
    r = guestfix("migrate", "-i", "xva", "-", "-o", "local", "-os", out, "--yes", stdin=xva)
    line = one_line_error(r)
    assert "stage `read`" in line and "Ref:" in line and "is corrupt" in line
    assert os.listdir(out) == []


def test_a_cut_off_export_stops_migrate_with_nothing_written(tmp_path, images):
    disks, nics = images
    whole = write_xva(str(tmp_path / "whole.xva"), pv_vm(), disks, nics)
    xva = write_xva(
        str(tmp_path / "cut.xva"), pv_vm(), disks, nics, cut_at=os.path.getsize(whole) - 3 * MIB
    )
    out = tmp_path / "out"
    out.mkdir()
    line = one_line_error(
        guestfix("migrate", "-i", "xva", xva, "-o", "local", "-os", out, "--yes")
    )
    assert "not a whole XVA" in line or "ends early" in line
    assert os.listdir(out) == []


@pytest.mark.parametrize(
    "option", [["--backup", "BACKUP"], ["--start-early"], ["--skip-migrated"]], ids=lambda o: o[0]
)
def test_what_a_single_read_cannot_do_is_refused_first(tmp_path, images, option):
    disks, nics = images
    xva = write_xva(str(tmp_path / "g.xva"), pv_vm(), disks, nics)
    out = tmp_path / "out"
    out.mkdir()
    option = [str(tmp_path / o) if o == "BACKUP" else o for o in option]
    args = ["migrate", "-i", "xva", xva, "-o", "local", "-os", out, "--yes", *option]
    if option[0] == "--start-early":
        args[5:7] = ["libvirt", "-os"]  # what --start-early takes
        args[7] = "default"
    if option[0] == "--skip-migrated":  # refused for an export on standard input
        args[3] = "-"
        line = one_line_error(guestfix(*args, stdin=xva))
    else:
        line = one_line_error(guestfix(*args))
    assert option[0] in line or "does not apply" in line
    assert os.listdir(out) == []


def test_backup_keeps_the_disks_read_out_of_the_export_verified(tmp_path, images):
    disks, nics = images
    xva = write_xva(str(tmp_path / "g.xva"), pv_vm(name="web"), disks, nics, checksum="xxhash")
    dest = tmp_path / "backup"
    r = guestfix("backup", "-i", "xva", xva, "--to", dest, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert sorted(os.listdir(dest)) == [
        "manifest.json",
        "web-xvda.raw",
        "web-xvdb.raw",
        "web.ova.xml",
        "web.xml",
    ]
    for disk, kept in zip(disks, report["disks"]):
        assert kept["source"].startswith(f"{xva}/Ref:")
        with open(disk["path"], "rb") as a, open(dest / kept["file"], "rb") as b:
            assert a.read() == b.read()
        # the holes stay holes: three MiB of data at most in six
        assert os.stat(dest / kept["file"]).st_blocks * 512 <= 3 * MIB
    xml = (dest / "web.xml").read_text()
    assert "file='web-xvda.raw'" in xml.replace('"', "'")
    assert guestfix("backup", "--verify", dest).returncode == 0
    # the directory is a guest of its own: migrate's dry run reads it
    r = guestfix("xml", dest / "web.xml")
    assert r.returncode == 0, r.stderr


def test_a_dry_run_reads_the_export_aside_and_writes_nothing(tmp_path, images):
    """--dry-run reads the disks into a temporary directory under /var/tmp
    (removed with the run) and fixes them there; these disks hold no guest, so the fix
    stops at its inspection, after the read."""
    disks, nics = images
    xva = write_xva(str(tmp_path / "g.xva"), pv_vm(), disks, nics)
    out = tmp_path / "out"
    out.mkdir()

    def read_aside():
        return {n for n in os.listdir("/var/tmp") if n.startswith("guestfix-read-")}

    before = read_aside()
    line = one_line_error(
        guestfix("migrate", "-i", "xva", xva, "-o", "local", "-os", out, "--dry-run", "--json")
    )
    assert "stage `fix`" in line
    assert os.listdir(out) == [] and read_aside() == before
