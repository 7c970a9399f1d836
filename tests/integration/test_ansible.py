"""The Ansible collection guestfix.kvm, run by the real ansible-playbook and
ansible-test from the venv: its example playbook migrates two guests into a
libvirt pool on this host (localhost), one at a time, then again with
nothing to do; --check --diff changes nothing; a guest that cannot be
migrated fails its own task with guestfix's one-line error."""

import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest
from conftest import (
    POOL,
    POOL_DIR,
    REPO,
    checksums,
    copy_sample,
    disk_paths,
    domain_exists,
    pool_volumes,
)

from guestfix.domain import marker

pytestmark = pytest.mark.slow

COLLECTIONS = os.path.join(REPO, "ansible")
COLLECTION = os.path.join(COLLECTIONS, "ansible_collections", "guestfix", "kvm")
VENV_BIN = os.path.dirname(sys.executable)
GUESTS = ("guestfix-ans-web", "guestfix-ans-db")
BROKEN = "guestfix-ans-broken"


def guest_copy(fixed_xml, name, top):
    """A copy of the fixed (a) as a Xen guest of its own: its name, a new
    UUID (libvirt refuses two domains with one UUID)."""
    xml = copy_sample(fixed_xml, str(top / name))
    with open(xml) as f:
        text = f.read()
    text = re.sub(r"<name>[^<]*</name>", f"<name>{name}</name>", text, count=1)
    text = re.sub(r"<uuid>[^<]*</uuid>", f"<uuid>{uuid.uuid4()}</uuid>", text, count=1)
    with open(xml, "w") as f:
        f.write(text)
    return xml


def broken_guest(top):
    """A Xen guest whose disk holds no operating system."""
    d = top / BROKEN
    d.mkdir()
    disk = d / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    xml = d / f"{BROKEN}.xml"
    xml.write_text(f"""<domain type='xen'>
  <name>{BROKEN}</name>
  <memory unit='KiB'>524288</memory>
  <os><type>linux</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='xvda' bus='xen'/>
    </disk>
  </devices>
</domain>
""")
    return str(xml)


def inventory(path, guests, batch_report):
    """The example inventory's shape, pointed at this host."""
    hosts = {name: {"guestfix_source": xml} for name, xml in guests.items()}
    data = {
        "all": {
            "hosts": {
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                }
            },
            "vars": {"guestfix_batch_report": str(batch_report)},
            "children": {
                "xen_guests": {
                    "hosts": hosts,
                    "vars": {
                        "guestfix_kvm_host": "localhost",
                        "guestfix_output_storage": POOL,
                        "guestfix_virt_type": "qemu",  # no nested KVM on the test machines
                        "guestfix_max_parallel": 1,
                        "guestfix_executable": os.path.join(VENV_BIN, "guestfix"),
                    },
                }
            },
        }
    }
    path.write_text(json.dumps(data, indent=2))  # JSON is YAML
    return path


def playbook(inventory_path, *options):
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
    )
    return subprocess.run(
        [
            os.path.join(VENV_BIN, "ansible-playbook"),
            "-i",
            str(inventory_path),
            "guestfix.kvm.migrate_xen_guests",
            *options,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        cwd=REPO,
    )


def recap(output):
    """PLAY RECAP: {host: {"ok": n, "changed": n, "failed": n, ...}}."""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


@pytest.fixture(scope="module")
def batch(fixed_sample_a, pool, libvirtd, tmp_path_factory):
    top = tmp_path_factory.mktemp("ansible")
    guests = {name: guest_copy(fixed_sample_a["xml"], name, top) for name in GUESTS}
    sums = checksums([p for xml in guests.values() for p in disk_paths(xml)])
    yield {"top": top, "guests": guests, "sums": sums}
    for name in (*GUESTS, BROKEN):
        subprocess.run(["virsh", "-c", libvirtd, "undefine", name], capture_output=True)
    for vol in pool_volumes(libvirtd):
        if vol.startswith("guestfix-ans-"):
            subprocess.run(
                ["virsh", "-c", libvirtd, "vol-delete", vol, "--pool", POOL], capture_output=True
            )


def test_check_mode_with_diff_changes_nothing(batch, libvirtd):
    inv = inventory(batch["top"] / "check.yml", batch["guests"], batch["top"] / "check.json")
    r = playbook(inv, "--check", "--diff")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    counts = recap(r.stdout)
    assert all(counts[g]["changed"] == 1 and counts[g]["failed"] == 0 for g in GUESTS), counts
    # the diff: the Xen domain before, the KVM domain after (with guestfix's record)
    assert "Xen domain (source)" in r.stdout and "KVM domain" in r.stdout
    assert re.search(r"^-<domain type=\"xen\"", r.stdout, re.M), r.stdout[-4000:]
    assert re.search(r"^\+<domain [^>]*type=\"qemu\"", r.stdout, re.M)
    assert '+      <guestfix:source input="libvirtxml">' in r.stdout
    report = json.loads((batch["top"] / "check.json").read_text())
    assert report["totals"]["would migrate"] == 2
    assert all(not domain_exists(libvirtd, g) for g in GUESTS)
    assert not [v for v in pool_volumes(libvirtd) if v.startswith("guestfix-ans-")]
    assert checksums(batch["sums"]) == batch["sums"]


def test_two_guests_one_at_a_time_then_nothing_to_do(batch, libvirtd):
    inv = inventory(batch["top"] / "run.yml", batch["guests"], batch["top"] / "run.json")
    r = playbook(inv)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    counts = recap(r.stdout)
    assert all(counts[g]["changed"] == 1 for g in GUESTS), counts
    report = json.loads((batch["top"] / "run.json").read_text())
    assert report["totals"]["migrated"] == 2, report["lines"]
    runs = {g["guest"]: g for g in report["guests"]}
    # the limit of one: the second waited for the first's slot, and their
    # work (from the slot to the end) did not overlap
    assert sorted(bool(runs[g]["waited_seconds"]) for g in GUESTS) == [False, True]
    first, second = sorted(GUESTS, key=lambda g: runs[g]["waited_seconds"])
    assert "waiting" not in runs[first]["message"]
    assert "after waiting" in runs[second]["message"]
    assert end_of(runs[first]) <= start_of_work(runs[second]) + 0.2  # seconds are rounded
    for g in GUESTS:
        assert [p["name"] for p in runs[g]["phases"]] == [
            "source",
            "slot",
            "fix",
            "copy",
            "domain",
        ]
        dumped = subprocess.run(
            ["virsh", "-c", libvirtd, "dumpxml", g], capture_output=True, text=True, check=True
        ).stdout
        assert f"{POOL_DIR}/{g}-vda.img" in dumped
        assert marker.read(dumped).source == batch["guests"][g]
    # the summary printed at the end of the play
    assert f"{first}: migrated - {first} migrated in" in r.stdout
    assert re.search(
        rf"{second}: migrated - {second} migrated in \d+ s \(0 changes in the "
        r"guest\) after waiting \d+ s for a free slot",
        r.stdout,
    )
    # again: nothing to do, nothing touched
    volumes = pool_volumes(libvirtd)
    again = playbook(inv)
    assert again.returncode == 0, again.stdout[-4000:]
    counts = recap(again.stdout)
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), counts
    report = json.loads((batch["top"] / "run.json").read_text())
    assert report["totals"]["already migrated"] == 2
    assert all([p["name"] for p in g["phases"]] == ["source"] for g in report["guests"])
    assert pool_volumes(libvirtd) == volumes
    assert checksums(batch["sums"]) == batch["sums"]


def end_of(run):
    from datetime import datetime

    last = run["phases"][-1]
    return datetime.fromisoformat(last["started"]).timestamp() + last["seconds"]


def start_of_work(run):
    """When the run had its slot: the end of its slot phase."""
    from datetime import datetime

    slot = next(p for p in run["phases"] if p["name"] == "slot")
    return datetime.fromisoformat(slot["started"]).timestamp() + slot["seconds"]


def test_a_guest_that_fails_fails_alone_and_leaves_nothing(batch, libvirtd):
    guests = dict(batch["guests"], **{BROKEN: broken_guest(batch["top"])})
    inv = inventory(batch["top"] / "broken.yml", guests, batch["top"] / "broken.json")
    volumes = pool_volumes(libvirtd)
    r = playbook(inv)
    assert r.returncode == 2, r.stdout[-4000:]  # ansible-playbook: a host failed
    counts = recap(r.stdout)
    assert counts[BROKEN]["failed"] == 1
    assert all(counts[g]["failed"] == 0 and counts[g]["changed"] == 0 for g in GUESTS)
    report = json.loads((batch["top"] / "broken.json").read_text())
    broken = next(g for g in report["guests"] if g["guest"] == BROKEN)
    assert broken["outcome"] == "failed"
    # guestfix's own one-line error is the task's message
    assert broken["message"].startswith(
        "migrate failed at stage `fix`: no Linux operating system found on the disks"
    )
    assert "\n" not in broken["message"] and "Traceback" not in r.stdout
    assert f'"msg": "{broken["message"]}"' in r.stdout and '"rc": 5' in r.stdout
    assert not domain_exists(libvirtd, BROKEN) and pool_volumes(libvirtd) == volumes


def test_ansible_test_sanity_passes():
    """ansible-test's own sanity tests on the collection. ansible-test
    fetches pip's get-pip.py from a host this machine cannot reach: a
    stand-in (pip from ensurepip) is placed in its cache."""
    from types import SimpleNamespace

    from ansible_test._internal.python_requirements import get_venv_packages

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    pip = get_venv_packages(SimpleNamespace(version=version))["pip"]
    cache = os.path.expanduser("~/.ansible/test/cache")
    os.makedirs(cache, exist_ok=True)
    shutil.copyfile(
        os.path.join(REPO, "tests", "ansible", "get_pip_standin.py"),
        os.path.join(cache, f"get_pip_{pip.replace('.', '_')}.py"),
    )
    r = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-test"), "sanity", "--python", version, "--local"],
        capture_output=True,
        text=True,
        cwd=COLLECTION,
        timeout=1800,
        env=dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"]),
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "validate-modules" in r.stdout and "pylint" in r.stdout
