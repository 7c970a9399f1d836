"""Guests made by the real xen-create-image (test-images/xentools.py),
migrated as a user would, and what every one of them must show once
booted from its own disk. One test module per guest, so the workers can
run them side by side."""

import glob
import json
import os
import re
import subprocess
import time

from conftest import build_sample, checksums, copy_sample, guestfix
from xenhost import XenHost


def fstab_entries(fstab):
    """{mount point or 'swap': /dev/xvdaN} of an fstab's block devices."""
    out = {}
    for line in fstab.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0].startswith("/dev/xvd"):
            out["swap" if words[2] == "swap" else words[1]] = words[0]
    return out


def local_copy(layout, tmp_path_factory):
    """A copy of the cached guest (cfg and images) in a directory of the test's."""
    cfg = build_sample(layout)
    top = tmp_path_factory.mktemp(layout)
    copied = copy_sample(cfg, str(top / "xen"))
    images = sorted(glob.glob(str(top / "xen" / "*.img")))
    out = top / "kvm"
    out.mkdir()
    return {
        "cfg": copied,
        "images": images,
        "out": out,
        "before": checksums(images),
        "packages": os.path.join(os.path.dirname(cfg), "packages"),
        "top": top,
    }


def migrate_local(guest, *options):
    """`guestfix migrate -i xl CFG -o local` with --boot-check; the report."""
    started = time.monotonic()
    r = guestfix(
        "migrate",
        "-i",
        "xl",
        guest["cfg"],
        "-o",
        "local",
        "-os",
        guest["out"],
        "--virt-type",
        "qemu",
        "--boot-check",
        "--yes",
        "--json",
        *options,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    report["test_seconds"] = round(time.monotonic() - started)
    return report


def on_lvm_host(layout, tmp_path_factory):
    """The guest as xen-create-image --lvm=vg0 leaves it: every image a
    logical volume HOST-NAME, the cfg naming them `phy:/dev/vg0/HOST-NAME`.
    This machine has no device-mapper, so the volumes are loop devices
    behind /srv/xen/vg0/HOST-NAME on the stand-in host (tests/xenhost.py),
    and the cfg is the real one with its `file:` paths so rewritten."""
    cfg = build_sample(layout)
    with open(cfg) as f:
        text = f.read()
    host_name = re.search(r"^name\s*=\s*'([^']+)'", text, re.M).group(1)
    volumes = {}

    def to_volume(m):
        volume = f"{host_name}-{os.path.basename(m.group(1))[: -len('.img')]}"
        volumes[volume] = m.group(1)
        return f"'phy:/srv/xen/vg0/{volume},"

    lvm_cfg = re.sub(r"'file:([^,']+),", to_volume, text)
    host = XenHost(tmp_path_factory.mktemp(f"{layout}-host")).start(
        files={f"{host_name}.cfg": lvm_cfg}, block_devices=volumes
    )
    return host, f"/srv/xen/{host_name}.cfg", [f"/srv/xen/vg0/{v}" for v in sorted(volumes)]


def boot_probe(report):
    probe = report["boot_check"]["probe"]
    return probe, {m["target"]: m["source"] for m in probe["mounts"]}


def check_booted(report, fstab_text, table_label):
    """One assembled virtio disk that kept the guest's partition numbers and
    has boot code, booted from it to login: every fstab entry mounted from
    /dev/vdaN as /dev/xvdaN was, swap on, the NIC up, no failed unit, the
    serial console and Xen's elevator=noop on the kernel command line."""
    assert report["boot_check"]["passed"] and report["boot_check"]["stage"] == "login"
    (disk,) = report["disks"]
    assert disk["target"] == "vda" and disk["xen_target"] == "xvda"
    table = json.loads(
        subprocess.run(
            ["sfdisk", "--json", disk["path"]], check=True, capture_output=True, text=True
        ).stdout
    )["partitiontable"]
    assert table["label"] == table_label
    with open(disk["path"], "rb") as f:
        assert f.read(440).strip(b"\0"), "no boot code in the MBR"
    probe, mounts = boot_probe(report)
    expected = fstab_entries(fstab_text)
    for where, xen_dev in expected.items():
        kvm_dev = xen_dev.replace("/dev/xvd", "/dev/vd")
        if where == "swap":
            assert probe["swap"] == [kvm_dev]
        else:
            assert mounts.get(where) == kvm_dev, (where, mounts)
    nics = [n for n in probe["nics"] if n["name"] != "lo"]
    assert [(n["name"], n["state"]) for n in nics] == [("eth0", "up")]
    assert probe["failed"] == []
    cmdline = probe["cmdline"].split()
    assert "elevator=noop" in cmdline and "console=ttyS0" in cmdline
    return table


def guest_fstab(images):
    """/etc/fstab of the guest, read from its root image (mounted read-only)."""
    import tempfile

    for image in images:
        with tempfile.TemporaryDirectory() as mnt:
            if (
                subprocess.run(
                    ["mount", "-o", "ro,loop", image, mnt], capture_output=True
                ).returncode
                != 0
            ):
                continue
            try:
                path = os.path.join(mnt, "etc/fstab")
                if os.path.exists(path):
                    with open(path) as f:
                        return f.read()
            finally:
                subprocess.run(["umount", mnt], check=True)
    raise AssertionError("no /etc/fstab in any image")
