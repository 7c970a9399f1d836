"""What the destination must have is checked before any long work: a NIC's
bridge or network missing on the KVM host stops migrate at its first
stage, in one line naming what is missing and the mapping option that
would fix it, with nothing created (a real libvirtd and pool)."""

import pytest
from conftest import domain_exists, guestfix, pool_volumes

pytestmark = pytest.mark.slow


def xen_domain(tmp_path, nic):
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    xml = tmp_path / "web.xml"
    xml.write_text(
        "<domain type='xen'><name>gf-destcheck</name><os><type>linux</type></os><devices>"
        f"<disk type='file' device='disk'><source file='{disk}'/><target dev='xvda'/></disk>"
        f"{nic}</devices></domain>"
    )
    return xml


@pytest.mark.parametrize(
    "nic,options,says,option",
    [
        (
            "<interface type='bridge'><mac address='00:16:3e:aa:00:01'/>"
            "<source bridge='gfnosuchbr0'/></interface>",
            [],
            "has no bridge gfnosuchbr0 (NIC 00:16:3e:aa:00:01)",
            "--bridge gfnosuchbr0:BRIDGE",
        ),
        (
            "<interface type='network'><mac address='00:16:3e:aa:00:02'/>"
            "<source network='xennet'/></interface>",
            ["--network", "gf-no-such-net"],
            "has no network gf-no-such-net (NIC 00:16:3e:aa:00:02)",
            "--network gf-no-such-net:",
        ),
    ],
)
def test_a_missing_bridge_or_network_stops_the_run_first(
    nic, options, says, option, tmp_path, pool, libvirtd, state_dir
):
    xml = xen_domain(tmp_path, nic)
    before = pool_volumes(libvirtd)
    r = guestfix(
        "migrate",
        xml,
        "-o",
        "libvirt",
        "-os",
        pool,
        "--virt-type",
        "qemu",
        "--yes",
        "--json",
        *options,
    )
    assert r.returncode == 11, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert says in line and option in line, line
    assert "at stage `source`" in line
    assert pool_volumes(libvirtd) == before
    assert not domain_exists(libvirtd, "gf-destcheck")
