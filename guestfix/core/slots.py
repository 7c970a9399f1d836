"""A per-host limit on how many guestfix runs do heavy work at once.

Each fix or migration holds one of N lock slots (flock on
/run/guestfix/slots/slot-K) while it works; a run that finds all N taken
waits, and says so once. The locks are the kernel's: a run that dies,
however it dies, frees its slot. Runs started with different N share the
slots they have in common, so the smallest N in use is what holds.

GUESTFIX_SLOT_DIR moves the slots elsewhere: runs that use another
directory do not count against these (the test suite's parallel workers
each keep their own, so that one worker's limit tests see only their own
runs).

Under TCG the cores are shared out among the runs that hold a slot now
(active_runs), so a lone run gets the whole machine.

The default N is what the host can carry: one run per core, and no more
than one per 2 GiB of available memory (a libguestfs appliance, and for
--boot-check a QEMU guest, each take about 1 GiB, with the host's own page
cache for the copies besides).
"""

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass

from .errors import GuestfixError

SLOT_DIR = os.environ.get("GUESTFIX_SLOT_DIR", "/run/guestfix/slots")
GIB_PER_RUN = 2


def default_max_parallel():
    cores = os.cpu_count() or 1
    return max(1, min(cores, _available_memory() // (GIB_PER_RUN << 30)))


def _available_memory():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return GIB_PER_RUN << 30


@dataclass
class Slot:
    number: int  # 1..max_parallel
    max_parallel: int
    waited_seconds: float

    def as_dict(self):
        return {
            "number": self.number,
            "max_parallel": self.max_parallel,
            "waited_seconds": self.waited_seconds,
        }


@contextlib.contextmanager
def held(max_parallel, label, monitor, poll=1.0):
    """Hold a free slot for the body; wait for one if all are taken."""
    max_parallel = max_parallel or default_max_parallel()
    os.makedirs(SLOT_DIR, mode=0o700, exist_ok=True)
    started, told = time.monotonic(), False
    while True:
        for number in range(1, max_parallel + 1):
            fd = _try_lock(os.path.join(SLOT_DIR, f"slot-{number}"))
            if fd is None:
                continue
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {label}\n".encode(), 0)
                yield Slot(number, max_parallel, round(time.monotonic() - started, 1))
            finally:
                os.ftruncate(fd, 0)
                os.close(fd)  # closing releases the lock
            return
        if not told:
            monitor.note(
                f"waiting for a free slot: all {max_parallel} are taken "
                f"(--max-parallel {max_parallel}) by: {', '.join(holders(max_parallel))}"
            )
            told = True
        time.sleep(poll)


def active_runs():
    """How many runs work now: the slots whose holder is alive, this run
    counted whether it holds one yet or not. Read from what the holders
    wrote, not by locking: a lock taken to look would turn away a run
    trying that slot at the same moment."""
    try:
        names = [n for n in os.listdir(SLOT_DIR) if n.startswith("slot-")]
    except OSError:
        names = []
    others = 0
    for name in names:
        try:
            with open(os.path.join(SLOT_DIR, name)) as f:
                pid = int(f.read().split(maxsplit=1)[0])
        except (OSError, ValueError, IndexError):
            continue  # free (emptied on release), or not a slot file
        if pid != os.getpid() and _alive(pid):
            others += 1
    return others + 1


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False  # died holding it (the kernel freed its lock)
    except PermissionError:
        pass
    return True


def _try_lock(path):
    # no following a link someone put where the slot file goes
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise GuestfixError(f"{path}: cannot open this host's slot file ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
        return None


def holders(max_parallel):
    """What the runs in the slots said they are ("PID LABEL")."""
    out = []
    for number in range(1, max_parallel + 1):
        try:
            with open(os.path.join(SLOT_DIR, f"slot-{number}")) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text:
            out.append(text)
    return out or ["(unknown)"]
