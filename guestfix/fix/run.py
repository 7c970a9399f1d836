"""The fix run: one session on overlays, the steps in order.

    disks -> overlays (throwaway, or a journaled Transaction)
          -> GuestSession -> facts
          -> for each step: plan -> apply (inside the overlay)
          -> close the session
          -> yield the fixed overlays (FixedGuest)

`fixed_overlays` is the one way to fix a guest. The caller decides what
happens to the result: `fix` commits it into the disks (fix_disks), `fix
--dry-run` shows it and throws it away, `migrate` copies it elsewhere.

Applying each step's changes before the next step plans means later steps
see earlier edits, and the dry run performs exactly the work of a real run.
"""

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field

from ..core import faults
from ..core.errors import (
    Aborted,
    GuestfixError,
    MissingPackagesError,
    StepError,
    UnsupportedGuestError,
    first_line,
)
from ..core.faults import fault_point
from ..core.progress import StageClock, TeeMonitor
from . import facts as facts_mod
from . import packages as packages_mod
from .directboot import DirectBootExport
from .session import GuestSession
from .steps import StepContext, registry
from .transaction import ThrowawayOverlays, Transaction


@dataclass
class FixReport:
    disks: list
    dry_run: bool
    facts: object = None
    changes: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    steps: list = field(default_factory=list)  # [{name, title, applies, changes}]
    committed: bool = False
    direct_boot: dict = None
    timings: list = field(default_factory=list)  # [{stage, seconds}] in order
    seconds: float = 0.0
    launch_seconds: float = 0.0  # of the first stage: the appliance boot

    def as_dict(self):
        return {
            "disks": [d.path for d in self.disks],
            "dry_run": self.dry_run,
            "committed": self.committed,
            "changes": [c.as_dict() for c in self.changes],
            "steps": self.steps,
            "notes": self.notes,
            "direct_boot": self.direct_boot,
            "seconds": round(self.seconds, 2),
            "launch_seconds": round(self.launch_seconds, 2),
            "timings": self.timings,
            # what the guest was found to be (after any package install)
            "guest": self.facts.as_dict() if self.facts else None,
        }


@dataclass
class FixOptions:
    macs: list = field(default_factory=list)  # NIC MACs in domain order
    tcg: bool = False
    root: str = None  # --root: the OS root when several
    packages: object = None  # PackageSource: a missing kernel/boot loader
    dry_run: bool = False  # only reported: nothing is committed
    boot_args: str = ""  # the domain's <cmdline> when it booted dom0's kernel
    xen_pv: bool = False  # the domain ran paravirtualized
    firmware: str = ""  # efi or bios, from the domain; "" to read it from the guest
    # asked, when packages are missing and none were given, whether the
    # guest may fetch them itself (as --online); None: nobody to ask
    offer_online: object = None


class FixedGuest:
    """What `fixed_overlays` yields: the report, and the overlays that hold
    the fixed guest over the untouched disks."""

    def __init__(self, report, layer, monitor, clock, started):
        self.report = report
        self.overlays = layer.overlays
        self._layer, self._monitor, self._clock, self._started = layer, monitor, clock, started
        self.record_time()

    def record_time(self):
        self.report.timings = list(self._clock.stages)
        self.report.seconds = time.monotonic() - self._started

    def commit(self):
        """Write the overlays into the disks (journaled overlays only)."""
        with self._monitor.stage("committing the changes to the disks"):
            self._layer.commit(on_disk=lambda disk: fault_point(faults.COMMIT))
        self.report.committed = True
        self.record_time()


@contextlib.contextmanager
def fixed_overlays(disks, devmap, monitor, opts, journaled=False, export=None):
    """Fix the guest on qcow2 overlays over `disks`, which are only read,
    and yield a FixedGuest. The overlays are thrown away when the block
    ends, unless `journaled`: then they are a Transaction whose
    FixedGuest.commit() writes them into the disks.

    `opts.packages` supplies the default kernel or boot loader when the
    guest lacks them; without it such a guest is refused before anything
    changes. With `export` (a DirectBootExport), the boot kernel and initrd
    are staged for direct kernel boot before the session closes."""
    started = time.monotonic()
    clock = StageClock()
    monitor = TeeMonitor(monitor, clock)
    report = FixReport(disks=disks, dry_run=opts.dry_run)
    with Transaction(disks) if journaled else ThrowawayOverlays(disks) as layer:
        try:
            _run_steps(layer.overlays, disks, devmap, monitor, opts, report, export)
        except MissingPackagesError as e:
            # refused before any step ran: nothing was changed yet
            if opts.offer_online is None or opts.packages or not opts.offer_online(e):
                raise
            opts = dataclasses.replace(opts, packages=packages_mod.PackageSource(online=True))
            report = FixReport(disks=disks, dry_run=opts.dry_run)
            monitor.note("starting the appliance again, with network for the guest's package tool")
            _run_steps(layer.overlays, disks, devmap, monitor, opts, report, export)
        yield FixedGuest(report, layer, monitor, clock, started)


def fix_disks(disks, devmap, monitor, opts, confirm=None, direct_boot_dir=None):
    """`guestfix fix`: fix the guest and commit it into its disks, or with
    `opts.dry_run` only report what would change. `confirm(report)` is
    asked before the commit and may return False to discard everything.
    With `direct_boot_dir`, the boot kernel and initrd are also copied out
    there (see directboot.py), once the disks are committed."""
    export = DirectBootExport(direct_boot_dir) if direct_boot_dir and not opts.dry_run else None
    try:
        with fixed_overlays(
            disks, devmap, monitor, opts, journaled=not opts.dry_run, export=export
        ) as fixed:
            report = fixed.report
            if opts.dry_run:
                return report
            if report.changes:
                if confirm is not None and not confirm(report):
                    raise Aborted("declined: nothing was written")
                fixed.commit()
            if export:
                export.finish()
            return report
    finally:
        if export:
            export.discard()


def _run_steps(overlays, disks, devmap, monitor, opts, report, export):
    """One session on the overlays: facts, every step, the background
    commands waited for; the session is closed (flushed) on return.

    With --online the appliance has network only for the steps that use
    it (the package install, which runs first): then the session is
    closed and a fresh one without network does the rest, so no guest
    program run later (initramfs hooks, grub-mkconfig's scripts) can
    reach the network."""
    packages = opts.packages or packages_mod.PackageSource()
    direct_boot = export is not None

    def launch(network, title):
        with monitor.stage(title):
            return GuestSession(
                overlays,
                readonly=False,
                tcg=opts.tcg,
                monitor=monitor,
                root=opts.root,
                network=network,
            ).open()

    def read_facts(session, title):
        with monitor.stage(title):
            # the initrd is listed later, and only if no rebuild is certain
            return facts_mod.collect(
                session, disks, devmap, list_initrd=False, firmware=opts.firmware
            )

    session = launch(packages.online, "starting the appliance and inspecting the guest")
    report.launch_seconds = session.launch_seconds
    try:
        facts = report.facts = read_facts(session, "reading the guest's configuration")
        _refuse_unfixable(facts, packages, direct_boot=direct_boot)
        ctx = StepContext(
            facts=facts,
            devmap=devmap,
            guest=session,
            macs=list(opts.macs),
            earlier=report.changes,
            notes=report.notes,
            packages=packages,
            direct_boot=direct_boot,
            boot_args=opts.boot_args,
            xen_pv=opts.xen_pv,
        )
        for step in registry():
            if session.network and not step.uses_network:
                session.close()
                session = launch(False, "starting the appliance again, without network")
                ctx.guest = session
                ctx.facts = report.facts = facts = read_facts(
                    session, "reading the guest's configuration again"
                )
            _run_step(step, ctx, session, monitor, report)
            if step.changes_facts and ctx.changed(step.name):
                ctx.facts = report.facts = facts = read_facts(
                    session, "reading the guest's configuration again"
                )
                _check_installed(facts, direct_boot=direct_boot)
        _finish_background(session, monitor, report)
        if export:
            with monitor.stage("copying the boot kernel and initrd out for direct boot"):
                report.direct_boot = export.stage(session, facts)
        session.close()
    except RuntimeError as e:
        session.close(clean=False)
        raise GuestfixError(f"libguestfs: {first_line(e)}") from None
    except BaseException:
        session.close(clean=False)
        raise


def _run_step(step, ctx, session, monitor, report):
    entry = {
        "name": step.name,
        "title": step.title,
        "applies": step.applies(ctx.facts),
        "changes": 0,
    }
    report.steps.append(entry)
    if not entry["applies"]:
        return
    with monitor.stage(step.title):
        changes = step.plan(ctx)
        for change in changes:
            try:
                change.apply(session)
            except RuntimeError as e:
                raise StepError(f"{step.name}: {change.target}: {first_line(e)}") from None
            report.changes.append(change)
            if change.pending:
                monitor.note(f"started, runs alongside the next steps: {change.target}")
            else:
                monitor.result(f"{change.summary}: {change.target}")
        entry["changes"] = len(changes)
    fault_point(faults.step(step.name))


def _finish_background(session, monitor, report):
    """Wait for the commands steps left running, and check them."""
    for change in report.changes:
        if change.pending:
            with monitor.stage(f"waiting for: {change.summary}"):
                try:
                    change.finish(session)
                except RuntimeError as e:
                    raise StepError(f"{change.step}: {change.target}: {first_line(e)}") from None
                monitor.result(f"{change.summary}: {change.target}")


SUPPORTED_FAMILIES = ("debian", "suse", "redhat")


def _refuse_unfixable(facts, packages, direct_boot):
    """Stop before any change what the run could not finish."""
    if facts.family not in SUPPORTED_FAMILIES:
        raise UnsupportedGuestError(
            f"{facts.product or facts.distro or 'this'} guests are not supported "
            "(guestfix fixes the Debian/Ubuntu, SUSE and Red Hat families)"
        )
    if facts.firmware == "efi" and not facts.esp and not direct_boot:
        raise UnsupportedGuestError(
            "the domain boots through UEFI and the guest mounts no EFI system "
            "partition (no partition of the first disk with the ESP type is in /etc/fstab)"
        )
    packages.check_usable(facts, packages_mod.needed(facts, direct_boot=direct_boot))


def _check_installed(facts, direct_boot):
    """After the package step: what it should have installed is there."""
    still = packages_mod.needed(facts, direct_boot=direct_boot)
    if still:
        raise StepError(
            f"install-packages: after the install, {still[0].why}; "
            f"the packages supplied did not provide {still[0].name}"
        )
