"""The streaming tar reader the XVA read uses (disks/tarstream.py), on
archives written by GNU tar and by Python's tarfile in each header format:
names (long ones too), sizes and data come back as written, compressed
streams are read through, and what is not a tar archive is refused."""

import io
import os
import subprocess
import tarfile

import pytest

from guestfix.disks.tarstream import TarFormatError, TarStream

LONG = "Ref:12/" + "d" * 150 + "/00000001"


def members(data):
    tar = TarStream(io.BufferedReader(io.BytesIO(data)))
    found = []
    while (m := tar.next()) is not None:
        found.append((m.name, bytes(tar.read(m)) if m.isfile() else None))
    return found


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_python_tarfiles_come_back_as_written(fmt):
    files = [("ova.xml", b"<value/>"), ("Ref:12/00000000", os.urandom(1024**2 + 7))]
    if fmt != tarfile.USTAR_FORMAT:
        files.append((LONG, b"long"))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert members(out.getvalue()) == files


@pytest.mark.parametrize("compress", ["", "--gzip", "--xz", "--bzip2"])
def test_gnu_tar_archives_plain_and_compressed(tmp_path, compress):
    src = tmp_path / "src"
    (src / "Ref:3").mkdir(parents=True)
    (src / "ova.xml").write_bytes(b"<value/>")
    (src / "Ref:3" / "00000000").write_bytes(b"x" * 5000)
    archive = tmp_path / "a.tar"
    subprocess.run(
        ["tar", "-cf", archive, *([compress] if compress else []), "-C", src,
         "ova.xml", "Ref:3/00000000"],
        check=True,
    )  # fmt: skip
    assert members(archive.read_bytes()) == [
        ("ova.xml", b"<value/>"),
        ("Ref:3/00000000", b"x" * 5000),
    ]


def test_what_is_not_tar_is_refused():
    with pytest.raises(TarFormatError, match="checksum"):
        members(b"this is not a tar archive".ljust(2048, b"!"))


def test_a_cut_off_member_ends_early():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("Ref:1/00000000")
        info.size = 4096
        tar.addfile(info, io.BytesIO(b"y" * 4096))
    with pytest.raises(EOFError):
        members(out.getvalue()[:2048])


def test_a_zstd_export_is_refused_with_the_command_that_reads_it():
    with pytest.raises(TarFormatError, match=r"zstd -dc FILE \| guestfix"):
        members(b"\x28\xb5\x2f\xfd" + bytes(2000))


def test_data_after_the_end_of_the_archive_is_refused():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("ova.xml")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"<a>"))
    data = out.getvalue() + b"Ref:1/00000000 appended after the end".ljust(512, b"\0")
    with pytest.raises(TarFormatError, match="after the archive's end"):
        members(data)
