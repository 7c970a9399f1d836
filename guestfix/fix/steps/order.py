"""The order the steps run in, derived from what each declares.

A step runs after the steps named in its `reads` and `after`, and after
every step that `changes_facts` (its plan is computed from the facts, which
the runner reads again after such a step). Among the steps free to run,
the first by name goes first, so the order is stable and only changes
when a declaration does.
"""

from ...core.errors import StepOrderError


def ordered(steps):
    """`steps` sorted so each runs after what it depends on. Refuses a
    dependency on a step that is not there, and steps depending on each
    other in a circle."""
    steps = list(steps)
    names = [s.name for s in steps]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise StepOrderError(f"two steps are named {duplicate}")
    facts_changers = {s.name for s in steps if s.changes_facts}
    needs = {}
    for step in steps:
        declared = set(step.reads) | set(step.after)
        unknown = sorted(declared - set(names))
        if unknown:
            raise StepOrderError(f"step {step.name} depends on {unknown[0]}, which is not a step")
        needs[step.name] = declared | (set() if step.changes_facts else facts_changers)
    done, out = set(), []
    while len(out) < len(steps):
        ready = [s for s in steps if s.name not in done and needs[s.name] <= done]
        if not ready:
            left = sorted(n for n in names if n not in done)
            raise StepOrderError("steps depend on each other in a circle: " + ", ".join(left))
        step = min(ready, key=lambda s: s.name)
        out.append(step)
        done.add(step.name)
    return out
