"""A time limit on the libguestfs appliance's start.

libguestfs waits for its appliance with no limit that helps (twenty
minutes for the first connection, none once the daemon's socket is open),
and under TCG an appliance kernel now and then never comes up: the run then
hangs with nothing said. While a launch runs, the watchdog looks for the
appliance's QEMU (a child of this process with the direct backend) and
kills it once it has run `timeout` seconds; libguestfs then fails the
launch, and the session can start a fresh one. Building the supermin
appliance, which a first launch on a host does before QEMU starts, is not
counted. With libvirt's backend QEMU is libvirtd's child and the watchdog
sees nothing to watch.
"""

import os
import signal
import threading
import time

# a TCG launch takes 13 s on an idle 2-core host and under a minute loaded;
# a KVM one a few seconds
DEFAULT_TIMEOUT = 300


def launch_timeout():
    """GUESTFIX_LAUNCH_TIMEOUT (seconds) or the default."""
    try:
        return max(1, int(os.environ.get("GUESTFIX_LAUNCH_TIMEOUT", DEFAULT_TIMEOUT)))
    except ValueError:
        return DEFAULT_TIMEOUT


class LaunchWatchdog:
    """`with LaunchWatchdog(t) as w: g.launch()`; `w.fired` says whether
    the appliance was killed for taking longer than t."""

    def __init__(self, timeout, poll=0.5):
        self.timeout = timeout
        self.poll = poll
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="launch-watchdog", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False

    def _watch(self):
        first_seen = {}
        while not self._stop.wait(self.poll):
            now = time.monotonic()
            for pid in _qemu_children(os.getpid()):
                if now - first_seen.setdefault(pid, now) > self.timeout:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        self.fired = True
                    except ProcessLookupError:
                        pass


def _qemu_children(parent):
    """The appliances among this process's children: QEMU started with
    -kernel. libguestfs also runs QEMU to learn its version and devices
    (-help, -device ?); those are left alone, however long a loaded host
    makes them take, since libguestfs' error path for a feature probe cut
    off half-way is not one to exercise."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            # the name in parentheses may hold spaces: the fields after it
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != parent or not os.path.basename(
                os.readlink(f"/proc/{entry}/exe")
            ).startswith("qemu-system"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"-kernel" in f.read().split(b"\0"):
                    pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return pids
