"""The partition-table reader against tables written by sfdisk and
filesystems made by mkfs (the tools libguestfs itself depends on)."""

import subprocess

import pytest

from guestfix.disks.partitions import BIOS_BOOT_GUID, read_table


def _image(tmp_path, size_mb=64):
    path = tmp_path / "disk.img"
    with open(path, "wb") as f:
        f.truncate(size_mb << 20)
    return path


def _sfdisk(path, script):
    subprocess.run(
        ["sfdisk", "--quiet", "--no-reread", str(path)],
        input=script,
        text=True,
        check=True,
        capture_output=True,
    )


def _read(path):
    data = path.read_bytes()
    return lambda offset, count: data[offset : offset + count]


def test_msdos_with_an_active_partition(tmp_path):
    disk = _image(tmp_path)
    _sfdisk(
        disk,
        "label: dos\nstart=2048, size=20480, type=83\n"
        "start=22528, size=8192, type=82, bootable\n"
        "start=30720, type=5\nstart=32768, size=4096, type=83\n",
    )
    table = read_table(_read(disk))
    assert table.kind == "msdos"
    # the extended container is not a partition; logical ones are not listed
    assert [(p.number, p.start) for p in table.partitions] == [(1, 2048 * 512), (2, 22528 * 512)]
    assert [p.number for p in table.active()] == [2]
    assert not table.bios_boot_partition


def test_gpt_with_a_bios_boot_partition(tmp_path):
    disk = _image(tmp_path)
    _sfdisk(
        disk,
        "label: gpt\nstart=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649\n"
        "start=4096, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n",
    )
    table = read_table(_read(disk))
    assert table.kind == "gpt"
    assert [(p.number, p.gpt_type) for p in table.partitions] == [
        (1, BIOS_BOOT_GUID),
        (2, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
    ]
    assert table.partitions[1].start == 4096 * 512
    assert table.bios_boot_partition
    assert table.active() == []


def test_gpt_without_a_bios_boot_partition(tmp_path):
    disk = _image(tmp_path)
    _sfdisk(disk, "label: gpt\nstart=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
    table = read_table(_read(disk))
    assert table.kind == "gpt" and not table.bios_boot_partition


@pytest.mark.parametrize("mkfs", [["mkfs.ext4", "-q", "-F"], ["mkfs.vfat"]])
def test_a_filesystem_on_the_whole_disk_is_no_table(tmp_path, mkfs):
    # a FAT boot sector ends in 55 AA like an MBR does
    disk = _image(tmp_path)
    subprocess.run(mkfs + [str(disk)], check=True, capture_output=True)
    assert read_table(_read(disk)).kind == ""


def test_a_blank_disk_is_no_table(tmp_path):
    assert read_table(_read(_image(tmp_path, 1))).kind == ""
