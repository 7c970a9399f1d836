"""Sample guest (e): its kernel lived in dom0, so the disk has no kernel
package and no boot loader. With the .deb files the image build fetched
(apt-get download from the guest's own mirror) fix installs them offline
with the guest's dpkg, and the guest boots from its own disk. (The refusal
without packages is proven on the SLES layouts, which are cheaper.)"""

import json
import os

import pytest

from conftest import boot_checked, build_sample, copy_sample, disk_paths, guestfix

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def guest(tmp_path_factory, state_dir):
    built = build_sample("e")
    xml = copy_sample(built, str(tmp_path_factory.mktemp("e")))
    return {"xml": xml, "disks": disk_paths(xml),
            "packages": os.path.join(os.path.dirname(built), "packages")}


def test_fix_installs_kernel_and_boot_loader(guest):
    r = guestfix("fix", "--yes", "--json", "--package", guest["packages"],
                 "--domain", guest["xml"])
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    steps = [c["step"] for c in report["changes"]]
    assert steps[0] == "install-packages"
    install = report["changes"][0]["target"]
    assert install.startswith("env DEBIAN_FRONTEND=noninteractive INITRD=No dpkg --install")
    assert "linux-image-amd64_" in install and "grub-pc_" in install
    assert report["guest"]["boot_kernel"].endswith("-amd64")     # found after the install
    commands = [c["target"].split()[0] for c in report["changes"] if c["kind"] == "command"]
    # the initrd is built once, by guestfix, after the module list is fixed
    assert commands[1:] == ["update-initramfs", "grub-install", "update-grub"]


def test_domain_boots_from_disk_not_dom0_kernel(guest, tmp_path):
    out = tmp_path / "kvm.xml"
    r = guestfix("xml", guest["xml"], "--virt-type", "qemu", "--out", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "<kernel>" not in text and "<cmdline>" not in text
    assert "<boot dev=\"hd\"" in text or "<boot dev='hd'" in text


def test_repaired_guest_boots(guest):
    result, probe, mounts = boot_checked(guest["xml"])
    assert mounts["/"] == "/dev/vda1"
    assert probe["failed"] == []
