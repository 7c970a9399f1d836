"""The transaction on real images with real qemu tools (no appliance):
commit, interrupted commit detected, recover --finish and --undo."""

import hashlib
import os
import subprocess

import pytest
from conftest import guestfix

from guestfix.core.errors import DiskLockedError, PendingTransactionError
from guestfix.disks.image import create_overlay, open_disk
from guestfix.fix.transaction import ThrowawayOverlays, Transaction, check_pending, journal_dir_for


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_raw(path, size=8 << 20):
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return str(path)


def write_overlay(overlay, pattern="0xab", offset="1M", length="256k"):
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} {offset} {length}", overlay],
        check=True,
        capture_output=True,
    )


@pytest.fixture(params=["raw", "qcow2"])
def disk(request, tmp_path, state_dir):
    raw = make_raw(tmp_path / "disk.raw")
    if request.param == "raw":
        return open_disk(raw, writable=True)
    q = str(tmp_path / "disk.qcow2")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, q], check=True)
    return open_disk(q, writable=True)


def guest_view(disk):
    """The guest-visible bytes of an image, whatever its format."""
    out = disk.path + ".view"
    subprocess.run(
        ["qemu-img", "convert", "-f", disk.format, "-O", "raw", disk.path, out], check=True
    )
    digest = sha(out)
    os.remove(out)
    return digest


def test_discarded_without_commit(disk):
    before = sha(disk.path)
    with Transaction([disk]) as txn:
        write_overlay(txn.overlays[0].path)
    assert sha(disk.path) == before
    assert not os.path.exists(journal_dir_for(disk.path))


def test_commit_writes_changes(disk):
    before = guest_view(disk)
    with Transaction([disk]) as txn:
        write_overlay(txn.overlays[0].path)
        txn.commit()
    assert guest_view(disk) != before
    assert not os.path.exists(journal_dir_for(disk.path))


def test_throwaway_overlays_leave_no_journal(disk):
    """What fix --dry-run and migrate work on: the disk is only read, and
    nothing of the overlays outlives the block."""
    before = sha(disk.path)
    with ThrowawayOverlays([disk]) as layer:
        write_overlay(layer.overlays[0].path)
        overlay_dir = os.path.dirname(layer.overlays[0].path)
    assert sha(disk.path) == before
    assert not os.path.exists(journal_dir_for(disk.path))
    assert not os.path.exists(overlay_dir)


def _interrupted_commit(disk):
    """Commit, then fake the kill: journal left in state committing."""

    class Killed(Exception):
        pass

    def die(_disk):
        raise Killed()

    with pytest.raises(PendingTransactionError, match="recover --finish"):
        with Transaction([disk]) as txn:
            write_overlay(txn.overlays[0].path)
            txn.commit(on_disk=die)


def test_interrupted_commit_is_refused_then_undone(disk):
    before = guest_view(disk)
    _interrupted_commit(disk)
    with pytest.raises(PendingTransactionError):
        check_pending([disk])
    r = guestfix("fix", "--yes", disk.path)
    assert r.returncode == 8, r.stderr
    assert "guestfix recover" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = guestfix("recover", "--undo", disk.path)
    assert r.returncode == 0, r.stderr
    assert guest_view(disk) == before
    check_pending([disk])


def test_interrupted_commit_finished(disk):
    _interrupted_commit(disk)
    r = guestfix("recover", "--finish", disk.path)
    assert r.returncode == 0, r.stderr
    check_pending([disk])
    # the 256k pattern written in the overlay is now in the disk
    # qemu-io exits 1 when the pattern differs or the image cannot be read
    out = subprocess.run(
        ["qemu-io", "-f", disk.format, "-c", "read -P 0xab 1M 256k", disk.path],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Pattern verification failed" not in out.stdout + out.stderr


def test_half_written_commit_undone_exactly(disk):
    """Kill in the middle of qemu-img commit: simulated by committing part
    of the overlay by hand after the journal says committing."""
    before = guest_view(disk)
    _interrupted_commit(disk)
    jdir = journal_dir_for(disk.path)
    # a partial write of the new data, as a kill mid-commit would leave
    subprocess.run(
        ["qemu-io", "-f", disk.format, "-c", "write -P 0xab 1M 64k", disk.path],
        check=True,
        capture_output=True,
    )
    assert guest_view(disk) != before
    assert os.path.exists(os.path.join(jdir, "undo.qcow2"))
    r = guestfix("recover", "--undo", disk.path)
    assert r.returncode == 0, r.stderr
    assert guest_view(disk) == before


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_undo_holds_the_disk_where_the_overlay_changed_it(tmp_path, fmt):
    """The undo image copies only the overlay's own ranges (near ones
    joined, far ones apart, zeroed ones too) and puts the disk back
    exactly; a comma in the disk's path is the options' escape's business."""
    from guestfix.fix.transaction import UNDO_JOIN_GAP, changed_ranges, make_undo

    where = tmp_path / "dir,with,commas"
    where.mkdir()
    raw = make_raw(where / "disk.raw", size=64 << 20)
    if fmt == "qcow2":
        q = str(where / "disk.qcow2")
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, q], check=True)
        raw = q
    disk = open_disk(raw, writable=True)
    before = guest_view(disk)
    overlay = create_overlay(disk, str(tmp_path / "overlay.qcow2")).path
    write_overlay(overlay, "0x11", "1M", "64k")
    write_overlay(overlay, "0x22", "3M", "4k")  # near: joined with the first
    write_overlay(overlay, "0x33", "40M", "1M")  # far: a range of its own
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -z 60M 128k", overlay],
        check=True,
        capture_output=True,
    )
    ranges = changed_ranges(overlay)
    assert len(ranges) == 3 and ranges[0][0] == 1 << 20 and ranges[0][1] < UNDO_JOIN_GAP
    undo = str(tmp_path / "undo.qcow2")
    make_undo(disk, overlay, undo)
    subprocess.run(["qemu-img", "commit", "-q", "-f", "qcow2", overlay], check=True)
    assert guest_view(disk) != before
    subprocess.run(["qemu-img", "commit", "-q", "-f", "qcow2", undo], check=True)
    assert guest_view(disk) == before


def test_stale_leftovers_of_a_killed_run_are_cleared(disk):
    jdir = journal_dir_for(disk.path)
    os.makedirs(jdir)
    with open(os.path.join(jdir, "journal.json"), "w") as f:
        f.write('{"state": "working"}')
    check_pending([disk])
    assert not os.path.exists(jdir)


def test_disk_in_use_by_another_run_is_exit_4(disk):
    with Transaction([disk]):
        with pytest.raises(DiskLockedError, match="another guestfix run") as caught:
            check_pending([disk])
    assert caught.value.exit_code == 4
