"""`guestfix migrate` end to end into a real libvirt directory pool, and
interrupted at fixed points of its stages: the originals stay
byte-identical, partial outputs are removed, no domain is left defined."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import (
    POOL,
    POOL_DIR,
    REPO,
    checksums,
    copy_sample,
    disk_paths,
    domain_exists,
    guestfix,
    pool_volumes,
)

from guestfix.domain import marker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(sample_a, tmp_path_factory, state_dir):
    xml = copy_sample(sample_a, str(tmp_path_factory.mktemp("src")))
    return {"xml": xml, "disks": disk_paths(xml), "sums": checksums(disk_paths(xml))}


@pytest.fixture(scope="module")
def fixed_source(fixed_sample_a):
    """A guest already fixed: its migrate gets past the fix stage after a fix
    that finds nothing to do, instead of a full one. The points after the
    fix stage need nothing else of it (the fix's own interruption is the
    migrate:fix point, on the unfixed source)."""
    disks = fixed_sample_a["disks"]
    return {"xml": fixed_sample_a["xml"], "disks": disks, "sums": checksums(disks)}


@pytest.mark.parametrize(
    "point,guest",
    [
        ("migrate:source", "source"),
        ("migrate:backup", "source"),
        ("migrate:fix", "source"),
        ("migrate:copying", "fixed_source"),
        ("migrate:domain", "fixed_source"),
    ],
)
def test_interrupted_migrate_leaves_nothing(point, guest, pool, libvirtd, tmp_path, request):
    source = request.getfixturevalue(guest)
    name = f"guestfix-int-{point.split(':')[1]}"
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "guestfix.cli",
            "migrate",
            source["xml"],
            "-o",
            "libvirt",
            "-os",
            pool,
            "-on",
            name,
            "--yes",
            "--log",
            str(tmp_path / "m.log"),
            "--backup",
            str(tmp_path / "backup"),
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, GUESTFIX_FAULT=f"sleep@{point}"),
    )
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        log.seek(0)
        if f"stalled at {point}" in log.read():
            break
        assert proc.poll() is None, "migrate ended before the interruption point"
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)  # as `kill` or a closing terminal would
    if point == "migrate:copying":
        # an impatient second one, while the partial volume is being removed
        time.sleep(0.2)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    assert pool_volumes(libvirtd) == []
    assert not domain_exists(libvirtd, name)
    assert checksums(source["disks"]) == source["sums"]


def test_migrate_into_pool(fixed_source, pool, libvirtd, tmp_path):
    """The libvirt output end to end: backup, volumes, define. It runs on the
    already-fixed (a), whose fix stage finds nothing to do: migrate's full
    fix of a Xen guest is proven, booted, by the xen-tools layouts
    (test_xen_tools.py), and this saves a full fix of (a). The same guest
    migrated into this pool boots in libvirt, with its mounts, swap, NIC
    name and console checked, in test_early_start.py."""
    source = fixed_source
    name = "guestfix-test-migrated"
    try:
        r = guestfix(
            "migrate",
            source["xml"],
            "-o",
            "libvirt",
            "-os",
            pool,
            "-on",
            name,
            "-of",
            "qcow2",
            "--backup",
            tmp_path / "backup",
            "--yes",
            "--json",
            "--virt-type",
            "qemu",
            "--log",
            tmp_path / "m.log",
        )
        assert r.returncode == 0, r.stderr[-3000:]
        report = json.loads(r.stdout)
        assert [s["name"] for s in report["stages"]] == [
            "source",
            "slot",
            "backup",
            "fix",
            "copy",
            "domain",
        ]
        assert all(s["ok"] for s in report["stages"])
        # (a) as `fix` and `recover` left it: a second fix finds nothing to do
        assert report["changes"] == []
        assert report["downtime_seconds"] >= sum(s["seconds"] for s in report["stages"]) - 2
        assert pool_volumes(libvirtd) == [f"{name}-vda.qcow2"]
        dumped = subprocess.run(
            ["virsh", "-c", libvirtd, "dumpxml", name], capture_output=True, text=True, check=True
        ).stdout
        assert f"{POOL_DIR}/{name}-vda.qcow2" in dumped and "type='qcow2'" in dumped
        # libvirt keeps guestfix's record of the migration, with the backup's checksum
        record = marker.read(dumped)
        assert record.source == source["xml"] and record.input == "libvirtxml"
        assert [d["sha256"] for d in record.disks] == list(source["sums"].values())
        # the backup was verified and the originals never changed
        assert guestfix("backup", "--verify", tmp_path / "backup").returncode == 0
        assert checksums(source["disks"]) == source["sums"]
        # a second migrate to the same name is refused before any work
        again = guestfix(
            "migrate", source["xml"], "-o", "libvirt", "-os", pool, "-on", name, "--yes"
        )
        assert again.returncode == 11 and "already exists" in again.stderr
    finally:
        subprocess.run(["virsh", "-c", libvirtd, "undefine", name], capture_output=True)
        for vol in pool_volumes(libvirtd):
            subprocess.run(
                ["virsh", "-c", libvirtd, "vol-delete", vol, "--pool", POOL], capture_output=True
            )
