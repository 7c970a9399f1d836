"""The fix run: one session on overlays, the steps in order, then commit.

    disks -> Transaction (overlays) -> GuestSession -> facts
          -> for each step: plan -> apply (inside the overlay)
          -> close the session -> confirm -> commit (or discard on dry run)

Applying each step's changes before the next step plans means later steps
see earlier edits, and the dry run performs exactly the work of a real run.
"""

import os
import sys
import time
from dataclasses import dataclass, field

from . import facts as facts_mod
from . import packages as packages_mod
from .directboot import DirectBootExport
from .errors import Aborted, GuestfixError, StepError, UnsupportedGuestError, first_line
from .progress import StageClock, TeeMonitor
from .session import GuestSession
from .steps import StepContext, registry
from .transaction import Transaction


@dataclass
class FixReport:
    disks: list
    dry_run: bool
    facts: object = None
    changes: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    steps: list = field(default_factory=list)    # [{name, title, applies, changes}]
    committed: bool = False
    direct_boot: dict = None
    timings: list = field(default_factory=list)   # [{stage, seconds}] in order
    seconds: float = 0.0
    launch_seconds: float = 0.0                   # of the first stage: the appliance boot

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


def run_fix(disks, devmap, monitor, macs=(), dry_run=False, tcg=False,
            confirm=None, root=None, direct_boot_dir=None, output=None, packages=None):
    """Fix the guest on `disks`. `confirm(report)` is asked before the
    commit and may return False to discard everything. With
    `direct_boot_dir`, the boot kernel and initrd are also copied out there
    (see directboot.py), once the disks are committed.

    With `output`, the disks are only read: the work happens on throwaway
    overlays and `output(overlays)` is called instead of the commit, to copy
    the fixed guest elsewhere (migrate).

    `packages` (a PackageSource) supplies the default kernel or boot loader
    when the guest lacks them; without it such a guest is refused before
    anything changes."""
    report = FixReport(disks=disks, dry_run=dry_run)
    started = time.monotonic()
    clock = StageClock()
    monitor = TeeMonitor(monitor, clock)
    packages = packages or packages_mod.PackageSource()
    export = DirectBootExport(direct_boot_dir) if direct_boot_dir and not dry_run else None
    try:
        return _fix(disks, devmap, monitor, macs, dry_run, tcg, confirm, root, report, export,
                    output, packages)
    finally:
        report.timings = clock.stages
        report.seconds = time.monotonic() - started
        if export:
            export.discard()


def _fix(disks, devmap, monitor, macs, dry_run, tcg, confirm, root, report, export, output,
         packages):
    with Transaction(disks, dry_run=dry_run or output is not None) as txn:
        with monitor.stage("starting the appliance and inspecting the guest"):
            session = GuestSession(txn.overlays, readonly=False, tcg=tcg, monitor=monitor,
                                   root=root, network=packages.online).open()
        report.launch_seconds = session.launch_seconds
        try:
            with session:
                with monitor.stage("reading the guest's configuration"):
                    # the initrd is listed later, and only if no rebuild is certain
                    facts = facts_mod.collect(session, disks, devmap, list_initrd=False)
                report.facts = facts
                _refuse_unfixable(facts, packages, direct_boot=export is not None)
                ctx = StepContext(facts=facts, devmap=devmap, guest=session,
                                  macs=list(macs), earlier=report.changes,
                                  notes=report.notes, packages=packages,
                                  direct_boot=export is not None)
                for step in registry():
                    _run_step(step, ctx, session, monitor, report)
                    if step.name == "install-packages" and ctx.changed(step.name):
                        with monitor.stage("reading the guest's configuration again"):
                            ctx.facts = report.facts = facts = \
                                facts_mod.collect(session, disks, devmap, list_initrd=False)
                        _check_installed(facts, direct_boot=export is not None)
                _finish_background(session, monitor, report)
                if export:
                    with monitor.stage("copying the boot kernel and initrd out for direct boot"):
                        report.direct_boot = export.stage(session, facts)
        except RuntimeError as e:
            raise GuestfixError(f"libguestfs: {first_line(e)}") from None
        if dry_run or (not report.changes and output is None):
            if export:
                export.finish()
            return report
        if confirm is not None and not confirm(report):
            raise Aborted("declined: nothing was written")
        if output is not None:
            output(txn.overlays)
            return report
        with monitor.stage("committing the changes to the disks"):
            txn.commit(on_disk=lambda disk: fault_point("commit"))
        report.committed = True
        if export:
            export.finish()
    return report


def _run_step(step, ctx, session, monitor, report):
    entry = {"name": step.name, "title": step.title, "applies": step.applies(ctx.facts),
             "changes": 0}
    report.steps.append(entry)
    if not entry["applies"]:
        return
    with monitor.stage(step.title):
        changes = step.plan(ctx)
        for change in changes:
            try:
                change.apply(session)
            except RuntimeError as e:
                raise StepError(f"{step.name}: {change.target}: "
                                f"{first_line(e)}") from None
            report.changes.append(change)
            if change.pending:
                monitor.note(f"started, runs alongside the next steps: {change.target}")
            else:
                monitor.result(f"{change.summary}: {change.target}")
        entry["changes"] = len(changes)
    fault_point(f"step:{step.name}")


def _finish_background(session, monitor, report):
    """Wait for the commands steps left running, and check them."""
    for change in report.changes:
        if change.pending:
            with monitor.stage(f"waiting for: {change.summary}"):
                try:
                    change.finish(session)
                except RuntimeError as e:
                    raise StepError(f"{change.step}: {change.target}: "
                                    f"{first_line(e)}") from None
                monitor.result(f"{change.summary}: {change.target}")


def fault_point(name):
    """Test hook: GUESTFIX_FAULT=fail@POINT raises there, sleep@POINT stalls
    there (so a test can kill the process at a known point). Points are
    step:NAME (after the step's changes) and commit (journal written,
    before the first disk is written)."""
    spec = os.environ.get("GUESTFIX_FAULT", "")
    action, _, point = spec.partition("@")
    if point != name:
        return
    if action == "fail":
        raise StepError(f"injected failure at {name}")
    if action == "sleep":
        print(f"guestfix: test hook: stalled at {name}", file=sys.stderr, flush=True)
        time.sleep(3600)


SUPPORTED_FAMILIES = ("debian", "suse", "redhat")


def _refuse_unfixable(facts, packages, direct_boot):
    """Stop before any change what the run could not finish."""
    if facts.family not in SUPPORTED_FAMILIES:
        raise UnsupportedGuestError(
            f"{facts.product or facts.distro or 'this'} guests are not supported "
            "(guestfix fixes the Debian/Ubuntu, SUSE and Red Hat families)")
    packages.check_usable(facts, packages_mod.needed(facts, direct_boot=direct_boot))


def _check_installed(facts, direct_boot):
    """After the package step: what it should have installed is there."""
    still = packages_mod.needed(facts, direct_boot=direct_boot)
    if still:
        raise StepError(f"install-packages: after the install, {still[0].why}; "
                        f"the packages supplied did not provide {still[0].name}")
