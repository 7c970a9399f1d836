"""BIOS boot code on the first disk, where there is none.

A pygrub guest was started by dom0 reading grub.cfg; its disk has no boot
code and SeaBIOS finds nothing to boot. GRUB's own installer, run inside the
guest, writes it to the first disk. Where it cannot go (a partitionless
disk, GPT without a BIOS boot partition) the user is told, with direct
kernel boot as the alternative.
"""

from dataclasses import dataclass

from ...core.errors import StepError
from ..plan import GuestCommand
from .base import Step


@dataclass
class InstallBootCode(GuestCommand):
    """grub-install with a device.map written for the appliance while it runs.

    The guest's own device.map names the disks as KVM will see them (vda),
    which do not exist in the appliance. The install device and the map
    name the guest's disks as the appliance's kernel does (see
    GuestSession.kernel_devices: libguestfs' API names can point at the
    appliance's own disk), in BIOS order, so grub-install has nothing to
    guess; the guest's map is put back afterwards."""

    device_map: str = ""

    def apply(self, session):
        hidden = None
        if self.device_map and session.is_file(self.device_map):
            hidden = self.device_map + ".guestfix-hidden"
            session.move(self.device_map, hidden)
        try:
            if self.device_map:
                session.write_text(self.device_map, appliance_device_map(session))
            return self._install(session)
        finally:
            if self.device_map:
                session.remove(self.device_map)
            if hidden:
                session.move(hidden, self.device_map)

    def _install(self, session):
        session.sync()
        first = first_guest_disk(session)
        self.argv = self.argv[:-1] + [first]
        return super().apply(session)


def appliance_device_map(session):
    """(hdN) lines for the guest's disks as the appliance's kernel names
    them, in drive (BIOS) order."""
    return "".join(f"(hd{n})\t{dev}\n" for n, dev in enumerate(session.kernel_devices()))


def first_guest_disk(session):
    """The kernel's name for the first disk added (the one the BIOS boots)."""
    devices = session.kernel_devices()
    if not devices:
        raise StepError("the first disk is not visible in the appliance")
    return devices[0]


class BootCode(Step):
    name = "boot-code"
    title = "BIOS boot code installed where the disk has none"
    changes = "the first disk's MBR and post-MBR gap (grub-install / grub2-install)"
    # grub-install reads /etc/default/grub, which bootloader-config fixes;
    # the initrd rebuild is started first, so that it runs alongside
    after = ("bootloader-config", "regenerate-initrd")

    def applies(self, facts):
        # a UEFI guest's firmware never reads the MBR (uefi_boot.py)
        return (
            facts.bootloader in ("grub2", "grub-legacy")
            and not facts.boot_code
            and facts.firmware != "efi"
        )

    def plan(self, ctx):
        f = ctx.facts
        alternative = (
            "boot it with direct kernel boot instead: `guestfix fix --direct-boot DIR` "
            "copies the kernel and initrd out and `guestfix xml --direct-boot "
            "DIR/NAME-direct-boot.json` puts them in the domain "
            f"({ctx.facts.kernel(f.boot_kernel).vmlinuz if f.boot_kernel else 'no kernel'})"
        )
        if not f.partition_table:
            ctx.notes.append(
                "the first disk has no partition table, so no boot code can be "
                "installed; " + alternative
            )
            return []
        if f.partition_table == "gpt" and not f.bios_boot_partition:
            ctx.notes.append(
                "the first disk is GPT without a BIOS boot partition, so GRUB "
                "cannot be installed for BIOS; " + alternative
            )
            return []
        if not f.grub_installer:
            ctx.notes.append(
                "the disk has no boot code and the guest has no grub-install "
                "(install grub-pc in the guest)"
            )
            return []
        first = f.appliance_disks[0]
        # GRUB legacy's grub-install (SLES 11) has no --target; it must not
        # probe for a floppy the appliance does not have.
        option = "--no-floppy" if f.bootloader == "grub-legacy" else "--target=i386-pc"
        return [
            InstallBootCode(
                step=self.name,
                summary="GRUB boot code written to the first disk",
                argv=[f.grub_installer, option, first],
                display=f"{f.grub_installer} {option} <first disk>",
                device_map=f"{f.grub_dir}/device.map",
            )
        ]


STEP = BootCode()
