"""Reading an XVA (XenServer/XCP-ng `xe vm-export`) once, as a stream:
the domain from ova.xml, the disks from their checksummed chunks, zero
chunks left as holes; broken exports refused in one line with nothing
left behind. The exports are written by tests/xva_writer.py, a stand-in
for xapi following its published format."""

import os

import pytest
from xva_writer import pv_vm, write_xva

from guestfix.core.errors import InputError
from guestfix.disks.xvastream import CHUNK, read_xva
from guestfix.domain import ovaxml

MIB = CHUNK


def make_image(path, size, data_at):
    """A sparse raw image with a recognisable MiB at each offset in data_at."""
    with open(path, "wb") as f:
        f.truncate(size)
        for mib in data_at:
            f.seek(mib * MIB)
            f.write((f"chunk {mib} ".encode() * (MIB // 8))[:MIB])
    return path


@pytest.fixture
def export(tmp_path):
    root = make_image(tmp_path / "root.raw", 6 * MIB, [0, 2, 5])
    data = make_image(tmp_path / "data.raw", 3 * MIB + 4096, [1])
    disks = [
        {"path": root, "size": 6 * MIB, "device": "xvda", "userdevice": 0},
        {"path": None, "size": 0, "userdevice": 3, "type": "CD"},
        {"path": data, "size": 3 * MIB + 4096, "device": "xvdb", "userdevice": 1},
    ]
    nics = [{"mac": "00:16:3e:aa:bb:01", "device": 0, "bridge": "xenbr0"}]
    return tmp_path, disks, nics


def read(tmp_path, xva, out_dir=None):
    out_dir = out_dir or tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    found = {}

    def on_ova_xml(text):
        guest = ovaxml.guest_from_export(
            ovaxml.parse(text, str(xva)), lambda _name, d: str(out_dir / d.vdi.replace(":", "-"))
        )
        found["guest"] = guest
        return {
            d.vdi: (str(out_dir / d.vdi.replace(":", "-")), d.virtual_size) for d in guest.disks
        }

    with open(xva, "rb") as f:
        stats = read_xva(f, str(xva), on_ova_xml)
    return found["guest"], stats, out_dir


@pytest.mark.parametrize("checksum", ["checksum", "xxhash"])
@pytest.mark.parametrize("last_zero_chunk", [True, False])
def test_the_disks_come_back_byte_for_byte_with_holes(export, checksum, last_zero_chunk):
    tmp_path, disks, nics = export
    xva = write_xva(
        tmp_path / "g.xva",
        pv_vm(),
        disks,
        nics,
        checksum=checksum,
        last_zero_chunk=last_zero_chunk,
    )
    guest, stats, out = read(tmp_path, xva)
    assert [d.target for d in guest.disks] == ["xvda", "xvdb"]
    for disk, source in zip(guest.disks, [disks[0], disks[2]]):
        path = out / disk.vdi.replace(":", "-")
        with open(path, "rb") as a, open(source["path"], "rb") as b:
            assert a.read() == b.read()
        assert os.path.getsize(path) == source["size"]
    # 3 + 1 data chunks written, the zero ones left as holes
    root = out / guest.disks[0].vdi.replace(":", "-")
    assert os.stat(root).st_blocks * 512 <= 3 * MIB + 64 * 1024
    assert stats.checksums == {checksum: stats.chunks}
    assert stats.bytes_read == os.path.getsize(xva)


def test_the_domain_has_the_vms_name_memory_vcpus_and_mac(export):
    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm("web-01", 2048, 4), disks, nics)
    guest, _stats, _out = read(tmp_path, xva)
    d = guest.domain
    assert d.name == "web-01"
    assert d.root.findtext("memory") == "2048" and d.root.findtext("vcpu") == "4"
    assert d.root.findtext("bootloader") == "pygrub" and d.is_pv
    assert d.macs() == ["00:16:3e:aa:bb:01"]
    assert [t.get("dev") for t in d.root.iter("target") if t.get("bus") == "xen"] == [
        "xvda",
        "xvdb",
    ]
    assert guest.left_out == ["CD-ROM drive 3 (its ISO stays on the Xen side)"]


def test_uefi_hvm_firmware_is_carried(export):
    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm(hvm=True, firmware="uefi"), disks, nics)
    guest, _stats, _out = read(tmp_path, xva)
    os_el = guest.domain.root.find("os")
    assert os_el.findtext("type") == "hvm"
    assert os_el.find("loader").get("type") == "pflash"


def refused(tmp_path, xva):
    out = tmp_path / "out"
    with pytest.raises(InputError) as e:
        read(tmp_path, xva, out)
    assert list(out.iterdir()) == [], "an image was left behind"
    message = str(e.value)
    assert "\n" not in message
    return message


def test_a_corrupt_chunk_stops_the_read_and_leaves_nothing(export):
    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm(), disks, nics, corrupt=(2, 1))
    message = refused(tmp_path, xva)
    assert "/00000001 is corrupt" in message


def test_a_chunk_without_its_checksum_is_refused(export):
    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm(), disks, nics, drop_checksum=(0, 2))
    assert "/00000002 has no checksum" in refused(tmp_path, xva)


def test_a_truncated_export_is_refused(export):
    tmp_path, disks, nics = export
    whole = write_xva(tmp_path / "whole.xva", pv_vm(), disks, nics)
    cut = tmp_path / "cut.xva"
    with open(whole, "rb") as f:
        cut.write_bytes(f.read(os.path.getsize(whole) // 2 + 100))
    message = refused(tmp_path, cut)
    assert "ends early" in message or "not a whole XVA" in message


def test_data_for_a_vdi_ova_xml_lacks_is_refused(export):
    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm(), disks, nics, extra_vdi=True)
    assert "Ref:777, which ova.xml has no disk for" in refused(tmp_path, xva)


def test_an_ova_xml_naming_a_missing_vdi_is_refused(export):
    tmp_path, disks, nics = export
    from xva_writer import ova_xml

    text = ova_xml(pv_vm(), disks, nics).replace("<member><name>class</name><value>VDI", "<x>", 1)
    # the first VDI's record made unreadable: its VBD names a VDI that is not there
    text = text.replace("<x>", "<member><name>class</name><value>VDX", 1)
    with pytest.raises(InputError, match="which is not a VDI of the export"):
        ovaxml.guest_from_export(ovaxml.parse(text), lambda _name, d: d.vdi)


def test_not_an_xva_is_refused(tmp_path):
    path = tmp_path / "x.xva"
    path.write_bytes(b"\0" * 4096)
    message = refused(tmp_path, path)
    assert "XVA" in message


def test_a_windows_guest_is_refused_saying_why(export):
    tmp_path, disks, nics = export
    vm = pv_vm(hvm=True)
    vm["platform"]["viridian"] = "true"
    xva = write_xva(tmp_path / "g.xva", vm, disks, nics)
    assert "Windows" in refused(tmp_path, xva)


def test_an_empty_keep_alive_chunk_takes_an_index_and_no_room(export):
    """xapi writes an empty chunk when its source stalls; the chunks after
    it are numbered one higher but lie where they did."""
    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm(), disks, nics, stall_before=(0, 2))
    guest, _stats, out = read(tmp_path, xva)
    with open(out / guest.disks[0].vdi.replace(":", "-"), "rb") as a:
        with open(disks[0]["path"], "rb") as b:
            assert a.read() == b.read()


def test_xxhash_checksums_are_xapis_upper_case_hex(export):
    tmp_path, disks, nics = export
    import tarfile

    xva = write_xva(tmp_path / "g.xva", pv_vm(), disks, nics, checksum="xxhash")
    with tarfile.open(xva) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".xxhash"))
        text = tar.extractfile(member).read().decode()
    assert len(text) == 16 and text == text.upper()


def test_a_gzip_compressed_export_is_read_the_same(export):
    """xe vm-export compress=true writes the same tar through gzip."""
    import gzip

    tmp_path, disks, nics = export
    plain = write_xva(tmp_path / "plain.xva", pv_vm(), disks, nics)
    packed = tmp_path / "packed.xva"
    packed.write_bytes(gzip.compress(open(plain, "rb").read(), compresslevel=1))
    guest, stats, out = read(tmp_path, packed)
    with open(out / guest.disks[1].vdi.replace(":", "-"), "rb") as a:
        with open(disks[2]["path"], "rb") as b:
            assert a.read() == b.read()


def _without(xva, out, drop):
    """A copy of the export without the members `drop(name)` picks."""
    import tarfile

    with tarfile.open(xva) as src, tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as dst:
        for member in src:
            if not drop(member.name):
                dst.addfile(member, src.extractfile(member))
    return out


def test_a_disk_without_any_data_is_refused(export):
    """xapi writes every disk's chunk 0: a disk with none was cut out of
    the export, and would otherwise come out all zeros."""
    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm(), disks, nics)
    vdi = disks[2]["vdi"]
    cut = _without(xva, tmp_path / "cut.xva", lambda name: name.startswith(f"{vdi}/"))
    assert f"no data for {vdi}" in refused(tmp_path, cut)


def test_an_oversized_chunk_is_refused_before_it_is_read(export):
    import io
    import tarfile

    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm(), disks, nics)
    vdi = disks[0]["vdi"]
    big = _without(xva, tmp_path / "big.xva", lambda name: name.startswith(f"{vdi}/"))
    with tarfile.open(big, "a") as tar:
        info = tarfile.TarInfo(f"{vdi}/00000000")
        info.size = 2 * MIB
        tar.addfile(info, io.BytesIO(bytes(2 * MIB)))
    assert f"{vdi}/00000000 is {2 * MIB} bytes, too large" in refused(tmp_path, big)


def test_an_image_that_is_there_is_never_written_into(export):
    """Its old data would show through the holes: a disk is read into a
    new file only (or a volume the output made for it)."""
    tmp_path, disks, nics = export
    xva = write_xva(tmp_path / "g.xva", pv_vm(), disks, nics)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / disks[0]["vdi"].replace(":", "-")
    stale.write_bytes(b"old data" * 1000)
    with pytest.raises(InputError, match="cannot write the disk .File exists"):
        read(tmp_path, xva, out)
    assert stale.read_bytes() == b"old data" * 1000
    assert os.listdir(out) == [stale.name]  # the other disk, begun, is gone
