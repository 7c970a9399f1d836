"""disks.domain_disks: a domain's disks opened in the guest's order (no appliance)."""

import subprocess

import pytest

from guestfix.core.errors import InputError
from guestfix.domain.model import Domain
from guestfix.sources.disks import domain_disks, resolve


def disk_xml(source, target, driver=""):
    return (
        f"<disk type='file' device='disk'>{driver}<source file='{source}'/>"
        f"<target dev='{target}'/></disk>"
    )


@pytest.fixture
def images(tmp_path):
    for name in ("a.img", "b.img"):
        (tmp_path / name).write_bytes(b"\0" * (1 << 20))
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "c.qcow2"), "1M"], check=True
    )
    return tmp_path


def domain(d, disks):
    path = d / "dom.xml"
    path.write_text(f"<domain type='xen'><name>x</name><devices>{disks}</devices></domain>")
    return Domain.from_file(str(path))


def test_guest_order_targets_and_formats(images):
    dom = domain(
        images,
        disk_xml("b.img", "xvdb", "<driver name='tap' type='aio'/>")
        + disk_xml(f"{images}/c.qcow2", "xvda", "<driver name='qemu' type='qcow2'/>"),
    )
    disks = domain_disks(dom)
    assert [(d.path, d.format, d.target) for d in disks] == [
        (str(images / "b.img"), "raw", "xvdb"),
        (str(images / "c.qcow2"), "qcow2", "xvda"),
    ]


def test_format_from_driver_type_else_fallback(images):
    dom = domain(images, disk_xml("c.qcow2", "xvda", "<driver name='file' type='raw'/>"))
    with pytest.raises(InputError, match="declared raw"):
        domain_disks(dom)
    dom = domain(images, disk_xml("c.qcow2", "xvda", "<driver name='tap' type='aio'/>"))
    with pytest.raises(InputError, match="declared raw"):
        domain_disks(dom, fmt="raw")


def test_paths_replace_sources_and_an_image_counts_once(images):
    dom = domain(images, disk_xml("a.img", "xvda") + disk_xml("b.img", "xvdb"))
    disks = domain_disks(dom, paths=[str(images / "b.img"), str(images / "a.img")])
    assert [(d.name, d.target) for d in disks] == [("b.img", "xvda"), ("a.img", "xvdb")]
    with pytest.raises(InputError, match="given twice"):
        domain_disks(dom, paths=[str(images / "a.img")] * 2)
    with pytest.raises(InputError, match="1 disk"):
        domain_disks(dom, paths=[str(images / "a.img")])


def test_whole_disks_refuses_partition_images_before_opening_them(tmp_path):
    """xen-tools' layout: swap.img as xvda1, disk.img as xvda2. The images
    do not exist: the refusal comes before anything is opened."""
    dom = domain(tmp_path, disk_xml("swap.img", "xvda1") + disk_xml("disk.img", "xvda2"))
    with pytest.raises(InputError, match="disks xvda1, xvda2 are partition images") as e:
        resolve([], dom.path, whole_disks=True)
    # the hint names the command that can: migrate assembles them
    assert f"guestfix migrate -i libvirtxml {dom.path} -o local -os DIR" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="no such disk image"):
        resolve([], dom.path)


def test_whole_disks_refuses_one_partition_among_whole_disks(images):
    dom = domain(images, disk_xml("a.img", "xvda") + disk_xml("b.img", "hda1"))
    with pytest.raises(InputError, match="disk hda1 is a partition image"):
        resolve([str(images / "a.img"), str(images / "b.img")], dom.path, whole_disks=True)


def test_whole_disks_accepts_whole_disks_and_bare_disk_arguments(images):
    dom = domain(images, disk_xml("a.img", "xvda") + disk_xml("b.img", "xvdb"))
    assert [d.target for d in resolve([], dom.path, whole_disks=True)[0]] == ["xvda", "xvdb"]
    found = resolve([str(images / "a.img")], whole_disks=True)[0]
    assert [d.target for d in found] == ["xvda"]


def test_only_qemus_lock_message_means_a_held_disk():
    """A path with "block" or "lock" in it is no lock (it was exit 4)."""
    from guestfix.disks.image import held_lock_message

    assert held_lock_message(
        "qemu-img: Could not open '/x.img': Failed to get shared \"write\" "
        "lock\nIs another process using the image [/x.img]?"
    )
    assert held_lock_message('Failed to get "write" lock')
    assert not held_lock_message("/srv/xen/block/locked.img: not a valid raw image")
    assert not held_lock_message("/dev/vg0/web-disk is a block device")
