"""Test hook: fault points where a test can make a run fail or stall.

GUESTFIX_FAULT=fail@POINT raises a StepError at POINT; sleep@POINT stalls
there (announced on stderr) so a test can kill the process at a known
point; pause@POINT stalls for 5 seconds only, so a test can break
something under the run (drop its ssh connection) and watch it go on.
The points are step:NAME (after a fix step's changes), commit (journal
written, before the first disk is written), migrate:STAGE,
migrate:served (partition images and remote disks served, before the
fix), migrate:copying, migrate:copied, and remote:streaming (a disk is being
read from the Xen host).
"""

import os
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
    if action in ("sleep", "pause"):
        print(f"guestfix: test hook: stalled at {name}", file=sys.stderr, flush=True)
        time.sleep(3600 if action == "sleep" else 5)
