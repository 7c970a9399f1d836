"""Sample guest (d) left on its Xen host: migrated over ssh and booted.

The "Xen host" is a real sshd on 127.0.0.1 (tests/xenhost.py) that alone
sees /srv/xen: (d)'s first disk is a block device there (a loop device
behind /srv/xen/vg0/d-root, as LVM's links look), its second an image file
whose name has a space, and the xl.cfg names both as xen-tools and xl
users write them. guestfix reads all of it over ssh with the user's ssh
configuration, fixes the guest while reading only what it needs, and
streams each disk once into the destination.
"""

import json
import os
import subprocess

import pytest
from xenhost import XenHost

pytestmark = pytest.mark.slow

ROOT, DATA = "/srv/xen/vg0/d-root", "/srv/xen/images/d data.img"
D_CFG = f"""# (d) as xl knew it: root on an LVM volume, data in an image file
name = "xenguest-d"
memory = 1024
vcpus = 1
bootloader = "/usr/bin/pygrub"
disk = [ 'phy:{ROOT},xvda,w', 'file:{DATA},xvdb,w' ]
vif = [ 'mac=00:16:3e:5a:11:04,bridge=xenbr0' ]
"""


@pytest.fixture(scope="module")
def d_on_xen_host(sample_d, tmp_path_factory):
    images = os.path.dirname(sample_d)
    host = XenHost(tmp_path_factory.mktemp("xenhost-d")).start(
        files={"d.cfg": D_CFG, "images/d data.img": os.path.join(images, "xenguest-d-xvdb.img")},
        block_devices={"d-root": os.path.join(images, "xenguest-d-xvda.img")},
    )
    yield host
    host.stop()


@pytest.fixture(scope="module")
def migrated_from_host(d_on_xen_host, tmp_path_factory):
    host = d_on_xen_host
    before = {p: host.sha256(p) for p in (ROOT, DATA)}
    out = tmp_path_factory.mktemp("from-host")
    # the command, with the port of the test's sshd
    r = host.guestfix(
        "migrate",
        "-i",
        "xl",
        "-ic",
        f"ssh://root@127.0.0.1:{host.port}",
        "/srv/xen/d.cfg",
        "-o",
        "local",
        "-os",
        out,
        "--yes",
        "--json",
        "--boot-check",
        "--boot-timeout",
        "400",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout), out, before


def test_the_guest_from_the_xen_host_boots_with_its_mounts(migrated_from_host):
    report, _out, _before = migrated_from_host
    probe = report["boot_check"]["probe"]
    mounts = {m["target"]: m["source"] for m in probe["mounts"]}
    assert report["boot_check"]["passed"]
    assert mounts["/"] == "/dev/vda2"
    assert mounts["/boot"] == "/dev/vda1"
    assert mounts["/srv"] == "/dev/mapper/datavg-srv"  # LVM inside the file disk
    assert probe["swap"] == ["/dev/vdb1"]
    assert probe["failed"] == []
    assert [n["name"] for n in probe["nics"]] == ["enX0"]
    # grub-mkconfig wrote the appliance's /dev/sda2; it must read vda2
    assert "root=/dev/vda2" in probe["cmdline"] and "/dev/sd" not in probe["cmdline"]
    assert "resume=/dev/vdb1" in probe["cmdline"]


def test_each_disk_crossed_the_network_once(migrated_from_host, d_on_xen_host):
    report, out, before = migrated_from_host
    assert report["host"] == f"root@127.0.0.1:{d_on_xen_host.port}"
    block, image = report["read_from_host"]
    assert block["sent_as"] == "stream" and block["bytes_read"] == 3 << 30
    # the image file's holes stayed on the host
    assert image["sent_as"] == "sparse tar" and image["bytes_read"] < 64 << 20
    # the fix read only what it needed, range by range
    fix_reads = report["fix_read_from_host"]
    assert len(fix_reads) == 2 and all(r["requests"] for r in fix_reads)
    assert sum(r["bytes_read"] for r in fix_reads) < 1 << 30
    sources = [d["source"] for d in report["disks"]]
    assert sources == [f"ssh://root@127.0.0.1:{d_on_xen_host.port}{p}" for p in (ROOT, DATA)]
    # a copy of a block device is a file: the domain must say so
    xml = open(report["domain_xml"]).read()
    assert "<source dev=" not in xml and xml.count('<disk type="file"') == 2
    assert sorted(os.listdir(out)) == [
        "xenguest-d-vda.img",
        "xenguest-d-vdb.img",
        "xenguest-d.xml",
    ]


def test_the_disks_on_the_host_are_unchanged(migrated_from_host, d_on_xen_host):
    _report, _out, before = migrated_from_host
    assert {p: d_on_xen_host.sha256(p) for p in before} == before


def test_inspect_through_libvirt_over_ssh(d_on_xen_host, libvirtd):
    """-i libvirt -ic DRIVER+ssh://: the domain XML comes from the host's
    libvirt (libvirt's own ssh transport), the disks through guestfix's.
    The host's libvirtd is this machine's, reached through the test sshd;
    it holds (d) as a type='qemu' domain with (d)'s Xen disks, since this
    libvirt has no Xen driver."""
    host = d_on_xen_host
    name = "guestfix-test-remote-d"
    xml = f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>512</memory>
      <os><type arch='x86_64'>hvm</type></os><devices>
      <disk type='block' device='disk'><driver name='qemu' type='raw'/>
        <source dev='{ROOT}'/><target dev='xvda' bus='xen'/></disk>
      <disk type='file' device='disk'><driver name='qemu' type='raw'/>
        <source file='{DATA}'/><target dev='xvdb' bus='xen'/></disk>
      <interface type='network'><mac address='00:16:3e:5a:11:04'/>
        <source network='default'/></interface>
      </devices></domain>"""
    subprocess.run(
        ["virsh", "-c", libvirtd, "define", "/dev/stdin"],
        input=xml.encode(),
        check=True,
        capture_output=True,
    )
    try:
        r = host.guestfix(
            "inspect",
            "-i",
            "libvirt",
            "-ic",
            f"qemu+ssh://root@127.0.0.1:{host.port}/system",
            name,
            "--json",
        )
    finally:
        subprocess.run(["virsh", "-c", libvirtd, "undefine", name], capture_output=True)
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads(r.stdout)
    assert info["distro"] == "debian" and info["nic_names"] == ["enX0"]
    assert set(info["mountpoints"]) == {"/", "/boot", "/srv"}
    assert ("/etc/fstab", "device") in {(x["path"], x["kind"]) for x in info["xen_references"]}
