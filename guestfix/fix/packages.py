"""Packages a guest lacks for KVM, and where `fix` gets them.

A Xen PV guest may have only a Xen kernel (kernel-xen, CONFIG_X86_XEN) or no
kernel at all (it lived in dom0), and often no boot loader: pygrub read the
configuration from dom0 and nothing was ever installed in the MBR. virt-v2v
stops there. guestfix installs the distribution's default kernel and boot
loader with the guest's own package tools, either from package files the
administrator supplies (`--package FILE|DIR`, offline) or from the guest's
own repositories through the appliance's network (`--online`).
"""

import os
from dataclasses import dataclass, field

from ..core.errors import InputError, MissingPackagesError, UnsupportedGuestError
from .facts import GRUB2_BIOS_PLATFORM, GRUB2_EFI_PLATFORM

# The distribution's default kernel and BIOS boot loader, per family.
KERNEL_PACKAGES = {
    "debian": "linux-image-amd64",
    "ubuntu": "linux-image-generic",
    "suse": "kernel-default",
    "redhat": "kernel",
}
BOOTLOADER_PACKAGES = {
    "debian": "grub-pc",
    "ubuntu": "grub-pc",
    "suse": "grub2",
    "redhat": "grub2-pc",
}
UEFI_BOOTLOADER_PACKAGES = {
    "debian": "grub-efi-amd64",
    "ubuntu": "grub-efi-amd64",
    "suse": "grub2-x86_64-efi",
    "redhat": "grub2-efi-x64",
}
PACKAGE_SUFFIX = {"deb": ".deb", "rpm": ".rpm"}
# Where supplied package files are put inside the guest while they install.
GUEST_DIR = "/var/tmp/guestfix-packages"


@dataclass
class NeededPackage:
    role: str  # kernel or bootloader
    name: str
    why: str


def _flavour(facts):
    if facts.distro == "ubuntu":
        return "ubuntu"
    if facts.family == "debian" and facts.arch in ("i386", "i686"):
        return "debian-686"
    return facts.family


def needed(facts, direct_boot=False):
    """What the guest must have installed before it can boot on KVM."""
    out = []
    flavour = _flavour(facts)
    if not facts.boot_kernel:
        xen = [k.version for k in facts.kernels if k.xen_only]
        why = (
            f"only Xen kernels are installed ({', '.join(xen)})"
            if xen
            else "no kernel with virtio drivers is installed"
            if facts.kernels
            else "no kernel is installed (it was booted from dom0)"
        )
        name = (
            "linux-image-686-pae"
            if flavour == "debian-686"
            else KERNEL_PACKAGES.get(flavour, KERNEL_PACKAGES.get(facts.family, "a kernel"))
        )
        out.append(NeededPackage("kernel", name, why))
    if not direct_boot and facts.firmware == "efi":
        missing = _missing_uefi_boot_loader(facts, flavour)
        if missing:
            out.append(missing)
    elif not direct_boot and not facts.boot_code:
        missing = _missing_boot_loader(facts, flavour)
        if missing:
            out.append(missing)
    return out


def grub_legacy_distribution(facts):
    """Whether GRUB legacy is the distribution's own boot loader (SLES 11,
    RHEL 5 and 6); for a version inspection could not tell, whether the
    guest is configured for it."""
    major = facts.major_version
    oldest_grub2 = {"suse": 12, "redhat": 7}.get(facts.family)
    if oldest_grub2 is None:
        return False  # Debian and Ubuntu have GRUB 2 since squeeze and 9.10
    if major:
        return major < oldest_grub2
    return facts.bootloader == "grub-legacy"


def _missing_boot_loader(facts, flavour):
    """The boot loader package a disk without boot code needs: the
    distribution's own boot loader, when the guest lacks it or its
    installer. A Debian or Ubuntu guest with GRUB legacy only (xen-tools
    installs grub-legacy for pygrub) moves to GRUB 2 as the distribution
    does, by installing grub-pc."""
    if grub_legacy_distribution(facts):
        if facts.grub_installer:
            return None
        return NeededPackage(
            "bootloader", "grub", "the disk has no boot code and no GRUB installer"
        )
    if GRUB2_BIOS_PLATFORM in facts.grub2_platforms and facts.grub_installer:
        return None
    name = BOOTLOADER_PACKAGES.get(flavour, BOOTLOADER_PACKAGES.get(facts.family, "grub"))
    if facts.grub_legacy:
        why = "the disk has no boot code and the guest has only GRUB legacy, not GRUB 2"
    elif facts.grub2_platforms:
        why = (
            f"the disk has no boot code and the guest's GRUB 2 is for "
            f"{', '.join(facts.grub2_platforms)} only, not BIOS"
        )
    else:
        why = "the disk has no boot code and no GRUB 2 for BIOS"
    return NeededPackage("bootloader", name, why)


def _missing_uefi_boot_loader(facts, flavour):
    """What a UEFI guest needs to boot from an empty NVRAM: its ESP, and
    GRUB for UEFI with its installer (or a boot loader already on the ESP
    to copy to the removable-media path)."""
    if not facts.esp:
        return None  # no package makes one: fix/run.py refuses the guest
    if GRUB2_EFI_PLATFORM in facts.grub2_platforms and facts.grub_installer:
        return None
    if facts.efi_loaders:
        return None  # copied to \EFI\BOOT\ (uefi_boot.py)
    name = UEFI_BOOTLOADER_PACKAGES.get(
        flavour, UEFI_BOOTLOADER_PACKAGES.get(facts.family, "grub")
    )
    return NeededPackage(
        "bootloader", name, "the domain boots through UEFI and the ESP holds no boot loader"
    )


@dataclass
class PackageSource:
    """`--package` files (checked on the host) and/or `--online`."""

    files: list = field(default_factory=list)
    online: bool = False

    @classmethod
    def from_options(cls, paths, online=False):
        files = []
        for path in paths:
            if os.path.isdir(path):
                found = sorted(
                    os.path.join(path, n)
                    for n in os.listdir(path)
                    if n.endswith((".deb", ".rpm")) and os.path.isfile(os.path.join(path, n))
                )
                if not found:
                    raise InputError(
                        f"--package {path}: the directory holds no .deb or .rpm files"
                    )
                files.extend(found)
            elif os.path.isfile(path):
                if not path.endswith((".deb", ".rpm")):
                    raise InputError(f"--package {path}: not a .deb or .rpm file")
                files.append(path)
            else:
                raise InputError(f"--package {path}: no such file or directory")
        for f in files:
            if not os.access(f, os.R_OK):
                raise InputError(f"--package {f}: not readable")
        return cls(files=files, online=online)

    def __bool__(self):
        return bool(self.files) or self.online

    def check_usable(self, facts, wanted):
        """Refuse, before anything changes, what cannot work."""
        if not wanted:
            return
        if not self:
            names = " and ".join(p.name for p in wanted)
            raise MissingPackagesError(
                f"{wanted[0].why}; the guest needs {names} installed",
                packages=[p.name for p in wanted],
                hint="supply the package file(s) with `--package FILE|DIR` "
                "(with their missing dependencies), or let the guest fetch "
                "them from its own repositories with `--online`",
            )
        suffix = PACKAGE_SUFFIX.get(facts.package_format)
        if self.files and suffix is None:
            raise UnsupportedGuestError(
                f"the guest's package format ({facts.package_format or 'unknown'}) "
                "is not one guestfix can install"
            )
        wrong = [f for f in self.files if not f.endswith(suffix)]
        if wrong:
            raise InputError(f"--package {wrong[0]}: the guest installs {suffix} packages")


def install_commands(facts, wanted, guest_files, has_program=lambda name: True):
    """argv lists that install `wanted` in the guest. `guest_files` are the
    supplied files' paths inside the guest. Kernel postinst initrd builds are
    suppressed where the tool allows it: the regenerate-initrd step builds
    the boot kernel's initrd once, with the virtio drivers."""
    if guest_files:
        if facts.package_format == "deb":
            return [
                [
                    "env",
                    "DEBIAN_FRONTEND=noninteractive",
                    "INITRD=No",
                    "dpkg",
                    "--install",
                    "--force-confdef",
                    "--force-confold",
                    *guest_files,
                ]
            ]
        return [["rpm", "--upgrade", "--verbose", "--hash", *guest_files]]
    names = [p.name for p in wanted]
    if facts.package_format == "deb":
        env = ["env", "DEBIAN_FRONTEND=noninteractive", "INITRD=No"]
        return [
            env + ["apt-get", "update"],
            env + ["apt-get", "install", "--yes", "--no-install-recommends", *names],
        ]
    if facts.family == "suse":
        return [["zypper", "--non-interactive", "install", "--no-recommends", *names]]
    return [["dnf" if has_program("dnf") else "yum", "--assumeyes", "install", *names]]
