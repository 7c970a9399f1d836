"""Step 7b: BIOS boot code on the first disk, where there is none.

A pygrub guest was started by dom0 reading grub.cfg; its disk has no boot
code and SeaBIOS finds nothing to boot. GRUB's own installer, run inside the
guest, writes it to the first disk. Where it cannot go (a partitionless
disk, GPT without a BIOS boot partition) the user is told, with direct
kernel boot as the alternative.
"""

from ..plan import GuestCommand
from . import Step


class BootCode(Step):
    name = "boot-code"
    title = "BIOS boot code installed where the disk has none"
    changes = "the first disk's MBR and post-MBR gap (grub-install --target=i386-pc)"

    def applies(self, facts):
        return facts.bootloader == "grub2" and not facts.boot_code

    def plan(self, ctx):
        f = ctx.facts
        alternative = ("boot it with direct kernel boot instead: the domain's <os> "
                       f"<kernel>{ctx.facts.kernel(f.boot_kernel).vmlinuz if f.boot_kernel else ''}"
                       "</kernel> and <initrd>, copied out of the guest")
        if not f.partition_table:
            ctx.notes.append("the first disk has no partition table, so no boot code can be "
                             "installed; " + alternative)
            return []
        if f.partition_table == "gpt" and not f.bios_boot_partition:
            ctx.notes.append("the first disk is GPT without a BIOS boot partition, so GRUB "
                             "cannot be installed for BIOS; " + alternative)
            return []
        if not f.grub_installer:
            ctx.notes.append("the disk has no boot code and the guest has no grub-install "
                             "(install grub-pc in the guest)")
            return []
        first = f.appliance_disks[0]
        return [GuestCommand(step=self.name, summary="GRUB boot code written to the first disk",
                             argv=[f.grub_installer, "--target=i386-pc", first],
                             display=f"{f.grub_installer} --target=i386-pc <first disk>")]


STEP = BootCode()
