"""Partition images and bare filesystems assembled into one partitioned
disk (assembly.py): real nbdkit, real qemu-img and sfdisk, no appliance."""

import json
import os
import subprocess
import tempfile

import pytest

from guestfix.core.devnames import DeviceMap
from guestfix.core.errors import InputError
from guestfix.disks import assembly
from guestfix.disks.image import open_disk
from guestfix.domain.disk import merge_partition_images
from guestfix.domain.model import Domain
from guestfix.sources.disks import resolve

MIB = 1 << 20


def make_fs(path, size_mib, kind="ext4"):
    with open(path, "wb") as f:
        f.truncate(size_mib * MIB)
    if kind == "swap":
        os.chmod(path, 0o600)
        subprocess.run(["mkswap", "-q", str(path)], check=True, capture_output=True)
    else:
        force = "-f" if kind == "xfs" else "-F"
        subprocess.run([f"mkfs.{kind}", "-q", force, str(path)], check=True)
    return str(path)


@pytest.fixture
def xen_tools_images(tmp_path):
    """disk.img exported as xvda2 and swap.img as xvda1, in that order, as
    xen-tools writes disk = [...]."""
    root = open_disk(make_fs(tmp_path / "disk.img", 40), target="xvda2")
    swap = open_disk(make_fs(tmp_path / "swap.img", 16, "swap"), target="xvda1")
    return [root, swap]


def partition_table(path_or_uri, fmt="raw"):
    """sfdisk's view of the first MiB the assembled disk serves."""
    with tempfile.TemporaryDirectory() as tmp:
        head = os.path.join(tmp, "head.img")
        subprocess.run(
            [
                "qemu-img",
                "dd",
                "-f",
                fmt,
                "-O",
                "raw",
                "bs=512",
                "count=2048",
                f"if={path_or_uri}",
                f"of={head}",
            ],
            check=True,
            capture_output=True,
        )
        out = subprocess.run(
            ["sfdisk", "--json", head], check=True, capture_output=True, text=True
        ).stdout
    return json.loads(out)["partitiontable"]["partitions"]


def test_partition_images_share_one_disk_with_their_numbers(xen_tools_images):
    layout = assembly.plan(xen_tools_images)
    assert layout.targets == ["xvda"]
    (a,) = layout.assemblies
    assert [(n, d.target) for n, d in a.parts] == [(1, "xvda1"), (2, "xvda2")]
    devmap = DeviceMap(layout.targets, layout.aliases())
    assert devmap.rename("xvda2") == "vda2" and devmap.rename("xvda1") == "vda1"
    with assembly.served(layout) as disks:
        (disk,) = disks
        assert disk.path.startswith("nbd+unix:///?socket=") and disk.format == "raw"
        parts = partition_table(disk.path)
        # swap typed as swap, root as Linux, both where the plugin aligns them
        assert [(p["type"], p["start"]) for p in parts] == [("82", 2048), ("83", 2048 + 16 * 2048)]
        assert parts[0]["size"] == 16 * 2048 and parts[1]["size"] == 40 * 2048
        assert disk.virtual_size == (1 + 16 + 40) * MIB
        assert [p.target for p in disk.parts] == ["xvda1", "xvda2"]
    # the server is gone with the block
    assert not os.path.exists(disk.path.split("socket=")[1])


def test_a_missing_number_gets_a_placeholder(tmp_path):
    root = open_disk(make_fs(tmp_path / "disk.img", 20), target="xvda2")
    layout = assembly.plan([root])
    with assembly.served(layout) as (disk,):
        parts = partition_table(disk.path)
    assert [p["node"][-1] for p in parts] == ["1", "2"]
    assert parts[0]["type"] == "da" and parts[1]["type"] == "83"


def test_a_bare_filesystem_first_disk_becomes_partition_1(tmp_path):
    bare = open_disk(make_fs(tmp_path / "root.img", 20), target="xvda")
    data = open_disk(make_fs(tmp_path / "data.img", 20), target="xvdb")
    layout = assembly.plan([bare, data])
    assert [type(e).__name__ for e in layout.entries] == ["Assembly", "Disk"]
    devmap = DeviceMap(layout.targets, layout.aliases())
    # every reference to the bare disk now means its partition; data disks
    # mounted as /dev/xvdb work on virtio as they are
    assert (
        devmap.rewrite("/dev/xvda / ext4\n/dev/xvdb /srv ext4")[0]
        == "/dev/vda1 / ext4\n/dev/vdb /srv ext4"
    )
    assert devmap.disk_name("xvda") == "vda"
    with assembly.served(layout) as disks:
        assert disks[1] is data
        assert [p["start"] for p in partition_table(disks[0].path)] == [2048]


def test_plain_disks_need_no_server(tmp_path):
    disk = tmp_path / "whole.img"
    disk.write_bytes(b"\0" * MIB)
    layout = assembly.plan([open_disk(str(disk), target="xvda")])
    assert layout.assemblies == []
    with assembly.served(layout) as disks:
        assert disks[0].path == str(disk)


def test_images_it_cannot_serve_are_refused_with_the_way_out(tmp_path):
    qcow = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "8M"], check=True)
    with pytest.raises(InputError, match="xvda2 is qcow2; guestfix assembles raw") as e:
        assembly.check_servable(assembly.plan([open_disk(str(qcow), target="xvda2")]))
    assert "qemu-img convert" in str(e.value)
    swap = open_disk(make_fs(tmp_path / "swap.img", 8, "swap"), target="xvda1")
    with pytest.raises(InputError, match="partitions 1 to 128"):
        assembly.plan([swap, open_disk(make_fs(tmp_path / "x.img", 8), target="xvda129")])
    with pytest.raises(InputError, match="both the disk xvda and its partition xvda1"):
        assembly.plan([open_disk(make_fs(tmp_path / "w.img", 8), target="xvda"), swap])


def test_fix_refuses_a_bare_filesystem_and_names_migrate(tmp_path):
    path = make_fs(tmp_path / "root.img", 20)
    before = open(path, "rb").read()
    with pytest.raises(InputError, match="bare ext filesystem with no partition table") as e:
        resolve([path], whole_disks=True)
    assert "guestfix migrate -i libvirtxml" in str(e.value)
    assert open(path, "rb").read() == before


def test_the_domain_keeps_one_disk_element_per_assembled_disk(tmp_path):
    xml = tmp_path / "web.xml"
    xml.write_text(
        "<domain type='xen'><name>web</name><devices>"
        "<disk type='file' device='disk'><source file='disk.img'/>"
        "<target dev='xvda2' bus='xen'/></disk>"
        "<disk type='file' device='disk'><source file='swap.img'/>"
        "<target dev='xvda1' bus='xen'/></disk>"
        "<disk type='file' device='cdrom'><source file='x.iso'/>"
        "<target dev='hdc' bus='ide'/></disk>"
        "</devices></domain>"
    )
    dom = Domain.from_file(str(xml))
    merge_partition_images(dom, {"xvda": ["xvda2", "xvda1"]})
    assert [(d.target, d.source, d.device) for d in dom.disks()] == [
        ("xvda", "disk.img", "disk"),
        ("hdc", "x.iso", "cdrom"),
    ]


def test_read_only_consumers_get_the_assembled_disk_as_an_image_file(xen_tools_images):
    """inspect opens what libguestfs can open: an overlay over the NBD disk."""
    with assembly.readable(xen_tools_images) as (disks, devmap):
        (disk,) = disks
        assert disk.path.endswith(".qcow2") and os.path.isfile(disk.path)
        assert [p["type"] for p in partition_table(disk.path, "qcow2")] == ["82", "83"]
        assert devmap.rename("xvda2") == "vda2"
    assert not os.path.exists(disk.path)


def assembled_copy(disk, dest):
    """The served disk copied into a raw file, as migrate's copy reads it."""
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "raw", disk.path, str(dest)], check=True
    )
    return dest


def same_bytes(image_path, disk_path, offset):
    size = os.path.getsize(image_path)
    with open(image_path, "rb") as a, open(disk_path, "rb") as b:
        b.seek(offset)
        while size:
            n = min(size, 4 * MIB)
            if a.read(n) != b.read(n):
                return False
            size -= n
    return True


def test_eight_partition_images_keep_their_numbers_on_gpt(tmp_path):
    """xen-tools' sample-server scheme: root ext3 as xvda1, swap xvda2 and
    six xfs images, xvda3 to xvda8, given out of order. An MBR would need
    an extended partition that renumbers 5 on; a GPT keeps every number,
    with the BIOS boot partition GRUB needs in the first free entry (9)."""
    kinds = {1: "ext3", 2: "swap", **{n: "xfs" for n in range(3, 9)}}
    images = {
        n: open_disk(make_fs(tmp_path / f"p{n}.img", 16 + 300 * (n > 2), kind), target=f"xvda{n}")
        for n, kind in kinds.items()
    }
    layout = assembly.plan([images[n] for n in (2, 1, 5, 3, 4, 8, 6, 7)])
    with assembly.served(layout) as (disk,):
        copy = assembled_copy(disk, tmp_path / "assembled.img")
    table = json.loads(
        subprocess.run(
            ["sfdisk", "--json", str(copy)], check=True, capture_output=True, text=True
        ).stdout
    )["partitiontable"]
    assert table["label"] == "gpt"
    parts = {int(p["node"].rsplit("img", 1)[1]): p for p in table["partitions"]}
    assert sorted(parts) == list(range(1, 10))
    assert parts[9]["type"] == "21686148-6449-6E6F-744E-656564454649"  # BIOS boot
    assert parts[2]["type"] == "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"  # swap
    assert subprocess.run(["sfdisk", "--verify", str(copy)], capture_output=True).returncode == 0
    for n, image in images.items():
        assert parts[n]["start"] % 2048 == 0
        assert same_bytes(image.path, str(copy), parts[n]["start"] * 512), f"xvda{n}"
    blkid = subprocess.run(
        [
            "blkid",
            "-p",
            "-o",
            "value",
            "-s",
            "TYPE",
            "-O",
            str(parts[5]["start"] * 512),
            str(copy),
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert blkid == "xfs"
    # the copy stays sparse: the holes of the images were reported as holes
    assert (
        os.stat(copy).st_blocks * 512
        < sum(os.stat(i.path).st_blocks * 512 for i in images.values()) + 4 * MIB
    )


def test_partition_images_on_block_devices_are_assembled(tmp_path):
    """xen-tools with --lvm: the images are block devices (loop devices
    here, as this kernel has no device-mapper)."""
    files = [make_fs(tmp_path / "disk.img", 40), make_fs(tmp_path / "swap.img", 16, "swap")]
    loops = [
        subprocess.run(
            ["losetup", "--find", "--show", "--read-only", f],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for f in files
    ]
    try:
        layout = assembly.plan(
            [open_disk(loops[0], target="xvda2"), open_disk(loops[1], target="xvda1")]
        )
        with assembly.served(layout) as (disk,):
            copy = assembled_copy(disk, tmp_path / "assembled.img")
        starts = [p["start"] for p in partition_table(str(copy))]
        assert same_bytes(files[1], str(copy), starts[0] * 512)
        assert same_bytes(files[0], str(copy), starts[1] * 512)
    finally:
        for loop in loops:
            subprocess.run(["losetup", "-d", loop])
