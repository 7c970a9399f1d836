"""A Xen HVM guest that boots through UEFI (test-images/hvm.py, layout hu):
xl.cfg `bios = 'ovmf'`, GPT with an ESP, Debian's shim and GRUB in
\\EFI\\debian\\ only, as its installer left them (the boot entry lived in
Xen's NVRAM), root and swap by UUID, enX0 configured by systemd-networkd.

One `migrate -i xl` command: the domain asks for the KVM host's UEFI
firmware, the ESP gets the removable-media path, and the disk boots
through OVMF with a fresh, empty variable store to login, with the ESP
mounted and an address on enX0."""

import os

import pytest
from conftest import checksums
from hvm_guests import HU_MAC, check_hu_booted, esp_files, mounted_partition
from xentools_guests import local_copy, migrate_local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uefi_guest(tmp_path_factory, state_dir):
    guest = local_copy("hu", tmp_path_factory)
    (image,) = guest["images"]
    # as Debian installs it: nothing where a firmware with no entries looks
    assert esp_files(image, 1, "EFI/BOOT") == {}
    assert "shimx64.efi" in esp_files(image, 1, "EFI/debian")
    guest["report"] = migrate_local(guest)
    return guest


def test_the_domain_asks_for_the_hosts_uefi_firmware(uefi_guest):
    report = uefi_guest["report"]
    assert report["firmware"].startswith("UEFI (<loader> /usr/lib/xen/boot/ovmf.bin)")
    with open(os.path.join(uefi_guest["out"], "xenhvm-hu.xml")) as f:
        domain = f.read()
    assert '<os firmware="efi">' in domain
    assert '<feature enabled="no" name="secure-boot" />' in domain
    assert "ovmf.bin" not in domain and "<loader" not in domain and "<nvram" not in domain


def test_the_esp_has_the_removable_path_and_keeps_it(uefi_guest):
    report = uefi_guest["report"]
    (disk,) = report["disks"]
    steps = [(c["step"], c["target"]) for c in report["changes"]]
    assert (
        "uefi-boot",
        "grub-install --target=x86_64-efi --efi-directory=/boot/efi --no-nvram "
        "--force-extra-removable",
    ) in steps
    # no BIOS boot code is written for a firmware that never reads it
    assert not [s for s, _ in steps if s == "boot-code"]
    fallback = esp_files(disk["path"], 1, "EFI/BOOT")
    vendor = esp_files(disk["path"], 1, "EFI/debian")
    # shim where the firmware looks, GRUB next to it, as Debian's own
    # installer puts them with --force-extra-removable
    assert fallback["BOOTX64.EFI"] == vendor["shimx64.efi"]
    assert fallback["grubx64.efi"] == vendor["grubx64.efi"]
    with mounted_partition(disk["path"], 2) as root:
        with open(os.path.join(root, "var/cache/debconf/config.dat")) as f:
            config = f.read()
    entry = config.split("Name: grub2/force_efi_extra_removable\n", 1)[1].split("\n\n", 1)[0]
    assert "Value: true" in entry


def test_it_boots_through_ovmf_with_an_empty_nvram(uefi_guest):
    check_hu_booted(uefi_guest["report"]["boot_check"], HU_MAC)


def test_the_xen_side_is_unchanged(uefi_guest):
    assert checksums(uefi_guest["images"]) == uefi_guest["before"]
