"""A UEFI guest's boot loader where the firmware looks with an empty NVRAM.

Xen kept the guest's UEFI variables (its Boot#### entries) with the domain;
the KVM domain starts with a fresh variable store, and OVMF then only tries
the removable-media path \\EFI\\BOOT\\BOOTX64.EFI on each disk. Debian and
Ubuntu install GRUB to \\EFI\\debian\\ (\\EFI\\ubuntu\\) only, so such a guest
stops in the firmware.

Debian and Ubuntu: GRUB's own installer with --force-extra-removable, which
writes the same GRUB (and shim, where the guest boots through it) to
\\EFI\\BOOT\\ too, and the debconf answer that makes later GRUB upgrades keep
that copy current. Other guests: the boot loader's directory (shim first,
else GRUB, else systemd-boot) is copied into \\EFI\\BOOT\\, its loader as
BOOTX64.EFI; shim and a signed GRUB look for their companions and grub.cfg
in their own directory, so the whole directory goes. Either way the file is
checked on the ESP afterwards.
"""

from dataclasses import dataclass

from ...core.errors import StepError
from ..facts import GRUB2_EFI_PLATFORM
from ..guest import has_program
from ..plan import Change, GuestCommand
from .base import Step

FALLBACK_DIR = "EFI/BOOT"
FALLBACK_LOADER = "EFI/BOOT/BOOTX64.EFI"
# the loaders a vendor directory is booted through, preferred first: shim
# (it then starts grubx64.efi next to it), GRUB, systemd-boot
VENDOR_LOADERS = ("shimx64.efi", "grubx64.efi", "systemd-bootx64.efi")
# set in grub-efi-amd64's debconf: its postinst then runs grub-install with
# --force-extra-removable on every upgrade
DEBCONF_SELECTION = "grub-efi-amd64 grub2/force_efi_extra_removable boolean true\n"


def fallback_loader(guest, esp):
    """The removable-media loader on the ESP mounted at `esp` (FAT ignores
    case, so \\efi\\boot\\bootx64.efi counts), as its guest path, or ""."""
    boot = next((d for d in guest.ls(f"{esp}/EFI") if d.upper() == "BOOT"), None)
    if boot is None:
        return ""
    name = next((n for n in guest.ls(f"{esp}/EFI/{boot}") if n.upper() == "BOOTX64.EFI"), None)
    return f"{esp}/EFI/{boot}/{name}" if name else ""


def check_fallback(esp):
    def verify(session):
        if not fallback_loader(session, esp):
            raise StepError(f"uefi-boot: {esp}/{FALLBACK_LOADER} is not there afterwards")

    return verify


def vendor_loader(loaders):
    """(vendor directory, loader file) the guest boots through, from the
    \\EFI\\... files on its ESP; None when there is none to copy."""
    by_dir = {}
    for path in loaders:
        parts = path.split("/")
        if len(parts) == 3 and parts[1].upper() != "BOOT":
            by_dir.setdefault(parts[1], []).append(parts[2])
    for wanted in VENDOR_LOADERS:
        for vendor in sorted(by_dir):
            name = next((n for n in by_dir[vendor] if n.lower() == wanted), None)
            if name:
                return vendor, name
    return None


@dataclass
class CopyToFallback(Change):
    """The files of a vendor directory on the ESP copied into \\EFI\\BOOT\\,
    its boot loader once more as BOOTX64.EFI."""

    esp: str = ""
    vendor: str = ""
    loader: str = ""
    kind = "copy"

    @property
    def target(self):
        return f"{self.esp}/{FALLBACK_LOADER}"

    def diff(self):
        return (
            f"copy {self.esp}/EFI/{self.vendor}/* -> {self.esp}/{FALLBACK_DIR}/\n"
            f"copy {self.esp}/EFI/{self.vendor}/{self.loader} -> {self.target}\n"
        )

    def apply(self, session):
        source = f"{self.esp}/EFI/{self.vendor}"
        dest = f"{self.esp}/{FALLBACK_DIR}"
        session.mkdir_p(dest)
        for name in session.ls(source):
            if session.is_file(f"{source}/{name}"):
                session.copy(f"{source}/{name}", f"{dest}/{name}")
        session.copy(f"{source}/{self.loader}", self.target)
        check_fallback(self.esp)(session)


@dataclass
class KeepRemovableCopy(GuestCommand):
    """debconf told to keep GRUB's removable-media copy on upgrades; the
    answer goes through a file in the guest, removed again."""

    answer_file: str = ""

    def diff(self):
        return f"debconf: {DEBCONF_SELECTION}"

    def apply(self, session):
        session.write_text(self.answer_file, DEBCONF_SELECTION, 0o600)
        try:
            return super().apply(session)
        finally:
            session.remove(self.answer_file)


class UefiBoot(Step):
    name = "uefi-boot"
    title = "UEFI boot loader at the removable-media path (empty NVRAM)"
    changes = "the ESP's \\EFI\\BOOT\\ (grub-install --force-extra-removable, or a copy)"
    # grub-install reads /etc/default/grub, which bootloader-config fixes;
    # the initrd rebuild is started first, so that it runs alongside
    after = ("bootloader-config", "regenerate-initrd")

    def applies(self, facts):
        return facts.firmware == "efi"

    def plan(self, ctx):
        f = ctx.facts
        if not f.esp:
            ctx.notes.append(
                "UEFI guest without a mounted EFI system partition: its boot loader "
                "cannot be put where the firmware looks"
            )
            return []
        if any(p.lower().endswith("/shimx64.efi") for p in f.efi_loaders):
            ctx.notes.append(
                "the guest boots through shim, a signed boot chain: it can run with "
                "secure boot on (the domain has it on only where the Xen domain had)"
            )
        else:
            ctx.notes.append(
                "the guest's boot loader is not signed (no shim on the ESP): "
                "keep secure boot off for it"
            )
        if fallback_loader(ctx.guest, f.esp):
            return []
        if f.family == "debian" and f.grub_installer and GRUB2_EFI_PLATFORM in f.grub2_platforms:
            return self._grub_install(f, has_program(ctx.guest, "debconf-set-selections"))
        found = vendor_loader(f.efi_loaders)
        if not found:
            ctx.notes.append(
                f"no boot loader on the ESP ({f.esp}/EFI/*/*.efi): the guest will "
                "stop in the UEFI firmware"
            )
            return []
        vendor, loader = found
        return [
            CopyToFallback(
                step=self.name,
                summary=f"{f.esp}/EFI/{vendor}/ copied to {f.esp}/{FALLBACK_DIR}/ "
                f"({loader} as BOOTX64.EFI)",
                esp=f.esp,
                vendor=vendor,
                loader=loader,
            )
        ]

    def _grub_install(self, f, has_debconf):
        argv = [
            f.grub_installer,
            f"--target={GRUB2_EFI_PLATFORM}",
            f"--efi-directory={f.esp}",
            # the KVM host's variable store is not the guest's to write
            "--no-nvram",
            "--force-extra-removable",
        ]
        changes = [
            GuestCommand(
                step=self.name,
                summary=f"GRUB installed to {f.esp}/{FALLBACK_LOADER} as well",
                argv=argv,
                verify=check_fallback(f.esp),
            )
        ]
        if has_debconf:
            changes.append(
                KeepRemovableCopy(
                    step=self.name,
                    summary="GRUB upgrades keep the removable-media copy (debconf)",
                    argv=["debconf-set-selections", "/root/guestfix-debconf"],
                    answer_file="/root/guestfix-debconf",
                )
            )
        return changes


STEP = UefiBoot()
