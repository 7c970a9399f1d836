"""Benchmark 2: `guestfix migrate` into a libvirt directory pool against
the guide's manual route scripted (manual-route.sh: cp, md5sum of both,
guestfish edits, XML edits, virsh define); then whether each defined
guest boots to a login prompt."""

import os
import subprocess
import time

from lib import (
    GUESTFIX,
    REPO,
    BenchError,
    boot_check,
    build_sample,
    drop_caches,
    log,
    median,
    timed,
)

POOL = "guestfix-bench"
VIRSH = ["virsh", "-q", "-c", "qemu:///system"]


def start_libvirtd():
    for daemon in ("virtlogd", "libvirtd"):
        if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode != 0:
            subprocess.run([daemon, "-d"], check=True)
    for _ in range(60):
        if subprocess.run(VIRSH + ["version"], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    raise BenchError("libvirtd did not come up")


def make_pool(directory):
    subprocess.run(VIRSH + ["pool-destroy", POOL], capture_output=True)
    subprocess.run(VIRSH + ["pool-undefine", POOL], capture_output=True)
    os.makedirs(directory, exist_ok=True)
    for verb in (
        ["pool-define-as", POOL, "dir", "--target", directory],
        ["pool-build", POOL],
        ["pool-start", POOL],
    ):
        subprocess.run(VIRSH + verb, check=True, capture_output=True)


def remove_guest(name, directory):
    subprocess.run(VIRSH + ["undefine", name], capture_output=True)
    for f in os.listdir(directory):
        if f.startswith(name):
            os.unlink(os.path.join(directory, f))
    subprocess.run(VIRSH + ["pool-refresh", POOL], capture_output=True)


def dumpxml(name, path):
    xml = subprocess.run(
        VIRSH + ["dumpxml", name], check=True, capture_output=True, text=True
    ).stdout
    with open(path, "w") as f:
        f.write(xml)
    return path


def run(workdir, runs, layout="a"):
    start_libvirtd()
    pool_dir = os.path.join(workdir, "pool")
    make_pool(pool_dir)
    xml = build_sample(layout)
    migrate_s, manual_s = [], []
    try:
        for i in range(runs):
            for name in ("bench-migrate", "bench-manual"):
                remove_guest(name, pool_dir)
            drop_caches()
            seconds, _ = timed(
                GUESTFIX
                + [
                    "migrate",
                    xml,
                    "-o",
                    "libvirt",
                    "-os",
                    POOL,
                    "-on",
                    "bench-migrate",
                    "--virt-type",
                    "qemu",
                    "--yes",
                    "--json",
                ]
            )
            migrate_s.append(seconds)
            log(f"migrate run {i + 1}/{runs}: guestfix migrate {seconds:.1f} s")
            drop_caches()
            seconds, _ = timed(
                [
                    "bash",
                    os.path.join(REPO, "bench", "manual-route.sh"),
                    xml,
                    pool_dir,
                    "bench-manual",
                ]
            )
            manual_s.append(seconds)
            log(f"migrate run {i + 1}/{runs}: manual route {seconds:.1f} s")
        migrate_boot = boot_check(dumpxml("bench-migrate", os.path.join(workdir, "m.xml")))
        manual_boot = boot_check(dumpxml("bench-manual", os.path.join(workdir, "g.xml")))
        log(f"boot-check: migrate {migrate_boot}, manual {manual_boot}")
    finally:
        for name in ("bench-migrate", "bench-manual"):
            remove_guest(name, pool_dir)
        subprocess.run(VIRSH + ["pool-destroy", POOL], capture_output=True)
        subprocess.run(VIRSH + ["pool-undefine", POOL], capture_output=True)
    return {
        "runs_count": runs,
        "layout": layout,
        "migrate_s": migrate_s,
        "manual_s": manual_s,
        "migrate_median": median(migrate_s),
        "manual_median": median(manual_s),
        "ratio": median(migrate_s) / median(manual_s),
        "migrate_boots": migrate_boot,
        "manual_boots": manual_boot,
    }
