"""A bookworm guest as Debian 12's real xen-create-image makes it with its
defaults (layout xt12): pygrub, GRUB legacy (grub-legacy) next to GRUB 2's
grub-common, disk.img as xvda2 and swap.img as xvda1, eth0 by DHCP.

Without --online or --package the run stops while planning, names grub-pc
and both ways to provide it, and writes nothing. With --online the guest's
own apt installs grub-pc from its mirror (Debian's move from GRUB legacy),
and the guest boots from its own boot code."""

import os

import pytest
from conftest import checksums, guestfix
from xentools_guests import check_booted, guest_fstab, local_copy, migrate_local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bookworm(tmp_path_factory, state_dir):
    return local_copy("xt12", tmp_path_factory)


def test_without_online_the_refusal_names_grub_pc_and_changes_nothing(bookworm):
    log = bookworm["top"] / "refused.log"
    r = guestfix(
        "migrate",
        "-i",
        "xl",
        bookworm["cfg"],
        "-o",
        "local",
        "-os",
        bookworm["out"],
        "--yes",
        "--log",
        log,
    )
    assert r.returncode == 5, r.stderr
    # the progress lines go to stderr too; the error is the last one
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("guestfix: error: ") and "Traceback" not in r.stderr
    assert "has only GRUB legacy" in line and "needs grub-pc installed" in line
    assert "--online" in line and "--package" in line
    # it stopped while planning: the guest was read, no step ran
    text = log.read_text()
    assert "reading the guest's configuration" in text
    assert "default kernel and boot loader installed" not in text
    assert list(bookworm["out"].iterdir()) == []
    assert checksums(bookworm["images"]) == bookworm["before"]


def test_online_gets_grub_pc_from_the_guests_mirror_and_it_boots(bookworm):
    report = migrate_local(bookworm, "--online")
    check_booted(report, guest_fstab(bookworm["images"]), "dos")
    assert report["assembled"] == ["xvda1 + xvda2 -> one disk xvda"]
    install = report["changes"][0]
    assert install["step"] == "install-packages"
    assert install["target"].endswith("apt-get install --yes --no-install-recommends grub-pc")
    assert [c["target"] for c in report["changes"] if c["step"] == "boot-code"] == [
        "grub-install --target=i386-pc <first disk>"
    ]
    assert checksums(bookworm["images"]) == bookworm["before"]
    with open(os.path.join(bookworm["out"], "xt-xt12.xml")) as f:
        domain = f.read().lower()
    with open(bookworm["cfg"]) as f:
        mac = f.read().split("mac=", 1)[1].split("'")[0].lower()
    assert f'<mac address="{mac}"' in domain
