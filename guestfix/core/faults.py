"""Test hook: fault points where a test can make a run fail or stall.

GUESTFIX_FAULT=fail@POINT raises a StepError at POINT; sleep@POINT stalls
there (announced on stderr) so a test can kill the process at a known
point; pause@POINT stalls until the process gets SIGUSR1 (60 s at most),
so a test can break something under the run (drop its ssh connection),
then let it go on and watch what it does. A time-limited pause was a race:
on a loaded machine the run went on before the test had broken anything.
The points are step:NAME (after a fix step's changes), commit (journal
written, before the first disk is written), migrate:STAGE,
migrate:served (partition images and remote disks served, before the
fix), migrate:copying, migrate:copied, and remote:streaming (a disk is being
read from the Xen host).
"""

import os
import signal
import sys
import time

from .errors import StepError


def fault_point(name):
    spec = os.environ.get("GUESTFIX_FAULT", "")
    action, _, point = spec.partition("@")
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
        print(f"guestfix: test hook: stalled at {name} (SIGUSR1 goes on)",
              file=sys.stderr, flush=True)
        signal.sigtimedwait({signal.SIGUSR1}, 60)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
