"""NIC mapping with virt-v2v's semantics."""

import pytest

from guestfix.core.errors import InputError
from guestfix.domain.networks import build


def test_bare_bridge_is_default_for_unmapped_bridges_only():
    nm = build(bridges=["br0:kvmbr", "br-default"])
    assert nm.map("bridge", "br0", None) == ("bridge", "kvmbr")
    assert nm.map("bridge", "xenbr1", None) == ("bridge", "br-default")
    # networks are not touched by --bridge
    assert nm.map("network", "default", None) == ("network", "default")


def test_bare_network_is_default_for_networks_only():
    nm = build(networks=["internal:prod", "fallback"])
    assert nm.map("network", "internal", None) == ("network", "prod")
    assert nm.map("network", "other", None) == ("network", "fallback")
    assert nm.map("bridge", "br0", None) == ("bridge", "br0")


def test_mac_wins_and_can_change_type():
    nm = build(bridges=["kvmbr"], macs=["00:16:3E:00:00:01:network:mgmt"])
    assert nm.map("bridge", "br0", "00:16:3e:00:00:01") == ("network", "mgmt")
    assert nm.map("bridge", "br0", "00:16:3e:00:00:02") == ("bridge", "kvmbr")


def test_nothing_maps_leaves_nic_alone():
    assert build().map("bridge", "br0", "00:16:3e:00:00:01") == ("bridge", "br0")


@pytest.mark.parametrize(
    "kw,words",
    [
        ({"bridges": ["a", "b"]}, "duplicate --bridge default"),
        ({"networks": ["x:y", "x:z"]}, "duplicate --network mapping for network x"),
        ({"bridges": ["br0:a", "br0:b"]}, "duplicate --bridge mapping for bridge br0"),
        (
            {"macs": ["00:16:3e:00:00:01:network:a", "00:16:3E:00:00:01:bridge:b"]},
            "duplicate --mac",
        ),
        ({"macs": ["00:16:3e:00:00:01:vlan:a"]}, "MAC:network:NAME"),
        ({"macs": ["00:16:3e:00:01:network:a"]}, "MAC:network:NAME"),
        ({"bridges": ["br0:"]}, "IN:OUT or OUT"),
    ],
)
def test_bad_or_duplicate_mappings(kw, words):
    with pytest.raises(InputError, match=words):
        build(**kw)


def test_map_file_bridge_to_network(tmp_path):
    f = tmp_path / "v2v.conf"
    f.write_text(
        "<virt-v2v><network type='bridge' name='br0'>"
        "<network type='network' name='default'/></network>"
        "<!-- <network type='bridge' name='br1'><network type='bridge' name='x'/></network> -->"
        "</virt-v2v>"
    )
    nm = build(map_file=str(f))
    assert nm.map("bridge", "br0", None) == ("network", "default")
    assert nm.map("bridge", "br1", None) == ("bridge", "br1")


def test_map_file_hostile(tmp_path):
    f = tmp_path / "v2v.conf"
    f.write_text('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><virt-v2v>&e;</virt-v2v>')
    with pytest.raises(InputError, match="DTD or entities"):
        build(map_file=str(f))
