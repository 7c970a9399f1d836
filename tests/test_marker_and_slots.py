"""guestfix's migration record in a domain's <metadata>, and the per-host
slots that limit how many fixes and migrations work at once."""

import os
import subprocess
import sys
import time

from guestfix.core import slots
from guestfix.core.progress import Monitor
from guestfix.domain import marker
from guestfix.domain.model import Domain

XEN = """<domain type='xen'><name>web</name>
  <metadata><app:note xmlns:app='urn:example:app'>kept</app:note></metadata>
  <os><type>linux</type></os><devices/></domain>"""


def record(**changes):
    r = marker.MigrationRecord(
        source="/srv/xen/web.cfg",
        input="xl",
        conn="ssh://root@xen1",
        migrated="2026-11-29T05:00:00Z",
        disks=[
            {
                "target": "xvda",
                "path": "/srv/xen/web.img",
                "size": 3 << 30,
                "mtime": 1764390000.25,
                "sha256": None,
            }
        ],
    )
    for k, v in changes.items():
        setattr(r, k, v)
    return r


def test_the_record_survives_the_domain_text_and_keeps_other_metadata():
    domain = Domain.from_string(XEN)
    marker.stamp(domain, record())
    marker.stamp(domain, record(migrated="2026-11-29T06:00:00Z"))  # replaces, not adds
    text = domain.to_string()
    assert text.count("urn:guestfix:migration:1") == 1 and "kept" in text
    back = marker.read(text)
    assert back.as_dict() == record(migrated="2026-11-29T06:00:00Z").as_dict()
    assert marker.read(XEN) is None


def test_same_source_and_changed_disks():
    before = record()
    assert before.same_source(record(migrated="later"))
    assert not before.same_source(record(source="/srv/xen/db.cfg"))
    assert not before.same_source(record(conn=""))
    touched = record(
        disks=[
            {
                "target": "xvda",
                "path": "/srv/xen/web.img",
                "size": 3 << 30,
                "mtime": 1764399999.0,
                "sha256": None,
            }
        ]
    )
    assert before.changed_disks(touched) == ["xvda"]
    unknown_mtime = record(
        disks=[
            {
                "target": "xvda",
                "path": "/srv/xen/web.img",
                "size": 3 << 30,
                "mtime": None,
                "sha256": "ab",
            }
        ]
    )
    assert before.changed_disks(unknown_mtime) == []


HOLDER = """
import sys, time
sys.path.insert(0, {repo!r})
from guestfix.core import slots
from guestfix.core.progress import Monitor
slots.SLOT_DIR = {dir!r}
with slots.held(1, "migrate first", Monitor()):
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""


class Notes(Monitor):
    def __init__(self):
        self.notes = []

    def note(self, text):
        self.notes.append(text)


def test_a_run_waits_for_the_slot_and_says_who_holds_it(tmp_path, monkeypatch):
    monkeypatch.setattr(slots, "SLOT_DIR", str(tmp_path))
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(repo=repo, dir=str(tmp_path)), "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    monitor = Notes()
    started = time.monotonic()
    with slots.held(1, "migrate second", monitor, poll=0.1) as slot:
        waited = time.monotonic() - started  # the first held it for 2 s
    assert holder.wait(timeout=10) == 0
    assert slot.number == 1 and slot.waited_seconds >= 1.5 and waited >= 1.5
    assert len(monitor.notes) == 1 and "all 1 are taken" in monitor.notes[0]
    assert f"{holder.pid} migrate first" in monitor.notes[0]
    # a second slot is free at once; a killed holder frees its slot
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(repo=repo, dir=str(tmp_path)), "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with slots.held(2, "migrate third", Notes()) as slot:
        assert slot.number == 2 and slot.waited_seconds == 0
    holder.kill()
    holder.wait()
    with slots.held(1, "migrate fourth", Notes(), poll=0.1) as slot:
        assert slot.waited_seconds < 1


def test_default_is_what_the_host_carries(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(slots, "_available_memory", lambda: 5 << 30)
    assert slots.default_max_parallel() == 2
    monkeypatch.setattr(slots, "_available_memory", lambda: 1 << 30)
    assert slots.default_max_parallel() == 1
    monkeypatch.setattr(slots, "_available_memory", lambda: 64 << 30)
    assert slots.default_max_parallel() == 16


def test_tcg_appliances_share_the_cores_among_the_active_runs(tmp_path, monkeypatch):
    """Under TCG a run's appliance gets the cores shared out among the runs
    holding a slot when it launches (a lone run gets them all, a dead
    holder does not count); with KVM, the cores up to 8; GUESTFIX_VCPUS
    says how many outright."""
    import subprocess

    import pytest

    from guestfix.core.errors import GuestfixError
    from guestfix.core.progress import Monitor
    from guestfix.fix.session import vcpus

    monkeypatch.delenv("GUESTFIX_VCPUS", raising=False)
    monkeypatch.setattr(slots, "SLOT_DIR", str(tmp_path / "slots"))
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert (vcpus(tcg=True), vcpus(tcg=False)) == (16, 8)
    with slots.held(4, "this run", Monitor()):
        assert vcpus(tcg=True) == 16
        dead = subprocess.Popen(["true"])
        dead.wait()
        (tmp_path / "slots" / "slot-3").write_text(f"{dead.pid} a run that died\n")
        assert vcpus(tcg=True) == 16
        other = subprocess.Popen(["sleep", "60"])
        try:
            (tmp_path / "slots" / "slot-4").write_text(f"{other.pid} another run\n")
            assert (vcpus(tcg=True), vcpus(tcg=False)) == (8, 8)
        finally:
            other.kill()
            other.wait()
    monkeypatch.setenv("GUESTFIX_VCPUS", "3")
    assert vcpus(tcg=True) == vcpus(tcg=False) == 3
    monkeypatch.setenv("GUESTFIX_VCPUS", "lots")
    with pytest.raises(GuestfixError, match="not a vCPU count"):
        vcpus(tcg=True)


def test_slot_files_are_private_and_never_followed(tmp_path, monkeypatch):
    """A link someone put where a slot file goes is refused, not written through."""
    import pytest

    from guestfix.core import slots
    from guestfix.core.errors import GuestfixError
    from guestfix.core.progress import Monitor

    monkeypatch.setattr(slots, "SLOT_DIR", str(tmp_path / "slots"))
    target = tmp_path / "victim"
    target.write_text("keep me\n")
    with slots.held(1, "first", Monitor()):
        pass
    assert oct((tmp_path / "slots").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "slots" / "slot-1").stat().st_mode & 0o777) == "0o600"
    (tmp_path / "slots" / "slot-1").unlink()
    (tmp_path / "slots" / "slot-1").symlink_to(target)
    with pytest.raises(GuestfixError, match="cannot open this host's slot file"):
        with slots.held(1, "second", Monitor()):
            pass
    assert target.read_text() == "keep me\n"


def test_a_block_device_that_changed_is_told_by_the_hosts_hash():
    """A Xen host's LVM volume has no mtime that says anything: the record
    keeps the host's SHA-1 of what it sent, and a new run compares it."""
    before = record()
    before.disks[0].update(path="ssh://xen1/dev/vg0/web", mtime=None, sha1="a" * 40)
    same = record()
    same.disks[0].update(path="ssh://xen1/dev/vg0/web", mtime=None, sha1="a" * 40)
    assert before.changed_disks(same) == []
    written = record()
    written.disks[0].update(path="ssh://xen1/dev/vg0/web", mtime=None, sha1="b" * 40)
    assert before.changed_disks(written) == ["xvda"]
    domain = Domain.from_string(XEN)
    marker.stamp(domain, before)
    assert marker.read(domain.to_string()).disks[0]["sha1"] == "a" * 40
