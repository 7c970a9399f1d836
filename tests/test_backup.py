"""`guestfix backup`: sparse copies, checksums equal to the system tools',
--verify catching damage, refusing a destination without room."""

import hashlib
import json
import os
import subprocess

import pytest
from conftest import guestfix

GIB = 1 << 30


@pytest.fixture
def sparse_image(tmp_path):
    """A 2 GiB image with three data regions and holes between them."""
    path = tmp_path / "src" / "big.img"
    path.parent.mkdir()
    with open(path, "wb") as f:
        f.truncate(2 * GIB)
        for offset in (0, GIB + 12345, 2 * GIB - (4 << 20)):
            f.seek(offset)
            f.write(os.urandom(3 << 20))
    return path


def tool_sum(tool, path):
    return subprocess.run(
        [tool, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()[0]


def test_sparse_copy_keeps_holes_and_checksums(sparse_image, tmp_path):
    dest = tmp_path / "bk"
    r = guestfix("backup", sparse_image, "--to", dest, "--md5", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    (disk,) = report["disks"]
    copy = dest / "big.img"
    assert os.path.getsize(copy) == 2 * GIB
    src_alloc = os.stat(sparse_image).st_blocks * 512
    assert os.stat(copy).st_blocks * 512 <= src_alloc + (1 << 20)
    assert src_alloc < 16 << 20
    assert disk["sha256"] == tool_sum("sha256sum", sparse_image) == tool_sum("sha256sum", copy)
    assert disk["md5"] == tool_sum("md5sum", sparse_image)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["disks"][0]["allocated"] == os.stat(copy).st_blocks * 512


def test_verify_catches_one_flipped_byte(sparse_image, tmp_path):
    dest = tmp_path / "bk"
    assert guestfix("backup", sparse_image, "--to", dest).returncode == 0
    assert guestfix("backup", "--verify", dest).returncode == 0
    with open(dest / "big.img", "r+b") as f:
        f.seek(GIB + 20000)
        byte = f.read(1)
        f.seek(GIB + 20000)
        f.write(bytes([byte[0] ^ 0x01]))
    r = guestfix("backup", "--verify", dest)
    assert r.returncode == 12
    errors = [line for line in r.stderr.splitlines() if line.startswith("guestfix:")]
    assert errors == [
        "guestfix: error: backup damaged: big.img differs from the manifest (sha256)"
    ]


def test_domain_xml_backup(tmp_path):
    disk = tmp_path / "guest.img"
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
        f.write(b"data")
    xml = tmp_path / "guest.xml"
    text = (
        f"<domain type='xen'><name>g</name><devices><disk type='file' device='disk'>"
        f"<source file='{disk}'/><target dev='xvda' bus='xen'/></disk></devices></domain>\n"
    )
    xml.write_text(text)
    dest = tmp_path / "bk"
    r = guestfix("backup", xml, "--to", dest)
    assert r.returncode == 0, r.stderr
    assert (dest / "guest.xml").read_text() == text
    assert (
        hashlib.sha256((dest / "guest.img").read_bytes()).hexdigest()
        == hashlib.sha256(disk.read_bytes()).hexdigest()
    )
    # a second backup into the same directory is refused, the first kept
    r = guestfix("backup", xml, "--to", dest)
    assert r.returncode == 3 and "already holds a backup" in r.stderr


def test_destination_without_room(sparse_image, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)], check=True)
    try:
        r = guestfix("backup", sparse_image, "--to", small / "bk")
        assert r.returncode == 3 and "MiB free but the copy needs" in r.stderr
        assert os.listdir(small / "bk") == []
    finally:
        subprocess.run(["umount", str(small)], check=True)
