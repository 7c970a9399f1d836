"""The default kernel and a boot loader, where the guest lacks them.

Runs first, because everything after it (driver lists, initrd, GRUB
settings, boot code) concerns the kernel and boot loader it installs; the
runner reads the guest's facts again once it has changed something.
The supplied files are copied into the guest, installed with the guest's
own package tool (dpkg or rpm, offline) and removed again.
"""

from dataclasses import dataclass, field
from functools import partial

from .. import packages
from ..guest import has_program
from ..plan import GuestCommand
from .base import Step


@dataclass
class InstallPackages(GuestCommand):
    """Copies `host_files` into the guest, then runs each of `commands`."""

    host_files: list = field(default_factory=list)
    commands: list = field(default_factory=list)

    def diff(self):
        lines = [f"copy into guest: {path} -> {packages.GUEST_DIR}/\n" for path in self.host_files]
        lines += [f"run in guest: {' '.join(argv)}\n" for argv in self.commands]
        return "".join(lines)

    def apply(self, session):
        if self.host_files:
            session.mkdir_p(packages.GUEST_DIR)
            for path in self.host_files:
                session.upload(path, f"{packages.GUEST_DIR}/{path.rsplit('/', 1)[-1]}")
        try:
            for argv in self.commands:
                self.argv = argv
                super().apply(session)
        finally:
            if self.host_files:
                session.remove_tree(packages.GUEST_DIR)


class InstallPackagesStep(Step):
    name = "install-packages"
    title = "default kernel and boot loader installed where missing"
    changes = (
        "packages installed with the guest's dpkg/rpm (from --package files) or "
        "apt-get/zypper/dnf (--online)"
    )
    changes_facts = True  # a new kernel or boot loader: the facts are read again
    uses_network = True  # --online: the guest's own package tool fetches them

    def plan(self, ctx):
        wanted = packages.needed(ctx.facts, direct_boot=ctx.direct_boot)
        source = ctx.packages
        if not wanted or not source:
            return []
        names = [f.rsplit("/", 1)[-1] for f in source.files]
        guest_files = [f"{packages.GUEST_DIR}/{n}" for n in names]
        commands = packages.install_commands(
            ctx.facts, wanted, guest_files, has_program=partial(has_program, ctx.guest)
        )
        what = ", ".join(p.name for p in wanted)
        origin = "from the supplied files" if source.files else "from the guest's repositories"
        shown = "; ".join(
            " ".join(a.rsplit("/", 1)[-1] if a.startswith(packages.GUEST_DIR) else a for a in argv)
            for argv in commands
        )
        return [
            InstallPackages(
                step=self.name,
                summary=f"{what} installed {origin}",
                display=shown,
                host_files=list(source.files),
                commands=commands,
            )
        ]


STEP = InstallPackagesStep()
