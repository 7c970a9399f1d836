"""Step 7a: rebuild the boot kernel's initrd so it carries virtio_blk.

Only the kernel the fixed guest will boot is rebuilt, and only when this run
changed something the initrd contains or the initrd lacks virtio_blk. The
result is checked by listing the new initrd.
"""

from ..errors import StepError
from ..facts import initrd_drivers
from ..plan import GuestCommand
from . import Step

# Earlier steps whose changes end up inside the initrd.
INITRD_INPUTS = ("initrd-modules", "device-names", "bootloader-config", "nic-names", "cleanup")


def verify_initrd(path):
    def check(session):
        listing = session.run(["lsinitramfs", path])
        if not listing.ok or "virtio_blk" not in initrd_drivers(listing.stdout):
            raise StepError(f"the rebuilt initrd {path} does not contain virtio_blk")
    return check


class RegenerateInitrd(Step):
    name = "regenerate-initrd"
    title = "initrd of the boot kernel rebuilt with virtio drivers"
    changes = "/boot/initrd.img-VERSION of the boot kernel"

    def applies(self, facts):
        return facts.initrd_tool == "initramfs-tools" and bool(facts.boot_kernel)

    def plan(self, ctx):
        kernel = ctx.facts.kernel(ctx.facts.boot_kernel)
        missing = not kernel.initrd
        if not (missing or ctx.changed(*INITRD_INPUTS) or not kernel.initrd_has_virtio):
            return []
        path = kernel.initrd or f"/boot/initrd.img-{kernel.version}"
        argv = ["update-initramfs", "-c" if missing else "-u", "-k", kernel.version]
        return [GuestCommand(step=self.name, summary=f"initrd for {kernel.version} rebuilt",
                             argv=argv, verify=verify_initrd(path))]


STEP = RegenerateInitrd()
