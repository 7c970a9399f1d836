"""Shared pieces of the benchmarks: timing, medians, guest copies, the
boot check, and what the machine is."""

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

from guestfix.fix.session import tcg_requested

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the benchmarks' guests: the same builds and copies as the demo's and the tests'
sys.path.insert(0, os.path.join(REPO, "test-images"))
from samples import copy_guest  # noqa: E402,F401  (re-exported)
from samples import sample_guest as build_sample  # noqa: E402,F401  (re-exported)

GUESTFIX = [sys.executable, "-m", "guestfix.cli"]


class BenchError(Exception):
    pass


def log(text):
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def timed(argv, check=True, **kw):
    """Run argv; (seconds of wall time, CompletedProcess)."""
    started = time.monotonic()
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=REPO, **kw)
    seconds = time.monotonic() - started
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BenchError(f"{' '.join(map(str, argv[:4]))} ... failed: {' / '.join(tail)}")
    return seconds, proc


def sparse_image(path, size, extents, extent=8 << 20):
    """A sparse disk-like image: `extents` runs of random data, `extent`
    bytes each, spread evenly over `size` (kept if already there)."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(extents):
            f.seek(i * (size // extents))
            f.write(os.urandom(extent))
    return path


def median(values):
    return statistics.median(values) if values else None


def drop_caches():
    """Start each I/O measurement with a cold page cache, as a migration
    reading images that were not touched recently would."""
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def disk_paths(xml_path):
    with open(xml_path) as f:
        return re.findall(r"<source file='([^']+)'", f.read())


def boot_check(xml_path, console_log=None):
    """guestfix boot-check on a domain XML: (passed, stage reached)."""
    argv = GUESTFIX + ["boot-check", "--json", "--timeout", "400", "--domain", xml_path]
    if console_log:
        argv += ["--console-log", console_log]
    _, proc = timed(argv, check=False)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        return False, "boot-check failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return bool(result.get("passed")), result.get("stage", "?")


def _version(argv, pattern=r"\d+\.\d+[\w.+~-]*"):
    try:
        out = subprocess.run(argv, capture_output=True, text=True).stdout
    except OSError:
        return "not installed"
    m = re.search(pattern, out)
    return m.group(0) if m else out.strip()[:40]


def machine_info():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / (1 << 20)),
        "kernel": platform.release(),
        "accel": "TCG (software emulation)" if tcg_requested() else "KVM",
        "guestfix": rev or "?",
        "virt-v2v": _version(["virt-v2v", "--version"]),
        "libguestfs": _version(["guestfish", "--version"]),
        "qemu": _version(["qemu-system-x86_64", "--version"]),
        "date": time.strftime("%Y-%m-%d"),
    }
