"""`migrate --start-early` with a real libvirtd and a type='qemu' domain:
the guest runs on overlays over the read-only originals while libvirt's
block copy fills its pool volumes, then pivots to them.

guestfix is killed at each point that matters: before the domain starts
(everything undone), during the copy (the guest keeps running on its
overlays; --resume finishes) and after the pivot, before the clean-up
(--resume cleans up). The originals stay byte-identical throughout, with
their owner and mode as they were."""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest
from conftest import (
    POOL,
    POOL_DIR,
    checksums,
    copy_sample,
    domain_exists,
    guestfix,
    kill_when,
    pool_volumes,
    start_guestfix,
)

pytestmark = pytest.mark.slow
# QEMU runs as libvirt-qemu: the originals must be where it can reach them
# (pytest's own temporary directories are private to root).
SOURCE_DIR = "/var/lib/libvirt/images/guestfix-test-early-source"
ROOT_PASSWORD = "guestfix"  # test-images/build.py


@pytest.fixture(scope="module")
def source(fixed_sample_a):
    xml = copy_sample(fixed_sample_a["xml"], SOURCE_DIR)
    os.chmod(SOURCE_DIR, 0o755)
    disk = [os.path.join(SOURCE_DIR, f) for f in os.listdir(SOURCE_DIR) if f.endswith(".img")][0]
    os.chmod(disk, 0o640)  # an owner and mode libvirt would change
    yield {"xml": xml, "disk": disk, "sums": checksums([disk]), "owner": owner(disk)}
    shutil.rmtree(SOURCE_DIR, ignore_errors=True)


def owner(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, st.st_mode & 0o7777


def migrate_args(source, name, *extra):
    return [
        "migrate",
        source["xml"],
        "-o",
        "libvirt",
        "-os",
        POOL,
        "-on",
        name,
        "--start-early",
        "--virt-type",
        "qemu",
        "--bridge",
        "br0",
        "--yes",
        *extra,
    ]


def virsh(libvirtd, *args):
    return subprocess.run(["virsh", "-c", libvirtd, *args], capture_output=True, text=True)


def disk_source(libvirtd, name, inactive=False):
    xml = virsh(libvirtd, "dumpxml", name, *(["--inactive"] if inactive else [])).stdout
    return re.search(r"<disk .*?<source file='([^']+)'", xml, re.S).group(1)


def state_file(name):
    return os.path.join(os.environ["GUESTFIX_STATE_DIR"], "early", f"{name}.json")


def remove_domain(libvirtd, name):
    virsh(libvirtd, "destroy", name)
    virsh(libvirtd, "undefine", name)
    for vol in pool_volumes(libvirtd):
        if vol.startswith(name):
            virsh(libvirtd, "vol-delete", vol, "--pool", POOL)


class Console:
    """The domain's serial console through libvirt, for the test to log in
    and type (guestfix itself only ever reads it)."""

    def __init__(self, libvirtd, name):
        import libvirt

        from guestfix.outputs.earlystart.console import start_event_loop

        start_event_loop(libvirt)
        self.conn = libvirt.open(libvirtd)
        self.stream = self.conn.newStream(0)
        self.conn.lookupByName(name).openConsole(
            None, self.stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE
        )
        self.text = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = self.stream.recv(4096)
            except Exception:
                return
            if not isinstance(data, bytes) or not data:
                return
            self.text += data.decode("utf-8", "replace")

    def expect(self, pattern, timeout=300, since=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text[since:])
            if found:
                return found
            time.sleep(0.5)
        pytest.fail(f"console: no {pattern!r} in time; last output:\n{self.text[-1500:]}")

    def send(self, line):
        mark = len(self.text)
        self.stream.send((line + "\r").encode())
        return mark

    def login(self):
        self.expect(r"login: ")
        self.expect(r"Password: ", since=self.send("root"))
        self.expect(r"# ", since=self.send(ROOT_PASSWORD))

    def run(self, command, timeout=60):
        """Run a shell command; returns its output. The closing mark is
        computed by the shell, so the echoed command line does not hold it."""
        since = self.send(f"{command}; echo END-OF-$((40 + 2))")
        out = self.expect(re.compile(r"\n(.*)END-OF-42", re.S), timeout, since).group(1)
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", out)  # bash's terminal modes

    def close(self):
        try:
            self.stream.abort()
        finally:
            self.conn.close()


def test_killed_before_the_start_leaves_nothing(source, pool, libvirtd):
    """Up to the start an early start is undone like any migrate: the
    volumes, the overlays placed by them, the domain and the state file."""
    name = "guestfix-early-unstarted"
    proc, log = start_guestfix(
        migrate_args(source, name), {"GUESTFIX_FAULT": "sleep@migrate:start"}
    )
    deadline = time.monotonic() + 900
    while "stalled at migrate:start" not in (log.seek(0) or log.read()):
        assert proc.poll() is None and time.monotonic() < deadline, log.read()
        time.sleep(0.5)
    assert pool_volumes(libvirtd) == [f"{name}-vda.early.qcow2", f"{name}-vda.img"]
    assert os.path.exists(state_file(name))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    assert pool_volumes(libvirtd) == []
    assert not domain_exists(libvirtd, name)
    assert not os.path.exists(state_file(name))
    assert checksums([source["disk"]]) == source["sums"]
    assert owner(source["disk"]) == source["owner"]


def test_killed_while_copying_and_after_the_pivot_then_resumed(source, pool, libvirtd):
    """The guest reaches its login prompt while the copy runs; what is
    written in it then is in the volumes after the pivot; a killed run
    leaves it running and --resume finishes; the volumes alone boot."""
    name = "guestfix-early-resumed"
    overlay, volume = f"{POOL_DIR}/{name}-vda.early.qcow2", f"{POOL_DIR}/{name}-vda.img"
    console = None
    try:
        # a copy slow enough (3 GiB at 30 MiB/s) to outlast the boot
        proc, log = start_guestfix(
            migrate_args(source, name, "--copy-bandwidth", "30"),
            {"GUESTFIX_FAULT": "sleep@early:copying"},
        )
        deadline = time.monotonic() + 900
        while "stalled at early:copying" not in (log.seek(0) or log.read()):
            assert proc.poll() is None and time.monotonic() < deadline, log.read()
            time.sleep(0.5)
        console = Console(libvirtd, name)
        console.login()
        job = dict(
            re.findall(
                r"(\w+)=(.*)", virsh(libvirtd, "blockjob", name, "vda", "--info", "--raw").stdout
            )
        )
        assert job["type"] == "Block Copy" and int(job["cur"]) < int(job["end"]), job
        assert disk_source(libvirtd, name) == overlay
        console.run("echo written-while-copying > /root/early-marker; sync")

        # killed during the copy: the guest runs on, on its overlay
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert virsh(libvirtd, "domstate", name).stdout.strip() == "running"
        assert disk_source(libvirtd, name) == overlay
        assert os.path.exists(state_file(name))

        # killed after the pivot, before the clean-up
        proc, log = start_guestfix(
            ["migrate", "--resume", name], {"GUESTFIX_FAULT": "sleep@early:pivoted"}
        )
        kill_when(proc, log, "stalled at early:pivoted")
        assert disk_source(libvirtd, name) == volume
        assert os.path.exists(overlay) and os.path.exists(state_file(name))

        r = guestfix("migrate", "--resume", name, "--json")
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)
        assert [d["target"] for d in result["disks"]] == ["vda"]
        assert result["disks"][0]["finished"] > 0
        assert pool_volumes(libvirtd) == [f"{name}-vda.img"]
        assert not os.path.exists(state_file(name))
        assert disk_source(libvirtd, name, inactive=True) == volume
        info = json.loads(
            subprocess.run(
                ["qemu-img", "info", "-U", "--output=json", volume],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert "backing-filename" not in info
        assert checksums([source["disk"]]) == source["sums"]
        assert owner(source["disk"]) == source["owner"]
        again = guestfix("migrate", "--resume", name)
        assert again.returncode == 3 and "no unfinished early start" in again.stderr

        # the volumes alone, after a hard stop, boot with what was written
        console.close()
        virsh(libvirtd, "destroy", name)
        assert virsh(libvirtd, "start", name).returncode == 0
        console = Console(libvirtd, name)
        console.login()
        assert "written-while-copying" in console.run("cat /root/early-marker")
        # (a) as `fix` and `recover` left it, migrated: root, swap, NIC name
        # and console for KVM (the plain pool migrate's boot, proven here)
        assert console.run("findmnt -n -o SOURCE /").split() == ["/dev/vda1"]
        assert console.run("swapon --show=NAME --noheadings").split() == ["/dev/vda2"]
        assert console.run("ls /sys/class/net").split() == ["enX0", "lo"]
        assert "console=ttyS0" in console.run("cat /proc/cmdline")
        assert console.run("systemctl --failed --plain --no-legend").strip() == ""
    finally:
        if console is not None:
            console.close()
        remove_domain(libvirtd, name)


def test_start_early_reports_downtime_and_login(source, pool, libvirtd):
    """Uninterrupted, with --boot-check: the report's downtime ends when the
    guest started, the console was watched for the login prompt, the copy
    held back until then, and the domain runs on its volume."""
    name = "guestfix-early-whole"
    try:
        r = guestfix(
            *migrate_args(
                source, name, "-of", "qcow2", "--boot-check", "--boot-timeout", "400", "--json"
            )
        )
        assert r.returncode == 0, r.stderr[-3000:]
        report = json.loads(r.stdout)
        stages = {s["name"]: s["seconds"] for s in report["stages"]}
        assert list(stages) == [
            "source",
            "slot",
            "fix",
            "overlays",
            "domain",
            "start",
            "live-copy",
            "boot-check",
        ]
        # the downtime is everything up to the start, and nothing after it
        assert (
            report["downtime_seconds"]
            <= sum(stages[s] for s in ("source", "slot", "fix", "overlays", "domain", "start")) + 2
        )
        assert report["boot_check"]["passed"] and report["boot_check"]["stage"] == "login"
        [disk] = report["early_start"]["disks"]
        assert disk["volume"] == f"{POOL_DIR}/{name}-vda.qcow2"
        # the copy was held back while the guest booted: it ended after the login
        assert disk["finished_seconds"] > report["boot_check"]["seconds"] > 0
        assert virsh(libvirtd, "domstate", name).stdout.strip() == "running"
        assert disk_source(libvirtd, name) == disk["volume"]
        assert pool_volumes(libvirtd) == [f"{name}-vda.qcow2"]
        assert checksums([source["disk"]]) == source["sums"]
        assert owner(source["disk"]) == source["owner"]
    finally:
        remove_domain(libvirtd, name)
