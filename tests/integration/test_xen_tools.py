"""A guest laid out as older xen-tools made guests that booted dom0's
kernel (layout xk, an imitation: see test-images/build.py): disk.img as
xvda2 and swap.img as xvda1, no partition table, an xl.cfg as
xen-create-image wrote it, no kernel package and no boot loader. It is
migrated with `-i xl` in one command (fix, copy, domain, boot-check): the
kernel and GRUB come from the .deb files the image build fetched
(--package, offline), and it boots from its own boot code. The guests the
real xen-create-image makes are in test_xen_tools_*.py.

With --backup, a guest on its Xen host is read once into the backup and
assembled from those copies."""

import json
import os
import subprocess

import pytest
from conftest import build_sample, checksums, copy_sample, guestfix, start_guestfix
from xenhost import XenHost

pytestmark = pytest.mark.slow


def migrated_from_host(layout, tmp_path_factory, *options):
    """The same, with the guest on a Xen host where xen-tools put it
    (/srv/xen/domains/NAME/), read over ssh with --backup."""
    built = build_sample(layout)
    top = tmp_path_factory.mktemp(f"{layout}-host")
    name = os.path.basename(built)[: -len(".xml")]
    home = f"/srv/xen/domains/{name}"
    with open(built[: -len(".xml")] + ".cfg") as f:
        cfg = f.read().replace(os.path.dirname(built), home)
    host = XenHost(top / "host").start(
        files={
            f"{name}.cfg": cfg,
            **{
                f"domains/{name}/{n}": os.path.join(os.path.dirname(built), n)
                for n in ("disk.img", "swap.img")
            },
        }
    )
    try:
        images = [f"{home}/disk.img", f"{home}/swap.img"]
        before = {p: host.sha256(p) for p in images}
        out = top / "kvm"
        out.mkdir()
        r = host.guestfix(
            "migrate",
            "-i",
            "xl",
            "-ic",
            host.uri,
            f"/srv/xen/{name}.cfg",
            "-o",
            "local",
            "-os",
            out,
            "--backup",
            top / "backup",
            "--virt-type",
            "qemu",
            "--boot-check",
            "--yes",
            "--json",
            *options,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        after = {p: host.sha256(p) for p in images}
    finally:
        host.stop()
    return {
        "report": json.loads(r.stdout),
        "out": out,
        "xml": f"{name}.xml",
        "unchanged": lambda: after == before,
        "backup": top / "backup",
        "name": name,
    }


@pytest.fixture(scope="module")
def dom0_kernel(tmp_path_factory, state_dir):
    packages = os.path.join(os.path.dirname(build_sample("xk")), "packages")
    return migrated_from_host("xk", tmp_path_factory, "--package", packages)


def booted(run):
    probe = run["report"]["boot_check"]["probe"]
    return probe, {m["target"]: m["source"] for m in probe["mounts"]}


def partitions(path):
    out = subprocess.run(
        ["sfdisk", "--json", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)["partitiontable"]


def check_common(run):
    """One assembled disk with the Xen
    partition numbers and boot code, booted to login with root on vda2,
    swap on vda1 and eth0 kept, and the originals never written."""
    report = run["report"]
    assert report["assembled"] == ["xvda1 + xvda2 -> one disk xvda"]
    (disk,) = report["disks"]
    assert disk["target"] == "vda" and disk["xen_target"] == "xvda"
    table = partitions(disk["path"])
    assert table["label"] == "dos"
    assert [p["type"] for p in table["partitions"]] == ["82", "83"]
    with open(disk["path"], "rb") as f:
        assert f.read(440).strip(b"\0"), "no boot code in the MBR"
    probe, mounts = booted(run)
    assert report["boot_check"]["stage"] == "login"
    assert mounts["/"] == "/dev/vda2"
    assert probe["swap"] == ["/dev/vda1"]
    assert [n["name"] for n in probe["nics"] if n["name"] != "lo"] == ["eth0"]
    assert probe["failed"] == []
    assert "elevator=noop" in probe["cmdline"].split()  # carried from Xen
    assert run["unchanged"]()
    domain = open(os.path.join(run["out"], os.path.basename(run["xml"]))).read()
    assert "<kernel>" not in domain and '<boot dev="hd"' in domain
    assert domain.count("<disk ") == 1


def test_dom0_kernel_guest_gets_its_own_kernel_and_boots(dom0_kernel):
    check_common(dom0_kernel)
    report = dom0_kernel["report"]
    install = report["changes"][0]
    assert install["step"] == "install-packages"
    assert install["target"].startswith(
        "env DEBIAN_FRONTEND=noninteractive INITRD=No dpkg --install"
    )
    assert "linux-image-amd64_" in install["target"] and "grub-pc_" in install["target"]
    commands = [c["target"].split()[0] for c in report["changes"] if c["kind"] == "command"]
    # the initrd is built once, by guestfix, after the module list is fixed
    assert commands[1:] == ["update-initramfs", "grub-install", "update-grub"]


def test_the_guest_was_read_from_its_host_once_into_the_backup(dom0_kernel):
    """Partition images on the Xen host, with --backup: copied whole (holes
    not sent) into the backup, verified against the host's sha256sum, and
    the fix and the copy read those copies: the backup directory is a
    source of its own."""
    report, backup = dom0_kernel["report"], dom0_kernel["backup"]
    assert [s["name"] for s in report["stages"]][:4] == ["source", "slot", "backup", "fix"]
    disk_img, swap_img = report["read_from_host"]
    assert disk_img["sent_as"] == "sparse tar" and disk_img["bytes_read"] < 1 << 30
    manifest = json.loads((backup / "manifest.json").read_text())
    assert [d["source"].rsplit("/", 1)[1] for d in manifest["disks"]] == ["disk.img", "swap.img"]
    name = dom0_kernel["name"]
    assert sorted(os.listdir(backup)) == sorted(
        ["disk.img", "swap.img", f"{name}.cfg", f"{name}.xml", "manifest.json"]
    )
    assert "/srv/xen" not in (backup / f"{name}.xml").read_text()
    assert report["disks"][0]["source"] == f"{backup}/swap.img + {backup}/disk.img"


def test_fix_in_place_refuses_and_names_migrate(tmp_path):
    """fix cannot add a partition table to disks it edits in place."""
    built = build_sample("xk")
    xml = copy_sample(built, str(tmp_path / "xen"))
    disks = [os.path.join(tmp_path, "xen", n) for n in ("disk.img", "swap.img")]
    before = checksums(disks)
    r = guestfix(
        "fix",
        "--yes",
        "--package",
        os.path.join(os.path.dirname(built), "packages"),
        "--domain",
        xml,
    )
    assert r.returncode == 3
    assert "partition images that need a partition table" in r.stderr
    assert "guestfix migrate -i libvirtxml" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert checksums(disks) == before


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_interrupted_migrate_stops_the_disk_server_and_leaves_nothing(
    signal_name, tmp_path, state_dir
):
    """Killed while the assembled disk is being served: nbdkit goes with
    guestfix (--exit-with-parent, even for a SIGKILL nothing can catch),
    the destination stays empty, the images are unchanged."""
    import signal
    import time

    xml = copy_sample(build_sample("xk"), str(tmp_path / "xen"))
    disks = [os.path.join(tmp_path, "xen", n) for n in ("disk.img", "swap.img")]
    before = checksums(disks)
    out = tmp_path / "kvm"
    out.mkdir()
    proc, log = start_guestfix(
        ["migrate", "-i", "xl", xml[:-4] + ".cfg", "-o", "local", "-os", str(out), "--yes"],
        {"GUESTFIX_FAULT": "sleep@migrate:served"},
    )
    deadline = time.monotonic() + 120
    while "stalled at migrate:served" not in (log.seek(0) or log.read()):
        assert proc.poll() is None and time.monotonic() < deadline, log.read()
        time.sleep(0.2)
    servers = subprocess.run(
        ["pgrep", "-P", str(proc.pid), "nbdkit"], capture_output=True, text=True
    ).stdout.split()
    assert len(servers) == 1
    os.kill(proc.pid, getattr(signal, signal_name))  # guestfix alone, not its group
    code = proc.wait(timeout=60)
    assert code == (130 if signal_name == "SIGTERM" else -9)

    def running(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
        except OSError:
            return False

    deadline = time.monotonic() + 10
    while running(servers[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(servers[0]), "nbdkit outlived guestfix"
    assert list(out.iterdir()) == []
    assert checksums(disks) == before
