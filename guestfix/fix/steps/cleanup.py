"""Remove what would mislead the guest on KVM.

Stale LVM and blkid caches name Xen devices; Xen guest tools expect a
hypervisor that is no longer there. On an SELinux guest every file this run
wrote lacks its label, so the next boot is told to relabel (/.autorelabel).

XenServer/XCP-ng guests run xapi's agent (`xe-guest-utilities`: the
xe-linux-distribution service that starts xe-daemon; XCP-ng's newer
`xen-guest-agent`), which on KVM finds no xenstore and logs so forever.
Debian's packages are purged by dpkg; on other guests (the agent's RPM, or
XCP-ng's tarball installed by hand) its services are disabled: their
systemd `.wants` and SysV `rc?.d` links removed, the package left for the
administrator to remove.
"""

from ..plan import GuestCommand, RemoveLink, edit
from .base import Step

STALE_CACHES = [
    "/etc/lvm/cache/.cache",
    "/etc/blkid.tab",
    "/etc/blkid.tab.old",
    "/etc/blkid/blkid.tab",
    "/etc/blkid/blkid.tab.old",
]
XEN_TOOLS_DEB = ["xe-guest-utilities", "xen-guest-agent", "xenstore-utils"]
# the services of xapi's guest agents, as their packages install them
XEN_AGENT_SERVICES = ("xe-linux-distribution", "xe-daemon", "xen-guest-agent")
SYSTEMD_WANTS = "/etc/systemd/system/*.wants/{}.service"
SYSV_LINKS = ("/etc/rc.d/rc[0-6].d/[SK][0-9][0-9]{}", "/etc/rc[0-6].d/[SK][0-9][0-9]{}")
AUTORELABEL = "/.autorelabel"


class Cleanup(Step):
    name = "cleanup"
    title = "cleanup: stale LVM/blkid caches, Xen guest tools"
    changes = (
        ", ".join(STALE_CACHES)
        + "; removes packages "
        + ", ".join(XEN_TOOLS_DEB)
        + "; disables services "
        + ", ".join(XEN_AGENT_SERVICES)
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
        else:
            changes += self._agent_links(ctx)
        if (
            ctx.facts.selinux in ("enforcing", "permissive")
            and ctx.earlier
            and not ctx.guest.exists(AUTORELABEL)
        ):
            changes.append(edit(self.name, "SELinux relabel at next boot", AUTORELABEL, None, ""))
        return [c for c in changes if c]

    def _agent_links(self, ctx):
        """The links that start xapi's guest agent at boot."""
        links = []
        for service in XEN_AGENT_SERVICES:
            for pattern in (SYSTEMD_WANTS, *SYSV_LINKS):
                links += [
                    p for p in ctx.guest.glob(pattern.format(service)) if ctx.guest.is_symlink(p)
                ]
        return [
            RemoveLink(
                step=self.name,
                summary="Xen guest agent disabled",
                path=path,
                points_to=ctx.guest.readlink(path),
            )
            for path in sorted(set(links))
        ]


STEP = Cleanup()
