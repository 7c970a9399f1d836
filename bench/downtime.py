"""Benchmark 6: downtime of a migration, with and without --start-early.

The sample guest (a) at two disk sizes: its own 3 GiB disk with about
1 GiB of data, and the same guest on a 30 GiB disk with 10 GiB of data
(random extents written past its partitions: data a copy must carry, which
the guest does not use). Each is migrated into a libvirt pool (a
type='qemu' domain here) both ways:

  plain         `guestfix migrate -o libvirt`, then `virsh start`: the
                downtime is the whole migrate plus the start and the boot
  start-early   `guestfix migrate --start-early --boot-check`: the downtime
                is the fix and the start; the boot and the copy run while
                the guest runs

Measured up to two ends: the domain started, and its login prompt seen on
the serial console. The guest is stopped on Xen throughout, so downtime
begins when guestfix starts.
"""

import json
import os
import shutil
import subprocess
import time

from lib import (
    GUESTFIX,
    BenchError,
    build_sample,
    copy_guest,
    disk_paths,
    drop_caches,
    log,
    median,
    timed,
)

POOL = "guestfix-bench-pool"
POOL_DIR = "/var/lib/libvirt/images/guestfix-bench-pool"
SOURCE_DIR = "/var/lib/libvirt/images/guestfix-bench-source"  # QEMU must reach it
SIZES = {"3 GiB, 1 GiB data": (3 << 30, 1 << 30), "30 GiB, 10 GiB data": (30 << 30, 10 << 30)}
EXTENT = 64 << 20


def run(workdir, runs):
    _pool()
    results = {}
    try:
        for label, (size, data) in SIZES.items():
            xml = copy_guest(build_sample("a"), SOURCE_DIR)
            os.chmod(SOURCE_DIR, 0o755)
            _grow(xml, size, data)
            entry = results[label] = {"plain": [], "early": []}
            for _ in range(runs):
                for how in ("plain", "early"):
                    drop_caches()
                    entry[how].append(_migrate(xml, f"bench-{how}", how == "early"))
                    log(f"downtime {label} {how}: {entry[how][-1]}")
            for how in ("plain", "early"):
                entry[f"{how}_median_to_start"] = median([r["to_start"] for r in entry[how]])
                entry[f"{how}_median_to_login"] = median([r["to_login"] for r in entry[how]])
    finally:
        shutil.rmtree(SOURCE_DIR, ignore_errors=True)
        _virsh("pool-destroy", POOL)
        _virsh("pool-undefine", POOL)
        shutil.rmtree(POOL_DIR, ignore_errors=True)
    small, large = (results[label] for label in SIZES)
    for how in ("plain", "early"):
        a, b = small[f"{how}_median_to_login"], large[f"{how}_median_to_login"]
        results[f"{how}_growth"] = round(b / a, 2) if a else None
    results["runs"] = runs
    return results


def _grow(xml, size, data):
    """The guest's disk made `size` long, with random extents past its
    last partition until it holds about `data` bytes."""
    [disk] = disk_paths(xml)
    used = os.stat(disk).st_blocks * 512
    start = os.path.getsize(disk)
    extents = max(0, (data - used) // EXTENT)
    with open(disk, "r+b") as f:
        f.truncate(size)
        step = (size - start) // max(extents, 1)
        for i in range(extents):
            f.seek(start + i * step)
            f.write(os.urandom(EXTENT))


def _migrate(xml, name, early):
    argv = GUESTFIX + [
        "migrate",
        xml,
        "-o",
        "libvirt",
        "-os",
        POOL,
        "-on",
        name,
        "--virt-type",
        "qemu",
        "--bridge",
        "virbr0",
        "--yes",
        "--json",
        "--log",
        f"/var/tmp/guestfix-bench-{name}.log",
    ]
    if early:
        argv += ["--start-early", "--boot-check", "--boot-timeout", "600"]
    try:
        seconds, proc = timed(argv)
        report = json.loads(proc.stdout)
        if early:
            to_start = report["downtime_seconds"]
            if not report["boot_check"]["passed"]:
                raise BenchError(f"{name}: no login prompt")
            return {
                "to_start": to_start,
                "to_login": round(to_start + report["boot_check"]["seconds"], 1),
                "copied_after_start": report["early_start"]["disks"][0]["finished_seconds"],
                "command_seconds": round(seconds, 1),
            }
        started = time.monotonic()
        _virsh("start", name, check=True)
        to_start = seconds + (time.monotonic() - started)
        login = _login_seconds(name)
        return {
            "to_start": round(to_start, 1),
            "to_login": round(to_start + login, 1),
            "command_seconds": round(seconds, 1),
        }
    finally:
        _virsh("destroy", name)
        _virsh("undefine", name)
        for vol in (f"{name}-vda.img", f"{name}-vda.early.qcow2"):
            _virsh("vol-delete", vol, "--pool", POOL)


def _login_seconds(name):
    from guestfix.outputs.earlystart import ConsoleWatch

    watch = ConsoleWatch("qemu:///system", name, time.time())
    try:
        login = watch.wait_for_login(time.time() + 600)
    finally:
        watch.close()
    if login is None:
        raise BenchError(f"{name}: no login prompt")
    return login


def _pool():
    for daemon in ("virtlogd", "libvirtd"):
        if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode:
            subprocess.run([daemon, "-d"], check=True)
    _virsh("pool-destroy", POOL)
    _virsh("pool-undefine", POOL)
    shutil.rmtree(POOL_DIR, ignore_errors=True)
    _virsh("pool-define-as", POOL, "dir", "--target", POOL_DIR, check=True)
    _virsh("pool-build", POOL, check=True)
    _virsh("pool-start", POOL, check=True)


def _virsh(*args, check=False):
    proc = subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True)
    if check and proc.returncode:
        raise BenchError(f"virsh {' '.join(args)}: {proc.stderr.strip()}")
    return proc
