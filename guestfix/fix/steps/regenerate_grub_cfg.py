"""grub.cfg regenerated from the fixed settings.

Runs when this run changed the boot loader's inputs or when grub.cfg still
names Xen devices or consoles (a pygrub-era grub.cfg always does).
"""

from ..facts import scan_references
from ..guest import has_program
from ..plan import GuestCommand
from .base import Step


def mkconfig_argv(guest, grub_cfg):
    if has_program(guest, "update-grub") and grub_cfg == "/boot/grub/grub.cfg":
        return ["update-grub"]
    for tool in ("grub2-mkconfig", "grub-mkconfig"):
        if has_program(guest, tool):
            return [tool, "-o", grub_cfg]
    return None


class RegenerateGrubCfg(Step):
    name = "regenerate-grub-cfg"
    title = "grub.cfg regenerated"
    changes = "grub.cfg (by update-grub / grub-mkconfig)"
    # the steps whose changes grub-mkconfig reads (kernels, initrds, settings)
    reads = (
        "install-packages",
        "device-names",
        "bootloader-config",
        "kernel-arguments",
        "boot-code",
        "regenerate-initrd",
    )
    # not read, but grub-install for UEFI then runs while the initrd is
    # rebuilt in the background, before this step waits for it
    after = ("uefi-boot",)

    def applies(self, facts):
        return facts.bootloader == "grub2"

    def plan(self, ctx):
        cfg = ctx.facts.grub_cfg
        text = ctx.guest.read_text(cfg)
        stale = text is None or scan_references(cfg, text)
        if not (ctx.changed(*self.reads) or stale):
            return []
        argv = mkconfig_argv(ctx.guest, cfg)
        if argv is None:
            ctx.notes.append(
                f"{cfg} is missing or names Xen devices, and the guest has no "
                "grub-mkconfig to regenerate it"
            )
            return []
        return [GuestCommand(step=self.name, summary=f"{cfg} regenerated", argv=argv)]


STEP = RegenerateGrubCfg()
