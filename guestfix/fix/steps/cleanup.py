"""Remove what would mislead the guest on KVM.

Stale LVM and blkid caches name Xen devices; Xen guest tools expect a
hypervisor that is no longer there. On an SELinux guest every file this run
wrote lacks its label, so the next boot is told to relabel (/.autorelabel).
"""

from ..plan import GuestCommand, edit
from .base import Step

STALE_CACHES = [
    "/etc/lvm/cache/.cache",
    "/etc/blkid.tab",
    "/etc/blkid.tab.old",
    "/etc/blkid/blkid.tab",
    "/etc/blkid/blkid.tab.old",
]
XEN_TOOLS_DEB = ["xe-guest-utilities", "xen-guest-agent", "xenstore-utils"]
AUTORELABEL = "/.autorelabel"


class Cleanup(Step):
    name = "cleanup"
    title = "cleanup: stale LVM/blkid caches, Xen guest tools"
    changes = (
        ", ".join(STALE_CACHES)
        + "; removes packages "
        + ", ".join(XEN_TOOLS_DEB)
        + f"; {AUTORELABEL} on SELinux guests"
    )
    # the files edited before it lack their SELinux label (/.autorelabel)
    reads = (
        "install-packages",
        "initrd-modules",
        "device-names",
        "bootloader-config",
        "console",
        "nic-names",
    )

    def plan(self, ctx):
        changes = []
        for path in STALE_CACHES:
            if ctx.guest.is_file(path):
                changes.append(
                    edit(
                        self.name,
                        "stale device cache removed",
                        path,
                        ctx.guest.read_text(path),
                        None,
                    )
                )
        if ctx.facts.package_format == "deb":
            for pkg in XEN_TOOLS_DEB:
                if ctx.guest.exists(f"/var/lib/dpkg/info/{pkg}.list"):
                    changes.append(
                        GuestCommand(
                            step=self.name,
                            summary=f"Xen tools {pkg} removed",
                            argv=["dpkg", "--purge", pkg],
                        )
                    )
        if (
            ctx.facts.selinux in ("enforcing", "permissive")
            and ctx.earlier
            and not ctx.guest.exists(AUTORELABEL)
        ):
            changes.append(edit(self.name, "SELinux relabel at next boot", AUTORELABEL, None, ""))
        return [c for c in changes if c]


STEP = Cleanup()
