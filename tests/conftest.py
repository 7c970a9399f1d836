import contextlib
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# the sample guests' builder and copier (test-images/samples.py)
sys.path.insert(0, os.path.join(REPO, "test-images"))

# This project's CI machines cannot run nested KVM: libguestfs and the boot
# checks use TCG unless the caller set something else.
os.environ.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
os.environ.setdefault("GUESTFIX_TCG", "1")

# `make test` runs the suite in two pytest-xdist workers. What two workers
# would otherwise share on this host gets a name of each worker's own: the
# migration slots (a limit test counts only its own worker's runs) and the
# libvirt storage pool (each worker creates and removes its own).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["GUESTFIX_SLOT_DIR"] = f"/run/guestfix/test-slots-{WORKER}"

# How the workers share the work (make test: -n 2 --dist loadscope, with
# the scheduler below): a module's tests stay together, since they share its
# fixtures, and the modules that use the fixed (a) go together, since it is
# made once per worker. The longest groups are handed out first, so no
# worker is left with one at the end while the other idles; the rest keep
# their order. The SUSE layouts come second although shorter: their images
# are file-level trees, so on an empty image cache the second worker starts
# on them at once instead of waiting for the first one's debootstrap.
# Minutes each took in one of two workers, image builds included (measured
# with 2-vCPU TCG appliances; with 1 vCPU each all are shorter, in about the
# same proportions):
FIXED_A = "fixed-a"
SHARES_FIXED_A = [
    "tests/integration/test_sample_a.py",
    "tests/integration/test_migrate.py",
    "tests/integration/test_ansible.py",
    "tests/integration/test_early_start.py",
]
LONGEST_FIRST = [
    FIXED_A,  # 22.5
    "tests/integration/test_suse_layouts.py",  # 7
    "tests/integration/test_rpm_families.py",  # 16.5
    "tests/integration/test_xen_tools_sample_server.py",
    "tests/integration/test_xen_tools_bookworm.py",
    "tests/integration/test_xen_tools_bullseye.py",
    "tests/integration/test_xen_tools.py",  # 12.5
    "tests/integration/test_remote_source.py",  # 8.5
    "tests/integration/test_xenserver.py",  # 7 (image of (d) cached)
    "tests/corpus/test_corpus.py",  # 3
    "tests/integration/test_sample_d.py",  # 3
]


def pytest_configure(config):
    # With slots of their own, the workers' runs do not see each other as
    # active: each appliance and boot check gets the cores shared out among
    # the workers instead (two 2-vCPU TCG appliances side by side on 2 cores
    # are slower than two of 1 vCPU). The worker count is known here, from
    # xdist's workerinput (in the main process, from -n: the workers inherit
    # its environment), and not yet in the environment when this file is
    # imported.
    if hasattr(config, "workerinput"):
        workers = config.workerinput["workercount"]
    else:
        workers = getattr(config.option, "numprocesses", None) or 1
    os.environ.setdefault(
        "GUESTFIX_VCPUS", str(max(1, (os.cpu_count() or 1) // max(1, int(workers))))
    )


def work_group(nodeid):
    module = nodeid.split("::")[0]
    return FIXED_A if module in SHARES_FIXED_A else module


def pytest_collection_modifyitems(config, items):
    # The workers report this order, and --no-loadscope-reorder keeps it.
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_group(item.nodeid), len(rank)))


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return work_group(nodeid)

    return WorkGroupScheduling(config, log)


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory):
    """Transaction journals of this test run, away from the host's."""
    d = tmp_path_factory.mktemp("state")
    os.environ["GUESTFIX_STATE_DIR"] = str(d)
    return d


def build_sample(layout):
    """Build (or take from the cache) a sample Xen guest; returns its XML.
    The same call the demo makes (test-images/samples.py)."""
    from samples import sample_guest

    return sample_guest(layout)


def guestfix(*args, env=None, timeout=1800, input=None, stdin=None):
    """Run the real command line; returns the CompletedProcess. A fatal
    signal (an abort from a corrupted heap, say) prints the Python stack of
    every thread to the captured stderr. `stdin`: a file whose bytes are
    the standard input (an export read from a pipe)."""
    full_env = dict(os.environ, PYTHONFAULTHANDLER="1", **(env or {}))
    with open(stdin, "rb") if stdin else contextlib.nullcontext() as stdin_file:
        return subprocess.run(
            [sys.executable, "-m", "guestfix.cli", *map(str, args)],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            input=input,
            stdin=stdin_file,
            cwd=REPO,
        )


def boot_checked(xml_path, console_log=None):
    """Boot the guest of a domain XML with `boot-check` and require the login
    prompt; returns (the JSON result, its probe, the probe's mounts). The
    whole serial console goes to `console_log` when given (the result's
    tail is only its last lines, which the probe's report may fill)."""
    import json

    extra = ["--console-log", console_log] if console_log else []
    r = guestfix("boot-check", "--json", "--timeout", "400", "--domain", xml_path, *extra)
    result = json.loads(r.stdout)
    assert r.returncode == 0, result.get("tail")
    probe = result["probe"]
    return result, probe, {m["target"]: m["source"] for m in probe["mounts"]}


def copy_sample(xml_path, dest):
    """Copy a cached sample guest (sparse) into dest; returns the new XML."""
    from samples import copy_guest

    return copy_guest(xml_path, dest)


def disk_paths(xml_path):
    import re

    with open(xml_path) as f:
        return re.findall(r"<source file='([^']+)'", f.read())


def checksums(paths):
    import hashlib

    out = {}
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        out[p] = h.hexdigest()
    return out


def guest_files(disks, paths, listings=()):
    """Read files (and list directories) inside disk images with a plain
    read-only libguestfs handle, independent of guestfix's own session.
    Returns {path: text or None}, with each listing under "ls:DIR"."""
    import guestfs

    g = guestfs.GuestFS(python_return_dict=True)
    try:
        for d in disks:
            g.add_drive_opts(d, readonly=True)
        g.launch()
        root = g.inspect_os()[0]
        for mp, dev in sorted(g.inspect_get_mountpoints(root).items(), key=lambda m: len(m[0])):
            try:
                g.mount_ro(dev, mp)
            except RuntimeError:
                if mp == "/":
                    raise  # others may be noauto or hostile entries
        out = {
            p: g.read_file(p).decode("utf-8", "replace") if g.is_file(p) else None for p in paths
        }
        for d in listings:
            out[f"ls:{d}"] = sorted(g.ls(d)) if g.is_dir(d) else []
        return out
    finally:
        g.close()


@pytest.fixture(scope="session")
def sample_a():
    return build_sample("a")


@pytest.fixture(scope="session")
def fixed_sample_a(sample_a, tmp_path_factory, state_dir):
    """A copy of (a) fixed by a run killed during its commit and finished
    with `recover`; what each command answered is kept for the test of that
    sequence (test_sample_a). Its journals go to a state directory of its
    own, so that only this run's are counted. Later users only read it:
    boot-check works on overlays, and migrate reads its sources."""
    top = tmp_path_factory.mktemp("a-fixed")
    xml = copy_sample(sample_a, str(top / "guest"))
    disks = disk_paths(xml)
    env = {"GUESTFIX_STATE_DIR": str(top / "state")}
    proc, log = start_guestfix(
        ["fix", "--yes", "--domain", xml], dict(env, GUESTFIX_FAULT="sleep@commit")
    )
    kill_when(proc, log, "stalled at commit")
    journals = os.listdir(os.path.join(env["GUESTFIX_STATE_DIR"], "transactions"))
    fix_again = guestfix("fix", "--yes", "--domain", xml, env=env)
    recover = guestfix("recover", "--finish", *disks, env=env)
    return {
        "xml": xml,
        "disks": disks,
        "journals": journals,
        "fix_again": fix_again,
        "recover": recover,
    }


def start_guestfix(args, env):
    """guestfix in a session of its own (so a test can kill all of it),
    its output in a log file; returns (process, log)."""
    log = open(os.path.join(os.environ["GUESTFIX_STATE_DIR"], "run.log"), "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "guestfix.cli", *args],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=dict(os.environ, **env),
    )
    return proc, log


def kill_when(proc, log, text, timeout=900):
    """SIGKILL the whole run once `text` shows in its log."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        if text in log.read():
            time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        assert proc.poll() is None, "guestfix ended before the kill point"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"never reached {text!r}")


@pytest.fixture(scope="session")
def sample_d():
    return build_sample("d")


def _libvirt_up(uri="qemu:///system"):
    r = subprocess.run(["virsh", "-c", uri, "uri"], capture_output=True, text=True, timeout=30)
    return r.returncode == 0


@pytest.fixture(scope="session")
def libvirtd():
    """A running libvirtd (and virtlogd, which starting a domain needs):
    started here when the machine has none running."""
    import fcntl
    import time

    # one worker at a time checks and starts them (a second libvirtd -d
    # would fail on the first one's pid file)
    with open("/run/guestfix-test-daemons.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for daemon in ("virtlogd", "libvirtd"):
            running = subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode == 0
            if not running:
                subprocess.run([daemon, "-d"], check=True)
    # The sample guests' NICs are on the Xen host's bridge br0: this host
    # has one of that name too, as a KVM host often does (migrate checks
    # that what a NIC connects to exists before it does any work).
    if subprocess.run(["ip", "link", "show", "br0"], capture_output=True).returncode != 0:
        subprocess.run(["ip", "link", "add", "br0", "type", "bridge"], capture_output=True)
    for _ in range(60):
        if _libvirt_up():
            return "qemu:///system"
        time.sleep(0.5)
    pytest.fail("libvirtd did not come up")


POOL = f"guestfix-test-pool-{WORKER}"
POOL_DIR = f"/var/lib/libvirt/images/{POOL}"


@pytest.fixture(scope="session")
def pool(libvirtd):
    virsh = ["virsh", "-c", libvirtd]
    subprocess.run(virsh + ["pool-destroy", POOL], capture_output=True)
    subprocess.run(virsh + ["pool-undefine", POOL], capture_output=True)
    shutil.rmtree(POOL_DIR, ignore_errors=True)
    subprocess.run(
        virsh + ["pool-define-as", POOL, "dir", "--target", POOL_DIR],
        check=True,
        capture_output=True,
    )
    subprocess.run(virsh + ["pool-build", POOL], check=True, capture_output=True)
    subprocess.run(virsh + ["pool-start", POOL], check=True, capture_output=True)
    yield POOL
    subprocess.run(virsh + ["pool-destroy", POOL], capture_output=True)
    subprocess.run(virsh + ["pool-undefine", POOL], capture_output=True)
    shutil.rmtree(POOL_DIR, ignore_errors=True)


def pool_volumes(libvirtd):
    import libvirt

    conn = libvirt.open(libvirtd)
    try:
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        return sorted(pool.listVolumes())
    finally:
        conn.close()


def domain_exists(libvirtd, name):
    return (
        subprocess.run(["virsh", "-c", libvirtd, "dominfo", name], capture_output=True).returncode
        == 0
    )
