"""Planning reads the guest and the facts; it never changes them."""

from helpers import MemoryGuest, debian_facts

from guestfix.core.devnames import DeviceMap
from guestfix.core.runner import CommandResult
from guestfix.fix.facts import Kernel
from guestfix.fix.steps import StepContext, regenerate_initrd


class ListingGuest(MemoryGuest):
    """A guest whose lsinitramfs prints a fixed listing."""

    def __init__(self, files, listing):
        super().__init__(files)
        self.listing = listing
        self.ran = []

    def run(self, argv):
        self.ran.append(list(argv))
        return CommandResult(list(argv), 0, self.listing, "")


def test_initrd_listed_for_the_plan_is_not_stored_in_the_facts():
    kernel = Kernel("6.1", "/boot/vmlinuz-6.1", "/boot/initrd.img-6.1", False, True, None)
    facts = debian_facts(kernels=[kernel], boot_kernel="6.1")
    guest = ListingGuest({}, "usr/lib/modules/6.1/kernel/drivers/block/virtio_blk.ko\n")
    ctx = StepContext(facts=facts, devmap=DeviceMap.default(1), guest=guest)
    assert regenerate_initrd.STEP.plan(ctx) == []
    assert guest.ran == [["lsinitramfs", "/boot/initrd.img-6.1"]]
    assert kernel.initrd_drivers is None
    guest.listing = "usr/lib/modules/6.1/kernel/drivers/block/xen-blkfront.ko\n"
    (cmd,) = regenerate_initrd.STEP.plan(ctx)
    assert cmd.argv == ["update-initramfs", "-u", "-k", "6.1"]
    assert kernel.initrd_drivers is None
