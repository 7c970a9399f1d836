"""The uefi-boot step's plan: a UEFI guest's boot loader put where OVMF
looks with an empty variable store, by the distribution's installer or by
a copy; nothing for a guest that has it already or boots through BIOS."""

from helpers import MemoryGuest, debian_facts

from guestfix.fix.steps import StepContext, boot_code, uefi_boot
from guestfix.fix.steps.uefi_boot import CopyToFallback, KeepRemovableCopy

ESP = "/boot/efi"
DEBIAN_ESP = {
    f"{ESP}/EFI/debian/grubx64.efi": "MZ",
    "/usr/sbin/grub-install": "#!/bin/sh\n",
    "/usr/bin/debconf-set-selections": "#!/usr/bin/perl\n",
}
RHEL_ESP = {
    f"{ESP}/EFI/redhat/shimx64.efi": "MZ",
    f"{ESP}/EFI/redhat/grubx64.efi": "MZ",
    f"{ESP}/EFI/redhat/mmx64.efi": "MZ",
    f"{ESP}/EFI/redhat/BOOTX64.CSV": "shimx64.efi,redhat,,\n",
    f"{ESP}/EFI/redhat/grub.cfg": "search --no-floppy --fs-uuid --set=dev 1234\n",
}


def efi_facts(files, **kw):
    loaders = sorted(p[len(ESP) + 1 :] for p in files if p.lower().endswith(".efi"))
    base = dict(
        firmware="efi",
        esp=ESP,
        efi_loaders=loaders,
        grub2_platforms=["x86_64-efi"],
        grub_installer="grub-install",
        partition_table="gpt",
    )
    base.update(kw)
    return debian_facts(**base)


def plan(files, facts):
    ctx = StepContext(facts=facts, devmap=None, guest=MemoryGuest(files))
    return ctx, uefi_boot.STEP.plan(ctx)


def test_debian_grub_is_installed_to_the_removable_path_too_and_kept_there():
    ctx, changes = plan(DEBIAN_ESP, efi_facts(DEBIAN_ESP))
    install, keep = changes
    assert install.argv == [
        "grub-install",
        "--target=x86_64-efi",
        "--efi-directory=/boot/efi",
        "--no-nvram",
        "--force-extra-removable",
    ]
    assert isinstance(keep, KeepRemovableCopy)
    assert "grub2/force_efi_extra_removable boolean true" in keep.diff()


def test_a_loader_at_the_removable_path_in_any_case_needs_nothing():
    files = dict(DEBIAN_ESP, **{f"{ESP}/EFI/boot/bootx64.efi": "MZ"})
    ctx, changes = plan(files, efi_facts(files))
    assert changes == []
    assert ctx.notes == [
        "the guest's boot loader is not signed (no shim on the ESP): keep secure boot off for it"
    ]


def test_other_families_get_the_vendor_directory_copied_shim_first():
    facts = efi_facts(RHEL_ESP, family="redhat", distro="rhel", grub_dir="/boot/grub2")
    ctx, changes = plan(RHEL_ESP, facts)
    (copy,) = changes
    assert "signed boot chain" in ctx.notes[0]
    assert isinstance(copy, CopyToFallback)
    assert (copy.vendor, copy.loader) == ("redhat", "shimx64.efi")
    assert copy.target == "/boot/efi/EFI/BOOT/BOOTX64.EFI"


def test_a_debian_guest_without_its_efi_grub_installer_gets_a_copy():
    files = {f"{ESP}/EFI/debian/grubx64.efi": "MZ"}
    ctx, changes = plan(files, efi_facts(files, grub_installer=""))
    assert [(c.vendor, c.loader) for c in changes] == [("debian", "grubx64.efi")]


def test_no_loader_on_the_esp_is_said():
    ctx, changes = plan({}, efi_facts({}, family="suse", grub_installer=""))
    assert changes == []
    assert "stop in the UEFI firmware" in ctx.notes[-1]


def test_bios_guests_are_left_to_boot_code_and_uefi_guests_are_not():
    bios = debian_facts(firmware="bios", boot_code=False, partition_table="msdos")
    efi = efi_facts(DEBIAN_ESP, grub2_platforms=["i386-pc", "x86_64-efi"])
    assert not uefi_boot.STEP.applies(bios) and boot_code.STEP.applies(bios)
    assert uefi_boot.STEP.applies(efi) and not boot_code.STEP.applies(efi)
