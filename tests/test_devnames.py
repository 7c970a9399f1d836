from guestfix.core.devnames import DeviceMap, is_partition_target, virtio_name


def test_virtio_names():
    assert [virtio_name(i) for i in (0, 1, 25, 26, 27)] == ["vda", "vdb", "vdz", "vdaa", "vdab"]


def test_domain_order_not_letters():
    m = DeviceMap(["xvda", "xvdc"])
    assert m.rewrite("root=/dev/xvda1 swap=/dev/xvdc2")[0] == "root=/dev/vda1 swap=/dev/vdb2"


def test_partitions_exported_as_disks():
    m = DeviceMap(["xvda1", "xvda2"])
    assert (
        m.rewrite("/dev/xvda1 / ext4\n/dev/xvda2 none swap\n")[0]
        == "/dev/vda / ext4\n/dev/vdb none swap\n"
    )


def test_unknown_names_kept_and_reported():
    text, unknown = DeviceMap(["xvda"]).rewrite("/dev/xvdz1 /dev/xvda")
    assert text == "/dev/xvdz1 /dev/vda" and unknown == ["/dev/xvdz1"]


def test_not_fooled_by_lookalikes():
    m = DeviceMap.default(2)
    text = "/mnt/dev/xvda1 /dev/xvdab UUID=/dev/xvda-x LABEL=xvda1 /dev/xvda1p"
    assert m.rewrite(text)[0] == text


def test_partition_targets():
    assert [
        t for t in ("xvda1", "xvda2", "sda3", "hda1", "xvdaa12") if is_partition_target(t)
    ] == ["xvda1", "xvda2", "sda3", "hda1", "xvdaa12"]
    assert not any(is_partition_target(t) for t in ("xvda", "xvdaa", "hdc", "51712", ""))


def test_an_emulated_hvm_disk_is_the_xvd_name_its_guest_used():
    """Xen gave the disk as hda; the guest's PV driver called it xvda."""
    m = DeviceMap(["hda", "hdb"])
    text = "/dev/xvda1 / ext4 defaults 0 1\n/dev/xvdb2 none swap sw 0 0\n/dev/hda3 /x ext4\n"
    new, unknown = m.rewrite(text)
    assert new == "/dev/vda1 / ext4 defaults 0 1\n/dev/vdb2 none swap sw 0 0\n/dev/vda3 /x ext4\n"
    assert unknown == []
    # a domain that has both kinds keeps them apart
    both = DeviceMap(["xvda", "hda"])
    assert both.rename("xvda1") == "vda1" and both.rename("hda1") == "vdb1"
