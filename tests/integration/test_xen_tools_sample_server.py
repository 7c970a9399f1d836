"""A bookworm guest made by the real xen-create-image with its
sample-server partition scheme (layout xt12s): eight images, xvda1 root
(ext3), xvda2 swap, xvda3-8 /home /opt /tmp /usr /var /var/tmp on xfs,
left on its Xen host as xen-create-image --lvm=vg0 leaves them: logical
volumes named in the cfg as `phy:` block devices.

guestfix reads them over ssh, without --backup: the fix reads ranges of
the assembled disk, the copy streams each volume once to its offset. A
GPT keeps every partition number (/dev/xvdaN -> /dev/vdaN), with the BIOS
boot partition in entry 9. GRUB 2 comes from the .deb files given with
--package (offline, the guest's dpkg).

xen-tools numbers the images swap first (xvda1), root second (xvda2), the
rest in its own order (its fstab says which is which)."""

import glob
import json
import os

import pytest
from conftest import build_sample
from xentools_guests import check_booted, fstab_entries, guest_fstab, on_lvm_host

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def from_lvm_host(tmp_path_factory, state_dir):
    built = os.path.dirname(build_sample("xt12s"))
    packages = os.path.join(built, "packages")
    host, cfg, volumes = on_lvm_host("xt12s", tmp_path_factory)
    try:
        before = {v: host.sha256(v) for v in volumes}
        out = tmp_path_factory.mktemp("xt12s-kvm")
        r = host.guestfix(
            "migrate",
            "-i",
            "xl",
            "-ic",
            host.uri,
            cfg,
            "-o",
            "local",
            "-os",
            out,
            "--package",
            packages,
            "--virt-type",
            "qemu",
            "--boot-check",
            "--yes",
            "--json",
        )
        assert r.returncode == 0, r.stderr[-3000:]
        after = {v: host.sha256(v) for v in volumes}
    finally:
        host.stop()
    return {
        "report": json.loads(r.stdout),
        "before": before,
        "after": after,
        "fstab": guest_fstab(sorted(glob.glob(os.path.join(built, "*.img")))),
    }


def test_eight_lvm_volumes_become_one_gpt_disk_that_boots(from_lvm_host):
    report, fstab = from_lvm_host["report"], from_lvm_host["fstab"]
    assert len(fstab_entries(fstab)) == 8
    table = check_booted(report, fstab, "gpt")
    numbers = sorted(int(p["node"].rsplit("img", 1)[1]) for p in table["partitions"])
    assert numbers == list(range(1, 10))
    bios_boot = [p for p in table["partitions"] if p["node"].endswith("img9")]
    assert bios_boot[0]["type"] == "21686148-6449-6E6F-744E-656564454649"
    probe = report["boot_check"]["probe"]
    types = {m["target"]: m["fstype"] for m in probe["mounts"]}
    assert types["/"] == "ext3" and {types[m] for m in ("/home", "/usr", "/var")} == {"xfs"}


def test_the_volumes_were_read_once_over_ssh_and_never_written(from_lvm_host):
    report = from_lvm_host["report"]
    assert report["assembled"] == [
        " + ".join(f"xvda{n}" for n in range(1, 9)) + " -> one disk xvda"
    ]
    assert "backup" not in [s["name"] for s in report["stages"]]
    streamed = report["read_from_host"]
    assert len(streamed) == 8 and all(s["sent_as"] == "stream" for s in streamed)
    # the fix read only ranges of the volumes
    assert sum(r["bytes_read"] for r in report["fix_read_from_host"]) < sum(
        s["bytes_read"] for s in streamed
    )
    assert from_lvm_host["after"] == from_lvm_host["before"]
