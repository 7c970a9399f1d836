"""Sample guest (d): separate /boot, two disks, LVM, swap on the second
disk, root=/dev/xvda2 typed into GRUB settings with GRUB_DISABLE_LINUX_UUID:
fix, then boot it."""

import json

import pytest

from conftest import copy_sample, disk_paths, guestfix

pytestmark = pytest.mark.slow


def test_fix_then_boot(sample_d, tmp_path, state_dir):
    xml = copy_sample(sample_d, str(tmp_path))
    r = guestfix("fix", "--yes", "--json", "--domain", xml)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["committed"]
    targets = {c["target"] for c in report["changes"]}
    assert {"/etc/fstab", "/etc/default/grub", "/boot/grub/device.map"} <= targets

    r = guestfix("boot-check", "--json", "--timeout", "400", "--domain", xml)
    result = json.loads(r.stdout)
    assert r.returncode == 0, result.get("tail")
    probe = result["probe"]
    mounts = {m["target"]: m["source"] for m in probe["mounts"]}
    assert mounts["/"] == "/dev/vda2"
    assert mounts["/boot"] == "/dev/vda1"
    assert mounts["/srv"] == "/dev/mapper/datavg-srv"
    assert probe["swap"] == ["/dev/vdb1"]
    assert probe["failed"] == []
    assert [n["name"] for n in probe["nics"]] == ["enX0"]
    # grub-mkconfig wrote the appliance's /dev/sda2; it must read vda2
    assert "root=/dev/vda2" in probe["cmdline"] and "/dev/sd" not in probe["cmdline"]
    assert "resume=/dev/vdb1" in probe["cmdline"]
