"""Rebuild the boot kernel's initrd so it carries virtio_blk.

Only the kernel the fixed guest will boot is rebuilt, and only when this run
changed something the initrd contains or the initrd lacks virtio_blk. Each
family's own tool does it:

* initramfs-tools: update-initramfs, which reads the module list initrd-modules fixed;
* dracut: the virtio drivers are named on the command line as well
  (--add-drivers), because a hostonly dracut run in the appliance would
  otherwise pick drivers for the appliance's hardware, not for KVM's; and
  no hostonly kernel command line is recorded, which would describe the
  appliance's disks (the boot loader passes root= anyway);
* SUSE mkinitrd (SLES 11): reads INITRD_MODULES, and gets the drivers with -m.

Where the guest has a lister (lsinitramfs, lsinitrd) the result is checked.
The rebuild is the longest step; where it is safe it runs in the background
while the boot loader steps run (see overlaps_safely).
"""

from ...core.errors import StepError
from ..facts import INITRD_LISTERS, initrd_drivers, read_initrd_drivers
from ..guest import has_program
from ..plan import GuestCommand
from .base import Step
from .initrd_modules import GUIDE_DRIVERS, VIRTIO_DRIVERS


def after_rebuild(lister, path, kernel):
    """Once the command ran: the boot kernel's facts name the new initrd
    (the report, and --direct-boot's export, read them), and where the
    guest has a lister, the initrd is checked for virtio_blk."""

    def check(session):
        kernel.initrd = path
        if lister is None:
            return
        listing = session.run([lister, path])
        kernel.initrd_drivers = initrd_drivers(listing.stdout) if listing.ok else []
        if not kernel.initrd_has_virtio:
            raise StepError(f"the rebuilt initrd {path} does not contain virtio_blk")

    return check


def default_initrd_path(family, version):
    """Where the family's tools put a kernel's initrd."""
    if family == "suse":
        return f"/boot/initrd-{version}"
    if family == "redhat":
        return f"/boot/initramfs-{version}.img"
    return f"/boot/initrd.img-{version}"


def rebuild_argv(tool, kernel, path):
    if tool == "initramfs-tools":
        return ["update-initramfs", "-c" if not kernel.initrd else "-u", "-k", kernel.version]
    if tool == "dracut":
        return [
            "dracut",
            "--force",
            "--no-hostonly-cmdline",
            "--add-drivers",
            " ".join(VIRTIO_DRIVERS),
            path,
            kernel.version,
        ]
    return [
        "mkinitrd",
        "-k",
        kernel.vmlinuz.rsplit("/", 1)[-1],
        "-i",
        path.rsplit("/", 1)[-1],
        "-m",
        " ".join(GUIDE_DRIVERS),
    ]


def overlaps_safely(tool, kernel):
    """Whether the rebuild may run while the boot loader steps do.

    The later steps only need the initrd file to exist (grub-mkconfig makes
    an entry for it), and update-initramfs and dracut leave the existing
    one in place until they write the new one, at the end. SUSE's mkinitrd
    is not overlapped: it runs the boot loader update itself, which edits
    what the later steps edit."""
    return tool in ("initramfs-tools", "dracut") and bool(kernel.initrd)


class RegenerateInitrd(Step):
    name = "regenerate-initrd"
    title = "initrd of the boot kernel rebuilt with virtio drivers"
    changes = "the boot kernel's initrd (update-initramfs, dracut or mkinitrd)"
    # the steps whose changes end up inside the initrd
    reads = (
        "install-packages",
        "initrd-modules",
        "device-names",
        "bootloader-config",
        "nic-names",
        "cleanup",
    )

    def applies(self, facts):
        return facts.initrd_tool in ("initramfs-tools", "dracut", "mkinitrd") and bool(
            facts.boot_kernel
        )

    def plan(self, ctx):
        f = ctx.facts
        kernel = f.kernel(f.boot_kernel)
        if kernel.initrd and not ctx.changed(*self.reads):
            drivers = kernel.initrd_drivers
            if drivers is None:  # not listed yet: only now is it needed
                # read into a local: planning leaves the facts as they are
                drivers = read_initrd_drivers(ctx.guest, f.initrd_tool, kernel)
            if "virtio_blk" in drivers:
                return []
        path = kernel.initrd or default_initrd_path(f.family, kernel.version)
        lister = INITRD_LISTERS.get(f.initrd_tool)
        has_lister = lister and has_program(ctx.guest, lister)
        return [
            GuestCommand(
                step=self.name,
                summary=f"initrd for {kernel.version} rebuilt",
                argv=rebuild_argv(f.initrd_tool, kernel, path),
                verify=after_rebuild(lister if has_lister else None, path, kernel),
                background=overlaps_safely(f.initrd_tool, kernel),
            )
        ]


STEP = RegenerateInitrd()
