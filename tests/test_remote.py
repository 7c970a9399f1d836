"""Guests on a Xen host reached over ssh (guestfix/remote.py), against a
real sshd on 127.0.0.1 whose files only it can see (tests/xenhost.py):
the one full read (backup), the argv quoting, and the faults. No
appliance: the boot of a guest migrated this way is in
tests/integration/test_remote_source.py."""

import hashlib
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO
from xenhost import XenHost

from guestfix import sources
from guestfix.core.errors import InputError, UsageError
from guestfix.sources import ssh
from guestfix.sources.ssh import stream

MIB = 1 << 20
# xl.cfg strings may hold anything but their own quote: this name has
# spaces and shell syntax, which must reach the host as data only.
HOSTILE = "/srv/xen/images/we ird $(touch /tmp/guestfix-pwned); `touch /tmp/guestfix-pwned`.img"


def _image(path, size, data_at):
    """A sparse image with 1 MiB of random data at each offset (MiB)."""
    with open(path, "wb") as f:
        f.truncate(size)
        for mib in data_at:
            f.seek(mib * MIB)
            f.write(os.urandom(MIB))
    return str(path)


def _config(name, disks):
    specs = ", ".join(f'"{spec}"' for spec in disks)
    return (
        f'name = "{name}"\nmemory = 256\nbootloader = "pygrub"\n'
        f"disk = [ {specs} ]\nvif = [ 'mac=00:16:3e:5a:11:99,bridge=xenbr0' ]\n"
    )


# Xen's xl cannot run here: a stand-in that records its calls and knows
# one running domain, "running".
XL = """#!/bin/sh
# stand-in for Xen's xl (guestfix only asks `xl domid NAME`)
echo "$*" >> /srv/xen/.xl-calls
[ "$1" = domid ] && [ "$2" = running ] && { echo 7; exit 0; }
echo "Can't get domid of domain $2" >&2
exit 1
"""

SMALL_DISKS = [
    "phy:/srv/xen/vg0/small-root,xvda,w",
    "file:/srv/xen/images/data.img,xvdb,w",
    f"file:{HOSTILE},xvdc,w",
]


def _start_host(work):
    images = work / "images"
    images.mkdir()
    return XenHost(work / "host").start(
        files={
            "small.cfg": _config("small", SMALL_DISKS),
            "missing.cfg": _config("missing", ["phy:/srv/xen/vg0/nothing-here,xvda,w"]),
            "running.cfg": _config("running", SMALL_DISKS),
            ".bin/xl": XL,
            "images/data.img": _image(images / "data.img", 64 * MIB, [5, 60]),
            HOSTILE[len("/srv/xen/") :]: _image(images / "h.img", 4 * MIB, [1]),
        },
        # big enough that ssh's buffers cannot hold all of it when the
        # connection-drop test pulls the plug
        block_devices={"small-root": _image(images / "root.img", 256 * MIB, [0, 10, 200])},
    )


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    h = _start_host(tmp_path_factory.mktemp("xenhost"))
    yield h
    h.stop()


def _one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    # progress lines may come first; the error is one line of its own
    lines = [
        line
        for line in r.stderr.splitlines()
        if line.startswith("guestfix: ") and "test hook" not in line
    ]
    assert len(lines) == 1 and r.stderr.rstrip().endswith(lines[0]), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# -- reading the host ----------------------------------------------------------------
def test_backup_reads_each_disk_once_and_checks_it_against_the_host(host, tmp_path):
    """`backup -i xl -ic ssh://xenhost CFG`: the alias comes from the
    user's ~/.ssh/config. Holes of the file are not sent, zero blocks are
    not written, each copy's SHA-256 is the host's own, and the directory
    is a local source of its own (NAME.xml names the copies)."""
    paths = ["/srv/xen/vg0/small-root", "/srv/xen/images/data.img", HOSTILE]
    before = {p: host.sha256(p) for p in paths}
    dest = tmp_path / "backup"
    r = host.guestfix(
        "backup", "-i", "xl", "-ic", "ssh://xenhost", "/srv/xen/small.cfg", "--to", dest, "--json"
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    by_target = {d["target"]: d for d in report["disks"]}
    for target, path in zip(("xvda", "xvdb", "xvdc"), paths):
        entry = by_target[target]
        assert entry["source"] == f"ssh://xenhost{path}"
        assert entry["sha256"] == before[path] == _sha256(dest / entry["file"])
    root, data = by_target["xvda"], by_target["xvdb"]
    # the block device: all of it sent, its 3 MiB of data written
    assert root["read_from_host"]["sent_as"] == "stream"
    assert root["read_from_host"]["bytes_read"] == 256 * MIB
    assert root["allocated"] <= 4 * MIB
    # the sparse file: its 2 MiB of data and tar's framing, not 64 MiB
    assert data["read_from_host"]["sent_as"] == "sparse tar"
    assert data["read_from_host"]["bytes_read"] < 3 * MIB
    assert data["allocated"] <= 3 * MIB
    # the configuration byte for byte, and a domain XML naming the copies
    assert (dest / "small.cfg").read_text() == _config("small", SMALL_DISKS)
    xml = (dest / "small.xml").read_text()
    assert f'file="{root["file"]}"' in xml and "/srv/xen" not in xml
    assert report["domain_xml"] == "small.xml"
    r = host.guestfix("backup", "--verify", dest)
    assert r.returncode == 0, r.stderr
    r = host.guestfix("xml", dest / "small.xml")  # opens the copies as a local source
    assert r.returncode == 0, r.stderr
    # nothing ran that the config's paths spelled, on either side
    assert not os.path.exists("/tmp/guestfix-pwned")
    assert host.ssh("test", "-e", "/tmp/guestfix-pwned", check=False).returncode == 1
    assert {p: host.sha256(p) for p in paths} == before


def test_remote_commands_are_quoted_words(host):
    """What ssh sends is `sh -c SCRIPT sh ARG...` with every word quoted:
    the remote shell gives the script the path as one argument."""
    h = ssh.SshHost.from_uri(host.uri)
    argv = h.command(ssh.STREAM, HOSTILE, "cat")
    assert argv[:-1] == h.ssh_argv()
    assert shlex.split(argv[-1]) == ["sh", "-c", ssh.STREAM, "sh", HOSTILE, "cat"]
    assert argv[argv.index("--") + 1] == "127.0.0.1"


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("ssh://root@xen1.example:2222", ("xen1.example", "root", 2222)),
        ("ssh://xen1", ("xen1", "", 0)),
        ("xen+ssh://admin@xen1/?keyfile=/root/.ssh/xen", ("xen1", "admin", 0)),
    ],
)
def test_ssh_uris(uri, expected):
    h = ssh.SshHost.from_uri(uri)
    assert (h.host, h.user, h.port) == expected
    if "keyfile" in uri:
        argv = h.ssh_argv()
        assert argv[argv.index("-i") + 1] == "/root/.ssh/xen" and argv[-2:] == ["--", "xen1"]


def test_aes_gcm_is_asked_for_first_unless_the_user_chose_ciphers(tmp_path):
    """On a CPU with AES-NI (this project's machines have it) and OpenSSH's
    default ciphers, AES-GCM is put first (chacha20 runs in software); a
    Ciphers line of the user's own is left alone; without AES-NI nothing
    changes. `ssh -G` reads the configuration without connecting."""
    from guestfix.sources.ssh import host as ssh_host

    aes = ssh_host._cpu_has_aes()
    default, own = tmp_path / "default", tmp_path / "own"
    default.write_text("")
    own.write_text("Host xen1\n  Ciphers aes256-ctr\n")
    assert ssh_host._prefer_aes_gcm(("ssh", "-F", str(default)), "xen1") == aes
    assert not ssh_host._prefer_aes_gcm(("ssh", "-F", str(own)), "xen1")
    assert ssh_host._prefer_aes_gcm(("ssh", "-F", str(own)), "xen2") == aes


def test_uris_that_do_not_fit_the_mode_are_refused():
    assert sources.host_for("libvirt", "qemu:///system") is None  # disks on this host
    with pytest.raises(UsageError, match="use ssh://"):
        sources.host_for("xl", "xen+ssh://root@xen1/")
    with pytest.raises(UsageError, match="a libvirt URI is needed"):
        sources.host_for("libvirt", "ssh://root@xen1")
    with pytest.raises(InputError, match="the configuration's path is the argument"):
        sources.host_for("xl", "ssh://root@xen1/etc/xen/web.cfg")
    with pytest.raises(InputError, match="no host name"):
        sources.host_for("xl", "ssh://-oProxyCommand=x")


def test_sparse_tar_stream_is_read_without_its_holes(tmp_path):
    """The pax sparse format as GNU tar writes it, parsed by guestfix's
    reader, gives the file back; a non-sparse file too."""
    src = _image(tmp_path / "src.img", 9 * MIB + 123, [0, 7])
    dense = tmp_path / "dense.img"
    dense.write_bytes(os.urandom(70000))
    for path in (src, str(dense)):
        archive = subprocess.run(
            [
                "tar",
                "--format=posix",
                "--sparse",
                "--sparse-version=1.0",
                "-cf",
                "-",
                "-C",
                os.path.dirname(path),
                os.path.basename(path),
            ],
            capture_output=True,
            check=True,
        ).stdout
        out = tmp_path / "out.img"
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        reader = stream._CountingReader(io.BytesIO(archive))
        size = os.path.getsize(path)
        stream._untar_sparse(reader, stream._SparseSink(fd, {}, lambda n: None), size)
        os.ftruncate(fd, size)
        os.close(fd)
        assert _sha256(out) == _sha256(path)


# -- faults: each one line, nothing left behind, nothing changed on the host -----------------
def test_a_host_key_that_does_not_match_stops_before_anything(host, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    host.trust_host_key(f"{other}.pub")
    try:
        r = host.guestfix(
            "backup", "-i", "xl", "-ic", host.uri, "/srv/xen/small.cfg", "--to", tmp_path / "b"
        )
    finally:
        host.trust_host_key(os.path.join(host.work, "host_key.pub"))
    line = _one_line_error(r, 13)
    assert "host key does not match known_hosts" in line
    assert not (tmp_path / "b").exists()


def test_a_disk_missing_on_the_host(host, tmp_path):
    r = host.guestfix(
        "migrate",
        "-i",
        "xl",
        "-ic",
        host.uri,
        "/srv/xen/missing.cfg",
        "-o",
        "local",
        "-os",
        tmp_path,
        "--yes",
    )
    line = _one_line_error(r, 3)
    assert "stage `source`" in line
    assert f"{host.uri}/srv/xen/vg0/nothing-here (xvda): no such file or device" in line
    assert os.listdir(tmp_path) == []


def test_a_guest_still_running_on_the_host_is_refused(host, tmp_path):
    r = host.guestfix(
        "backup", "-i", "xl", "-ic", host.uri, "/srv/xen/running.cfg", "--to", tmp_path / "b"
    )
    line = _one_line_error(r, 4)
    assert "the guest running is running there" in line and "xl shutdown -w running" in line
    assert not (tmp_path / "b").exists()
    calls = host.ssh("cat", "/srv/xen/.xl-calls").stdout.decode().splitlines()
    assert "domid running" in calls


def test_no_room_at_the_destination_is_refused_before_reading(host, tmp_path):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "guestfix-tiny", tiny], check=True)
    try:
        r = host.guestfix(
            "migrate",
            "-i",
            "xl",
            "-ic",
            host.uri,
            "/srv/xen/small.cfg",
            "-o",
            "local",
            "-os",
            tiny,
            "--yes",
        )
        line = _one_line_error(r, 3)
        assert "stage `source`" in line and "MiB free but the copy needs" in line
        r = host.guestfix(
            "backup", "-i", "xl", "-ic", host.uri, "/srv/xen/small.cfg", "--to", tiny / "b"
        )
        assert "MiB free but the copy needs" in _one_line_error(r, 3)
        assert os.listdir(tiny) in ([], ["b"]) and not os.listdir(tiny / "b")
    finally:
        subprocess.run(["umount", tiny], check=True)


def test_block_devices_count_by_their_data_not_their_size(host, tmp_path):
    """A block device on the host says nothing of its data: its 256 MiB
    do not have to fit, only what is written (zero blocks stay holes). A
    destination with room for the data gets the copy and a note; one
    without gets a one-line error from the destination and nothing left."""
    roomy, tight = tmp_path / "roomy", tmp_path / "tight"
    for where, size in ((roomy, "12m"), (tight, "4m")):
        where.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "t", where], check=True)
    try:
        r = host.guestfix(
            "backup", "-i", "xl", "-ic", host.uri, "/srv/xen/small.cfg", "--to", roomy / "b"
        )
        assert r.returncode == 0, r.stderr
        note = " ".join(r.stderr.split())
        assert re.search(r"12 MiB free and the copy may take up to 2[56]\d MiB", note), note
        r = host.guestfix("backup", "--verify", roomy / "b")
        assert r.returncode == 0, r.stderr
        r = host.guestfix(
            "backup", "-i", "xl", "-ic", host.uri, "/srv/xen/small.cfg", "--to", tight / "b"
        )
        line = _one_line_error(r, 3)
        assert "cannot write the disk (No space left on device)" in line, line
        assert os.listdir(tight / "b") == []
    finally:
        for where in (roomy, tight):
            subprocess.run(["umount", where], check=True)


def _migrate_with_backup_paused(h, tmp_path):
    """migrate --backup, paused while it reads the first disk until the
    test sends SIGUSR1 (or 60 s have passed)."""
    out, kept = tmp_path / "out", tmp_path / "kept"
    out.mkdir()
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(
        h.client_argv(
            [
                sys.executable,
                "-m",
                "guestfix.cli",
                "migrate",
                "-i",
                "xl",
                "-ic",
                h.uri,
                "/srv/xen/small.cfg",
                "-o",
                "local",
                "-os",
                str(out),
                "--backup",
                str(kept),
                "--yes",
                "--log",
                str(tmp_path / "migrate.log"),
            ]
        ),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=dict(os.environ, GUESTFIX_FAULT="pause@remote:streaming"),
        # a suite started in the background inherits SIGINT ignored, and
        # Python then leaves it so: the Ctrl-C test needs it delivered
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while "stalled at remote:streaming" not in open(log.name).read():
        assert proc.poll() is None and time.monotonic() < deadline, open(log.name).read()
        time.sleep(0.1)
    return proc, log, out, kept


def _ssh_clients_of(h):
    r = subprocess.run(["pgrep", "-f", f"ssh .*-p {h.port} "], capture_output=True, text=True)
    return r.stdout.split()


def test_the_connection_dropping_mid_copy(tmp_path):
    h = _start_host(tmp_path)
    try:
        proc, log, out, kept = _migrate_with_backup_paused(h, tmp_path)
        h.kill_connections()
        os.kill(proc.pid, signal.SIGUSR1)  # the connection is gone: go on
        proc.wait(timeout=120)
        log.seek(0)
        r = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.read(), log.read())
        line = _one_line_error(r, 13)
        assert "stage `backup`" in line
        assert "the connection was lost while reading /srv/xen/vg0/small-root" in line
        assert os.listdir(out) == [] and os.listdir(kept) == []
        assert _ssh_clients_of(h) == []
    finally:
        h.stop()


def test_ctrl_c_while_reading_from_the_host(host, tmp_path):
    before = host.sha256("/srv/xen/vg0/small-root")
    proc, log, out, kept = _migrate_with_backup_paused(host, tmp_path)
    os.kill(proc.pid, signal.SIGINT)  # unshare and sh exec'd it: the same process
    proc.wait(timeout=60)
    log.seek(0)
    assert proc.returncode == 130, log.read()
    assert "interrupted; the originals were only read" in log.read()
    assert os.listdir(out) == [] and os.listdir(kept) == []
    assert _ssh_clients_of(host) == []
    assert host.sha256("/srv/xen/vg0/small-root") == before


SERVE_AND_READ = r"""
import sys
from guestfix.disks import assembly
from guestfix.sources import ssh
from guestfix.core.errors import GuestfixError, first_line
from guestfix.core.runner import run
host = ssh.SshHost.from_uri(sys.argv[1])
disks = ssh.open_disks(host, [("/srv/xen/vg0/small-root", None, "xvda")])
try:
    with assembly.served(assembly.plan(disks)) as served:
        print("served", flush=True)
        sys.stdin.readline()              # the test drops the connection meanwhile
        run(["qemu-img", "convert", "-f", "raw", "-O", "raw", served[0].path, sys.argv[2]])
except GuestfixError as e:
    print(type(e).__name__, first_line(e), flush=True)
"""


def test_a_connection_lost_while_the_fix_reads_is_named(tmp_path):
    """The fix reads through nbdkit; when the ssh under it dies, the error
    says so rather than what QEMU made of it (an I/O error)."""
    h = _start_host(tmp_path)
    try:
        proc = subprocess.Popen(
            h.client_argv(
                [sys.executable, "-c", SERVE_AND_READ, h.uri, str(tmp_path / "copy.img")]
            ),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "served", proc.stderr.read()
        h.kill_connections()
        out, err = proc.communicate("go\n", timeout=120)
        assert out.startswith("RemoteHostError "), (out, err)
        assert "the connection was lost while /srv/xen/vg0/small-root was read" in out
    finally:
        h.stop()


DESCRIBE_AND_HASH = r"""
import json, sys
from guestfix.sources import ssh
host = ssh.SshHost.from_uri(sys.argv[1])
block, data = ssh.open_disks(host, [("/srv/xen/vg0/small-root", None, "xvda"),
                                    ("/srv/xen/images/data.img", None, "xvdb")])
print(json.dumps({"block_mtime": block.remote.mtime, "data_mtime": data.remote.mtime,
                  "hashes": [block.remote.fingerprint(), block.remote.fingerprint()]}))
"""


def test_the_host_gives_a_files_mtime_and_hashes_a_block_device(host):
    """What the migration record keeps to tell a changed disk on the host
    from an unchanged one: an image file's mtime; for a block device (its
    node's mtime says nothing) the host's SHA-1 of the whole device."""
    r = subprocess.run(
        host.client_argv([sys.executable, "-c", DESCRIBE_AND_HASH, host.uri]),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    found = json.loads(r.stdout)
    stat_mtime = host.ssh("stat", "-L", "-c", "%Y", "/srv/xen/images/data.img").stdout
    assert found["data_mtime"] == int(stat_mtime.decode())
    assert found["block_mtime"] is None
    sha1 = host.ssh("sha1sum", "/srv/xen/vg0/small-root").stdout.decode().split()[0]
    assert found["hashes"] == [sha1, sha1]
