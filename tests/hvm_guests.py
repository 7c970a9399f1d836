"""The HVM guests of test-images/hvm.py: reading their disks from the host
without a launch (the partition table by sfdisk, the ESP's FAT by mtools,
ext4 by a read-only loop mount at the partition's offset)."""

import contextlib
import json
import subprocess
import tempfile

HU_MAC = "00:16:3e:5a:11:e1"  # (hu)'s NIC, as test-images/hvm.py gives it on Xen


def partitions(image):
    """{number: (offset, size)} in bytes, as sfdisk reads the table."""
    table = json.loads(
        subprocess.run(["sfdisk", "--json", image], check=True, capture_output=True).stdout
    )["partitiontable"]
    return {
        int(p["node"][len(image) :]): (p["start"] * 512, p["size"] * 512)
        for p in table["partitions"]
    }


def esp_files(image, number, directory):
    """{name: bytes} of the files in one directory of a FAT partition."""
    offset, _size = partitions(image)[number]
    where = f"{image}@@{offset}"
    listing = subprocess.run(
        ["mdir", "-b", "-i", where, f"::/{directory}"], capture_output=True, text=True
    )
    if listing.returncode != 0:
        return {}
    out = {}
    for path in listing.stdout.split():
        name = path.rsplit("/", 1)[-1]
        if name in (".", ".."):
            continue
        data = subprocess.run(["mtype", "-i", where, path], check=True, capture_output=True).stdout
        out[name] = data
    return out


@contextlib.contextmanager
def mounted_partition(image, number):
    """A partition of a disk image mounted read-only; yields the directory."""
    offset, size = partitions(image)[number]
    with tempfile.TemporaryDirectory() as mnt:
        subprocess.run(
            ["mount", "-o", f"ro,loop,offset={offset},sizelimit={size}", image, mnt], check=True
        )
        try:
            yield mnt
        finally:
            subprocess.run(["umount", mnt], check=True)


def check_hu_booted(boot, mac):
    """(hu) came up through OVMF: root, the ESP and swap in place on the
    virtio disk, no failed unit, enX0 (with `mac`) up with an address."""
    assert boot["passed"] and boot["stage"] == "login", boot
    assert boot["firmware_kind"] == "efi"
    probe = boot["probe"]
    mounts = {m["target"]: (m["source"], m["fstype"]) for m in probe["mounts"]}
    assert mounts["/"] == ("/dev/vda2", "ext4")
    assert mounts["/boot/efi"] == ("/dev/vda1", "vfat")
    assert probe["swap"] == ["/dev/vda3"]
    assert probe["failed"] == []
    nics = [(n["name"], n["mac"], n["state"]) for n in probe["nics"]]
    assert nics == [("enX0", mac, "up")]
    (address,) = probe["addresses"]
    assert address["nic"] == "enX0" and address["address"].startswith("10.0.2.")
