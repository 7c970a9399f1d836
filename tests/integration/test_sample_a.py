"""Sample guest (a), end to end with the real appliance and QEMU.

Inspect, boot the guest unconverted, fail and kill `fix` at fixed points
(disks byte-identical each time), dry run, and a fix killed during its
commit and finished with `recover`. Each test names the state it needs as a
fixture (a copy never converted, or one fixed through `recover`), so any
order works. The guest fixed this way is migrated into a libvirt pool and
booted in test_migrate.py, which also shows that a second fix of it finds
nothing to do: one appliance run and one boot, not two of each.
"""

import json
import os
import shutil

import pytest
from conftest import checksums, copy_sample, disk_paths, guestfix, kill_when, start_guestfix

from guestfix.fix.transaction import journal_dir_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def guest(sample_a, tmp_path_factory, state_dir):
    """A copy that is never converted: every test on it leaves its disks as
    they were."""
    xml = copy_sample(sample_a, str(tmp_path_factory.mktemp("a")))
    return {"xml": xml, "disks": disk_paths(xml)}


@pytest.fixture
def killed_run_leftovers(guest):
    """What a fix killed before its commit leaves behind: a journal in state
    working for each disk (cleared by the next fix of those disks)."""
    jdirs = [journal_dir_for(disk) for disk in guest["disks"]]
    for jdir in jdirs:
        os.makedirs(jdir, exist_ok=True)
        with open(os.path.join(jdir, "journal.json"), "w") as f:
            f.write('{"state": "working"}')
    yield guest
    for jdir in jdirs:
        shutil.rmtree(jdir, ignore_errors=True)


@pytest.fixture(scope="module")
def fixed(fixed_sample_a):
    """Another copy, fixed by a run killed during its commit and finished
    with `recover` (conftest.fixed_sample_a, shared with test_migrate)."""
    return fixed_sample_a


def test_inspect_reports_xen_references(sample_a):
    # inspect reads the cache itself: it must never write
    before = checksums(disk_paths(sample_a))
    r = guestfix("inspect", "--json", "--domain", sample_a)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["distro"] == "debian" and info["family"] == "debian"
    assert info["bootloader"] == "grub2" and info["boot_code"] is False
    assert info["initrd_tool"] == "initramfs-tools"
    assert info["nic_names"] == ["enX0"]
    boot = [k for k in info["kernels"] if k["version"] == info["boot_kernel"]][0]
    assert boot["has_virtio"] and not boot["xen_only"]
    assert "virtio_blk" not in boot["initrd_drivers"] and "xen-blkfront" in boot["initrd_drivers"]
    refs = {(r["path"], r["kind"]) for r in info["xen_references"]}
    for expected in [
        ("/etc/fstab", "device"),
        ("/etc/default/grub", "console"),
        ("/boot/grub/grub.cfg", "device"),
        ("/etc/securetty", "console"),
        ("/etc/initramfs-tools/modules", "driver"),
        ("/boot/grub/device.map", "device"),
        ("/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service", "getty"),
    ]:
        assert expected in refs
    fstab = [r for r in info["xen_references"] if r["path"] == "/etc/fstab"]
    assert fstab[0]["text"].startswith("/dev/xvda1") and fstab[0]["line"] == 4
    steps = [f["step"] for f in info["fixups"]]
    # the file edits that do not depend on each other, by name (steps/order.py)
    assert steps[:5] == [
        "bootloader-config",
        "console",
        "device-names",
        "initrd-modules",
        "nic-names",
    ]
    assert "boot-code" in steps
    assert checksums(disk_paths(sample_a)) == before


def test_unconverted_guest_fails_at_boot_code(guest):
    r = guestfix("boot-check", "--json", "--timeout", "120", *guest["disks"])
    assert r.returncode == 7, r.stderr
    result = json.loads(r.stdout)
    assert result["passed"] is False and result["stage"] == "no boot code"


def test_failing_step_leaves_disks_identical(guest):
    before = checksums(guest["disks"])
    r = guestfix(
        "fix", "--yes", "--domain", guest["xml"], env={"GUESTFIX_FAULT": "fail@step:cleanup"}
    )
    assert r.returncode == 6, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "guestfix: error: injected failure at step:cleanup"
    assert checksums(guest["disks"]) == before
    assert os.listdir(os.path.join(os.environ["GUESTFIX_STATE_DIR"], "transactions")) == []


def test_killed_during_a_step_leaves_disks_identical(guest):
    before = checksums(guest["disks"])
    proc, log = start_guestfix(
        ["fix", "--yes", "--domain", guest["xml"]], {"GUESTFIX_FAULT": "sleep@step:console"}
    )
    kill_when(proc, log, "stalled at step:console")
    assert checksums(guest["disks"]) == before


def test_dry_run_shows_diffs_and_changes_nothing(killed_run_leftovers):
    guest = killed_run_leftovers
    before = checksums(guest["disks"])
    r = guestfix("fix", "--dry-run", "--json", "--domain", guest["xml"])
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["dry_run"] and not report["committed"]
    by_target = {c["target"]: c for c in report["changes"]}
    assert "+/dev/vda1\t/\text4" in by_target["/etc/fstab"]["diff"]
    assert by_target["update-grub"]["kind"] == "command"
    assert checksums(guest["disks"]) == before
    # the leftovers of a killed run are not reported
    assert "interrupted" not in r.stderr


def test_fix_killed_during_commit_then_finished(fixed):
    assert len(fixed["journals"]) == 1
    r = fixed["fix_again"]
    assert r.returncode == 8
    assert "guestfix recover --finish" in r.stderr
    r = fixed["recover"]
    assert r.returncode == 0, r.stderr
