"""Launches cut off at random moments: no run may abort, whatever is cut
when. Each round starts `guestfix inspect` on a blank disk and, at a random
moment of its appliance's start, either sends guestfix SIGTERM or SIGINT,
or lets the launch watchdog kill the appliance (a paused one, with a
time limit of a few seconds). Every run must end with its documented exit
code and one error line: 130 for a signal, 9 when the watchdog cut both
tries, 5 when the launch finished first (a blank disk holds no OS); never
a signal of its own (SIGABRT from a double free, SIGSEGV), never a
traceback. Busy loops on every core are the load.

    python tests/launch_cuts.py [ROUNDS]      (make stress: 50 rounds)

tests/test_launch_watchdog.py runs a few rounds as part of the suite.
"""

import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

from guestfix.fix import qemuprobe

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED = {"SIGTERM": {130, 5}, "SIGINT": {130, 5}, "watchdog": {9}}


def hanging_hypervisor(directory):
    """QEMU, except that the appliance starts paused (as a hung one looks).
    Its path has a length libguestfs handles (guestfix/fix/qemuprobe.py)."""
    qemu = shutil.which("qemu-system-x86_64")
    hv = safe_hypervisor_path(directory)
    with open(hv, "w") as f:
        f.write(
            textwrap.dedent(f"""\
            #!/bin/sh
            for a in "$@"; do
                [ "$a" = -kernel ] && exec {qemu} "$@" -S
            done
            exec {qemu} "$@"
            """)
        )
    os.chmod(hv, 0o755)
    return hv


def safe_hypervisor_path(directory, name="qemu-system-x86_64"):
    """A path for a QEMU wrapper in `directory` (created) whose length
    libguestfs handles without overflowing (guestfix/fix/qemuprobe.py)."""
    for pad in range(64):
        d = os.path.join(directory, "hv" + "x" * pad)
        path = os.path.join(d, name)
        if not qemuprobe.overflows(path):
            os.makedirs(d, exist_ok=True)
            return path
    raise AssertionError("no safe hypervisor path")


def one_round(kind, disk, hv, rng):
    # PYTHONFAULTHANDLER: an abort shows the Python line it came from
    env = dict(
        os.environ,
        LIBGUESTFS_BACKEND_SETTINGS="force_tcg",
        GUESTFIX_TCG="1",
        PYTHONFAULTHANDLER="1",
    )
    if kind == "watchdog":
        env.update(LIBGUESTFS_HV=hv, GUESTFIX_LAUNCH_TIMEOUT=str(rng.randint(2, 6)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "guestfix.cli", "inspect", "--json", disk],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kind != "watchdog":
        time.sleep(rng.uniform(0.3, 12.0))  # anywhere in the appliance's start
        proc.send_signal(getattr(signal, kind))
    try:
        _out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        return f"{kind}: did not end within 300 s"
    lines = err.strip().splitlines()
    if proc.returncode < 0:
        return f"{kind}: killed by signal {-proc.returncode}: {err[-500:]}"
    if proc.returncode not in EXPECTED[kind]:
        return f"{kind}: exit {proc.returncode}: {err[-500:]}"
    if "Traceback" in err or not lines or not lines[-1].startswith("guestfix"):
        return f"{kind}: no one-line error: {err[-500:]}"
    return None


def _busy(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


def run(rounds, seed=None, load=True):
    """The failures of `rounds` rounds (an empty list when all went well)."""
    rng = random.Random(seed)
    stop = multiprocessing.Event()
    hogs = []
    if load:
        hogs = [
            multiprocessing.Process(target=_busy, args=(stop,), daemon=True)
            for _ in range(os.cpu_count() or 1)
        ]
        for hog in hogs:
            hog.start()
    failures = []
    try:
        with tempfile.TemporaryDirectory(prefix="guestfix-cuts-") as tmp:
            disk = os.path.join(tmp, "blank.img")
            with open(disk, "wb") as f:
                f.truncate(64 << 20)
            hv = hanging_hypervisor(tmp)
            for n in range(rounds):
                kind = ("SIGTERM", "SIGINT", "watchdog")[n % 3]
                failure = one_round(kind, disk, hv, rng)
                print(f"round {n + 1}/{rounds} {kind}: {failure or 'ok'}", flush=True)
                if failure:
                    failures.append(failure)
    finally:
        stop.set()
        for hog in hogs:
            hog.join(timeout=5)
    return failures


if __name__ == "__main__":
    found = run(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
    print(f"{len(found)} of the rounds failed" if found else "no round failed")
    sys.exit(1 if found else 0)
