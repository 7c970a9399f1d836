"""A bullseye guest as Debian 12's real xen-create-image makes it with its
defaults (layout xt11): as the bookworm one, one release older (GRUB legacy
0.97 next to grub-common 2.06 of bullseye, systemd 247). Its own apt
installs grub-pc from bullseye's mirror (--online), and it boots."""

import pytest
from conftest import checksums
from xentools_guests import check_booted, guest_fstab, local_copy, migrate_local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bullseye(tmp_path_factory, state_dir):
    return local_copy("xt11", tmp_path_factory)


def test_bullseye_guest_gets_grub_pc_online_and_boots(bullseye):
    report = migrate_local(bullseye, "--online")
    check_booted(report, guest_fstab(bullseye["images"]), "dos")
    assert report["assembled"] == ["xvda1 + xvda2 -> one disk xvda"]
    assert report["changes"][0]["target"].endswith(" grub-pc")
    assert checksums(bullseye["images"]) == bullseye["before"]
