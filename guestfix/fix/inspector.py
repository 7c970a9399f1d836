"""`guestfix inspect`: facts about the guest and the fix-ups it needs.

Runs on read-only drives. The fix-ups are the steps' own plans, computed
against the unchanged guest; steps that only know their work after earlier
steps have run (regeneration) are listed from their contract.
"""

from dataclasses import asdict

from ..core.errors import StepError
from . import facts as facts_mod
from . import packages
from .session import GuestSession
from .steps import StepContext, registry


def inspect(disks, devmap, macs, monitor, tcg=False, root=None):
    with monitor.stage("starting the appliance and inspecting the guest"):
        session = GuestSession(disks, readonly=True, tcg=tcg, monitor=monitor, root=root).open()
    with session:
        with monitor.stage("reading the guest's configuration"):
            facts = facts_mod.collect(session, disks, devmap)
            planned, notes = [], []
            ctx = StepContext(
                facts=facts,
                devmap=devmap,
                guest=session,
                macs=list(macs),
                earlier=planned,
                notes=notes,
            )
            fixups = []
            for step in registry():
                if not step.applies(facts):
                    continue
                try:
                    changes = step.plan(ctx)
                except StepError:
                    # Its input is produced by an earlier step's command,
                    # which inspect does not run: show the contract.
                    fixups.append(
                        {"step": step.name, "title": step.title, "changes": [step.changes]}
                    )
                    continue
                planned.extend(changes)
                if changes:
                    fixups.append(
                        {
                            "step": step.name,
                            "title": step.title,
                            "changes": [f"{c.summary}: {c.target}" for c in changes],
                        }
                    )
    result = facts.as_dict()
    result["device_map"] = devmap.as_dict()
    result["fixups"] = fixups
    result["notes"] = notes
    result["missing_packages"] = [asdict(p) for p in packages.needed(facts)]
    return result
