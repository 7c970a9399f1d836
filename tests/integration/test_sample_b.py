"""Sample guest (b): Debian with dracut laid out like SLES 12/15
(hostonly="yes", the Xen drivers in /etc/dracut.conf.d, an initrd without
virtio). fix rebuilds the initrd with dracut in the appliance and the guest
boots on virtio."""

import json

import pytest

from conftest import boot_checked, build_sample, copy_sample, disk_paths, guest_files, guestfix

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def guest(tmp_path_factory, state_dir):
    xml = copy_sample(build_sample("b"), str(tmp_path_factory.mktemp("b")))
    return {"xml": xml, "disks": disk_paths(xml)}


def _boot_kernel(info):
    return [k for k in info["kernels"] if k["version"] == info["boot_kernel"]][0]


def test_fix_rebuilds_the_initrd_with_dracut(guest):
    # before: dracut, and an initrd with the Xen drivers only
    r = guestfix("inspect", "--json", "--domain", guest["xml"])
    assert r.returncode == 0, r.stderr
    before = json.loads(r.stdout)
    assert before["initrd_tool"] == "dracut"
    assert "virtio_blk" not in _boot_kernel(before)["initrd_drivers"]
    assert "xen-blkfront" in _boot_kernel(before)["initrd_drivers"]
    r = guestfix("fix", "--yes", "--json", "--domain", guest["xml"])
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    # after: the rebuilt initrd, as fix checked it
    assert "virtio_blk" in _boot_kernel(report["guest"])["initrd_drivers"]
    commands = [c["target"] for c in report["changes"] if c["kind"] == "command"]
    assert commands[0].startswith("dracut --force --no-hostonly-cmdline --add-drivers virtio_blk virtio_pci "
                                  "virtio_net virtio_balloon virtio_scsi /boot/initrd.img-")
    files = guest_files(guest["disks"], ["/etc/dracut.conf.d/10-xen.conf",
                                         "/etc/dracut.conf.d/01-dist.conf",
                                         "/etc/dracut.conf.d/90-guestfix-virtio.conf"])
    assert files["/etc/dracut.conf.d/10-xen.conf"] == (
        '# written on Xen\nadd_drivers+=" virtio_blk virtio_pci virtio_net virtio_balloon "\n')
    assert 'hostonly="yes"' in files["/etc/dracut.conf.d/01-dist.conf"]
    assert "virtio_blk" in files["/etc/dracut.conf.d/90-guestfix-virtio.conf"]


def test_fixed_dracut_guest_boots(guest):
    result, probe, mounts = boot_checked(guest["xml"])
    assert mounts["/"] == "/dev/vda1"
    assert probe["swap"] == ["/dev/vda2"]
    assert probe["failed"] == []
    assert [n["name"] for n in probe["nics"]] == ["enX0"]
    assert "console=ttyS0" in probe["cmdline"]
