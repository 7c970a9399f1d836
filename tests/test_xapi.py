"""-i xapi against a stand-in pool master (tests/xapi_standin.py: XML-RPC
and /export_raw_vdi over HTTPS, written from xapi's API reference; no xapi
runs here): the VM found by name or UUID, its disks pulled once (through
the master's redirect) into a backup byte for byte with their holes, the
domain as an export would give it; a running VM, a wrong password, an
untrusted certificate, a missing password and an ambiguous name refused in
one line. The password never appears on the command line."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, guestfix
from test_xva import MIB, make_image
from xapi_standin import StandInPool
from xva_writer import pv_vm

from guestfix.domain import marker


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    here = tmp_path_factory.mktemp("xapi")
    pool = StandInPool(str(here))
    root = make_image(here / "root.raw", 6 * MIB, [0, 2, 5])
    data = make_image(here / "data.raw", 3 * MIB, [1])
    disks = [
        {"path": root, "size": 6 * MIB, "device": "xvda", "userdevice": 0},
        {"path": None, "size": 0, "userdevice": 3, "type": "CD"},
        {"path": data, "size": 3 * MIB, "device": "xvdb", "userdevice": 1},
    ]
    nics = [{"mac": "00:16:3e:aa:bb:01", "device": 0, "bridge": "xenbr0"}]
    pool.web = pool.add_vm(pv_vm(name="web", memory_mib=512, vcpus=3), disks, nics)
    pool.add_vm(pv_vm(name="busy"), [dict(disks[0])], [], power_state="Running")
    pool.add_vm(pv_vm(name="twin"), [dict(disks[0])], [])
    pool.add_vm(pv_vm(name="twin"), [dict(disks[0])], [])
    pool.disks = [root, data]
    pool.password_file = here / "password"
    pool.password_file.write_text("secret\n")
    yield pool
    pool.stop()


def trusted(pool):
    """The environment of a run that trusts the stand-in's certificate."""
    return {"SSL_CERT_FILE": pool.cert}


def from_pool(pool, command, vm, *rest, env=None):
    """guestfix COMMAND -i xapi -ic POOL -ip PASSWORD-FILE VM REST..., the
    stand-in's certificate trusted unless `env` says otherwise."""
    return guestfix(
        command, "-i", "xapi", "-ic", pool.uri, "-ip", pool.password_file, vm, *rest,
        env=trusted(pool) if env is None else env,
    )  # fmt: skip


def one_line_error(r):
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("guestfix: error")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_backup_pulls_each_disk_once_byte_for_byte(pool, tmp_path):
    before = dict(pool.served)
    dest = tmp_path / "b"
    r = from_pool(pool, "backup", "web", "--to", dest, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert sorted(os.listdir(dest)) == [
        "manifest.json", "web-xvda.raw", "web-xvdb.raw", "web.xapi.json", "web.xml",
    ]  # fmt: skip
    for source, kept in zip(pool.disks, report["disks"]):
        assert kept["source"].startswith("https://127.0.0.1/VDI/")
        with open(source, "rb") as a, open(dest / kept["file"], "rb") as b:
            assert a.read() == b.read()
        assert os.stat(dest / kept["file"]).st_blocks * 512 <= 3 * MIB  # holes stay holes
    # each VDI crossed the wire once (its zeros included: xapi sends them)
    served = {k: v - before.get(k, 0) for k, v in pool.served.items() if v != before.get(k)}
    assert sorted(served.values()) == [3 * MIB, 6 * MIB]
    assert guestfix("backup", "--verify", dest).returncode == 0
    records = json.loads((dest / "web.xapi.json").read_text())
    assert {o["class"] for o in records} >= {"VM", "VBD", "VDI", "VIF", "network"}


def test_the_domain_is_the_one_an_export_gives(pool):
    r = guestfix(
        "xml", "-i", "xapi", "-ic", pool.uri, pool.web,
        env=dict(trusted(pool), GUESTFIX_XAPI_PASSWORD="secret"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    xml = r.stdout.replace('"', "'")
    assert "<name>web</name>" in xml and "<vcpu>3</vcpu>" in xml
    assert "<memory unit='MiB'>512</memory>" in xml
    assert "00:16:3e:aa:bb:01" in xml
    assert "<target dev='vda' bus='virtio'" in xml and "<target dev='vdb' bus='virtio'" in xml
    assert "cdrom" not in xml  # the CD-ROM is left out
    assert marker.read(r.stdout) is None  # xml writes no migration record


def test_a_running_vm_is_refused(pool, tmp_path):
    line = one_line_error(
        from_pool(pool, "migrate", "busy", "-o", "local", "-os", tmp_path, "--yes")
    )
    assert "busy is running" in line and "stopped guests" in line
    assert os.listdir(tmp_path) == []


def test_an_ambiguous_name_is_refused_with_the_uuids(pool, tmp_path):
    line = one_line_error(from_pool(pool, "backup", "twin", "--to", tmp_path / "b"))
    assert "2 VMs are named 'twin'" in line and "by UUID" in line


def test_an_unknown_vm_is_refused_by_name_or_uuid(pool):
    for arg in ("nosuch", "0b5f1d7e-5a5a-4f4f-8e8e-123456789abc"):
        line = one_line_error(from_pool(pool, "xml", arg))
        assert f"no VM '{arg}'" in line


def test_a_wrong_password_is_refused(pool, tmp_path):
    line = one_line_error(
        guestfix(
            "xml",
            "-i",
            "xapi",
            "-ic",
            pool.uri,
            "web",
            env=dict(trusted(pool), GUESTFIX_XAPI_PASSWORD="wrong"),
        )  # fmt: skip
    )
    assert "user or password is wrong" in line and "wrong" not in line.split("is wrong")[0]


def test_a_missing_password_is_refused_naming_both_ways(pool):
    env = {k: v for k, v in os.environ.items() if k != "GUESTFIX_XAPI_PASSWORD"}
    logins = pool.calls.count("session.login_with_password")
    r = subprocess.run(
        [sys.executable, "-m", "guestfix.cli", "xml", "-i", "xapi", "-ic", pool.uri, "web"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip
    line = one_line_error(r)
    assert "password of root@127.0.0.1" in line and "not given" in line
    assert "-ip FILE" in r.stderr and "GUESTFIX_XAPI_PASSWORD" in r.stderr
    assert pool.calls.count("session.login_with_password") == logins  # nothing was tried


def test_an_untrusted_certificate_is_refused_unless_told(pool):
    line = one_line_error(
        from_pool(pool, "xml", "web", env={"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"})
    )
    assert "TLS certificate is not trusted" in line
    r = guestfix(
        "xml", "-i", "xapi", "-ic", f"{pool.uri}?no_verify=1", "-ip", pool.password_file, "web"
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1", "https://root:pw@127.0.0.1", "https://127.0.0.1/path", "https://-h"],
)
def test_a_bad_uri_is_refused(uri):
    r = guestfix("xml", "-i", "xapi", "-ic", uri, "web")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "pw" not in r.stderr.replace("-ip", "")
