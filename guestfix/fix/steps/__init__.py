"""The fix-up steps: one module each, found here by the registry.

Each module defines one Step as STEP (base.py): `applies(facts)` says
whether it concerns the guest, `plan(ctx)` returns the Changes it wants,
computed from the facts and from guest files read through `ctx.guest` (a
GuestSession in a real run, an in-memory tree in tests). Steps never
write: the runner applies their changes, so a dry run, the JSON report and
a real run are the same plan. Each Step declares what it depends on;
registry() derives the run order from that (order.py), so the modules
carry no step numbers. A new step is a new module here.

Imports: fix/ (facts, plan, packages, guest), core/, never a session.
"""

import importlib
import pkgutil

from .base import Step, StepContext

# modules of this package that are not steps
_NOT_STEPS = {"base", "order"}


def registry():
    """The steps in the order they run, derived from their declarations."""
    from .order import ordered

    modules = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if m.name not in _NOT_STEPS
    ]
    return ordered(m.STEP for m in modules)


__all__ = ["Step", "StepContext", "registry"]
