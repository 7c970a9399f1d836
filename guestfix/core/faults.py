"""Test hook: fault points where a test can make a run fail or stall.

GUESTFIX_FAULT=fail@POINT raises a StepError at POINT; sleep@POINT stalls
there (announced on stderr) so a test can kill the process at a known
point; pause@POINT stalls until the process gets SIGUSR1 (60 s at most),
so a test can break something under the run (drop its ssh connection),
then let it go on and watch what it does. A time-limited pause was a race:
on a loaded machine the run went on before the test had broken anything.
The points are declared here, and a run refuses a GUESTFIX_FAULT that
names none of them (a test with a misspelt point would otherwise test
nothing): the names below, and the families step:NAME (after a fix step's
changes) and migrate:STAGE (as a stage of migrate begins).
"""

import os
import signal
import sys
import time

from .errors import StepError, UsageError

COMMIT = "commit"  # journal written, before the first disk is written
SERVED = "migrate:served"  # partition images and remote disks served, before the fix
COPYING = "migrate:copying"  # qemu-img convert is writing a destination disk
COPIED = "migrate:copied"  # every disk copied, before the domain
STREAMING = "remote:streaming"  # a disk is being read from the Xen host
EARLY_COPYING = "early:copying"  # --start-early: the block copies run
EARLY_PIVOTED = "early:pivoted"  # --start-early: every disk on its volume
POINTS = {COMMIT, SERVED, COPYING, COPIED, STREAMING, EARLY_COPYING, EARLY_PIVOTED}
FAMILIES = ("step:", "migrate:")
ACTIONS = ("fail", "sleep", "pause")


def step(name):
    return f"step:{name}"


def stage(name):
    return f"migrate:{name}"


def _declared(point):
    return point in POINTS or point.startswith(FAMILIES)


def fault_point(name):
    if not _declared(name):
        raise ValueError(f"fault point {name!r} is not declared in faults.py")
    spec = os.environ.get("GUESTFIX_FAULT", "")
    if not spec:
        return
    action, _, point = spec.partition("@")
    if action not in ACTIONS or not _declared(point):
        raise UsageError(
            f"GUESTFIX_FAULT={spec}: not ACTION@POINT with an action of "
            f"{', '.join(ACTIONS)} and a point of faults.py"
        )
    if point != name:
        return
    if action == "fail":
        raise StepError(f"injected failure at {name}")
    if action == "sleep":
        print(f"guestfix: test hook: stalled at {name}", file=sys.stderr, flush=True)
        time.sleep(3600)
    elif action == "pause":
        # blocked before it is announced: a SIGUSR1 sent as soon as the
        # test reads the line waits here instead of killing the process
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        print(
            f"guestfix: test hook: stalled at {name} (SIGUSR1 goes on)",
            file=sys.stderr,
            flush=True,
        )
        signal.sigtimedwait({signal.SIGUSR1}, 60)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
