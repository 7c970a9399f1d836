"""nic-names for each kind of network configuration, end to end: the
configuration as the real tool writes it in the guest -> the names
guestfix.fix.netconfig finds there -> the .link files (or the udev rule)
the step plans, with the MACs from the domain XML.

Each directory in tests/steps/nic_configs/ is a guest root. Every file
starts with a comment naming what wrote it:
  nm-*               nmcli --offline, network-manager 1.42.4 (Debian 12)
  netplan-*          netplan set, netplan.io 0.106 (Debian 12): as the Ubuntu
                     installer writes it (ID = NIC) and as cloud-init does
                     (match: macaddress + set-name)
  ifupdown-eth0*,    the xen-tools 4.9.2 hooks xen-create-image runs
  rhel-eth0-alias    (Debian and CentOS guests)
  the rest           by hand, as the distributions document them; no tool on
                     this host writes ifcfg or systemd-networkd files (nor
                     ifupdown as debian-installer does): ifupdown-enX0/ens3/
                     three, rhel-enX0/ens3/two, suse-*, networkd-*
nic_configs/regenerate.sh rewrites the tool-written ones.
"""

import os

import pytest
from helpers import MemoryGuest, debian_facts

from guestfix.core.devnames import DeviceMap
from guestfix.domain.model import Domain
from guestfix.fix import netconfig
from guestfix.fix.steps import StepContext, nic_names

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, "nic_configs")
DOMAINS = os.path.join(os.path.dirname(HERE), "domain", "golden")


def domain_macs(name):
    return Domain.from_file(os.path.join(DOMAINS, name)).macs()


# one vif, 00:16:3e:2d:91:c3; two vifs, the first written in capitals
ONE_NIC = domain_macs("guide-sles11sp3.in.xml")
TWO_NICS = domain_macs("two-disks-two-nics.in.xml")


def guest_files(case):
    root = os.path.join(CONFIGS, case)
    files = {}
    for d, _dirs, names in os.walk(root):
        for n in names:
            path = os.path.join(d, n)
            with open(path, newline="") as f:
                files["/" + os.path.relpath(path, root)] = f.read()
    return files


def plan_nic_names(files, macs, init="systemd"):
    """Facts as facts.collect reads them from the guest, then the step's
    plan applied to the tree. Returns ({path: content written}, facts,
    notes, guest)."""
    guest = MemoryGuest(files)
    facts = debian_facts(init=init)
    found = {p: guest.read_text(p) for p in netconfig.config_paths(guest)}
    facts.nic_names, facts.nic_config = netconfig.expected_names(found)
    ctx = StepContext(facts=facts, devmap=DeviceMap.default(1), guest=guest, macs=list(macs))
    changes = nic_names.STEP.plan(ctx) if nic_names.STEP.applies(facts) else []
    guest.apply(changes)
    return {c.path: c.after for c in changes}, facts, ctx.notes, guest


def link(name, match):
    return {
        f"/etc/systemd/network/10-guestfix-{name}.link": (
            "# Written by guestfix: keep the name this NIC had on Xen.\n"
            f"[Match]\n{match}\n\n[Link]\nName={name}\n"
        )
    }


NM = "/etc/NetworkManager/system-connections"
RHEL = "/etc/sysconfig/network-scripts"
SUSE = "/etc/sysconfig/network"
CLOUD_INIT = "/etc/netplan/50-cloud-init.yaml"
# (kind, NIC name) -> case directory, the files that name the NIC
SINGLE = {
    ("ifupdown", "eth0"): ("ifupdown-eth0", ["/etc/network/interfaces"]),
    ("ifupdown", "enX0"): ("ifupdown-enX0", ["/etc/network/interfaces"]),
    ("ifupdown", "ens3"): ("ifupdown-ens3", ["/etc/network/interfaces"]),
    ("netplan-installer", "eth0"): ("netplan-eth0", ["/etc/netplan/00-installer-config.yaml"]),
    ("netplan-installer", "enX0"): ("netplan-enX0", ["/etc/netplan/00-installer-config.yaml"]),
    ("netplan-installer", "ens3"): ("netplan-ens3", ["/etc/netplan/00-installer-config.yaml"]),
    ("netplan-cloud-init", "eth0"): ("netplan-cloud-init-eth0", [CLOUD_INIT]),
    ("netplan-cloud-init", "enX0"): ("netplan-cloud-init-enX0", [CLOUD_INIT]),
    ("netplan-cloud-init", "ens3"): ("netplan-cloud-init-ens3", [CLOUD_INIT]),
    ("nm-keyfile", "eth0"): ("nm-eth0", [f"{NM}/Wired eth0.nmconnection"]),
    ("nm-keyfile", "enX0"): ("nm-enX0", [f"{NM}/Wired enX0.nmconnection"]),
    ("nm-keyfile", "ens3"): ("nm-ens3", [f"{NM}/Wired ens3.nmconnection"]),
    # xen-tools' CentOS guest: eth0 and its alias eth0:1, one NIC
    ("ifcfg-rhel", "eth0"): ("rhel-eth0-alias", [f"{RHEL}/ifcfg-eth0", f"{RHEL}/ifcfg-eth0:1"]),
    ("ifcfg-rhel", "enX0"): ("rhel-enX0", [f"{RHEL}/ifcfg-enX0"]),
    ("ifcfg-rhel", "ens3"): ("rhel-ens3", [f"{RHEL}/ifcfg-ens3"]),
    ("ifcfg-suse", "eth0"): ("suse-eth0", [f"{SUSE}/ifcfg-eth0"]),
    ("ifcfg-suse", "enX0"): ("suse-enX0", [f"{SUSE}/ifcfg-enX0"]),
    ("ifcfg-suse", "ens3"): ("suse-ens3", [f"{SUSE}/ifcfg-ens3"]),
    ("networkd", "eth0"): ("networkd-eth0", ["/etc/systemd/network/20-wired.network"]),
    ("networkd", "enX0"): ("networkd-enX0", ["/etc/systemd/network/20-wired.network"]),
    ("networkd", "ens3"): ("networkd-ens3", ["/etc/systemd/network/20-wired.network"]),
}
SINGLE_CASES = [
    pytest.param(name, case, sources, id=f"{kind}-{name}")
    for (kind, name), (case, sources) in SINGLE.items()
]


@pytest.mark.parametrize("name,case,sources", SINGLE_CASES)
def test_one_nic_pinned_to_the_domain_mac(name, case, sources):
    files = guest_files(case)
    written, facts, notes, guest = plan_nic_names(files, ONE_NIC)
    assert (facts.nic_names, facts.nic_config) == ([name], sources)
    assert written == link(name, "MACAddress=00:16:3e:2d:91:c3")
    assert notes == []
    # the configuration itself is left as it was
    assert {p: guest.files[p] for p in files} == files
    # a second run finds its own file in place and plans nothing
    assert plan_nic_names(guest.files, ONE_NIC)[0] == {}


@pytest.mark.parametrize("name,case,sources", SINGLE_CASES)
def test_one_nic_without_a_domain_matched_by_driver(name, case, sources):
    written, _facts, notes, _guest = plan_nic_names(guest_files(case), [])
    assert written == link(name, "Driver=virtio_net")
    assert notes == []


def test_cloud_init_pins_the_mac_its_own_match_names():
    """cloud-init's netplan names the NIC by the vif's MAC; the .link file
    guestfix writes agrees with it (the same MAC gets the same name)."""
    for name in ("eth0", "enX0", "ens3"):
        files = guest_files(f"netplan-cloud-init-{name}")
        text = files[CLOUD_INIT]
        assert f'macaddress: "{ONE_NIC[0]}"' in text and f'set-name: "{name}"' in text
        written, *_ = plan_nic_names(files, ONE_NIC)
        assert written == link(name, f"MACAddress={ONE_NIC[0]}")


UDEV_RULES = "/etc/udev/rules.d/70-guestfix-net.rules"


@pytest.mark.parametrize(
    "case,name",
    [
        pytest.param("rhel-eth0-alias", "eth0", id="centos6-xen-tools"),
        pytest.param("suse-eth0", "eth0", id="sles11"),
        pytest.param("ifupdown-eth0", "eth0", id="debian-sysvinit"),
    ],
)
def test_guest_without_systemd_gets_a_udev_rule(case, name):
    written, _facts, notes, _guest = plan_nic_names(guest_files(case), ONE_NIC, init="sysvinit")
    assert written == {
        UDEV_RULES: (
            "# Written by guestfix: keep the names these NICs had on Xen.\n"
            'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="00:16:3e:2d:91:c3", '
            f'NAME="{name}"\n'
        )
    }
    assert notes == []


@pytest.mark.parametrize(
    "case",
    [
        # match: name: "en*" under the ID all-en: no NIC of that name
        "netplan-wildcard",
        # match: macaddress without set-name: the ID (lan) names no NIC
        "netplan-by-mac",
        # ethernet.mac-address, no interface-name
        "nm-by-mac",
        # [Match] Name=en*
        "networkd-wildcard",
    ],
)
def test_configuration_without_a_name_pins_nothing(case):
    written, facts, notes, guest = plan_nic_names(guest_files(case), ONE_NIC)
    assert facts.nic_names == [] and facts.nic_config == []
    assert written == {}
    assert notes == []
    assert not any(p.startswith("/etc/systemd/network/10-guestfix") for p in guest.files)


@pytest.mark.parametrize(
    "case,sources",
    [
        pytest.param(
            "nm-two", [f"{NM}/Wired eth0.nmconnection", f"{NM}/Wired eth1.nmconnection"], id="nm"
        ),
        pytest.param("netplan-cloud-init-two", [CLOUD_INIT], id="netplan"),
        pytest.param("rhel-two", [f"{RHEL}/ifcfg-eth0", f"{RHEL}/ifcfg-eth1"], id="ifcfg-rhel"),
    ],
)
def test_two_nics_pinned_in_domain_order(case, sources):
    written, facts, notes, _guest = plan_nic_names(guest_files(case), TWO_NICS)
    assert (facts.nic_names, facts.nic_config) == (["eth0", "eth1"], sources)
    # the domain's 00:16:3E:AA:00:01 is written as the MAC checker gives it
    assert written == {
        **link("eth0", "MACAddress=00:16:3e:aa:00:01"),
        **link("eth1", "MACAddress=00:16:3e:aa:00:02"),
    }
    assert notes == []


def test_netplan_two_nics_agree_with_cloud_init_matches():
    text = guest_files("netplan-cloud-init-two")[CLOUD_INIT]
    eth0, eth1 = text.split("eth1:")
    assert TWO_NICS[0] in eth0 and TWO_NICS[1] in eth1


def test_alias_is_not_a_second_nic():
    """xen-tools' eth0:1 (ifupdown and ifcfg) is eth0 again: with two vifs
    in the domain only eth0 is pinned, and the second MAC is not named
    eth0:1."""
    for case in ("ifupdown-eth0-alias", "rhel-eth0-alias"):
        written, facts, notes, _guest = plan_nic_names(guest_files(case), TWO_NICS)
        assert facts.nic_names == ["eth0"]
        assert written == link("eth0", "MACAddress=00:16:3e:aa:00:01")
        assert notes == []


def test_more_configured_nics_than_the_domain_has():
    written, facts, notes, _guest = plan_nic_names(guest_files("ifupdown-three"), TWO_NICS)
    assert facts.nic_names == ["eth0", "eth1", "eth2"]
    assert written == {
        **link("eth0", "MACAddress=00:16:3e:aa:00:01"),
        **link("eth1", "MACAddress=00:16:3e:aa:00:02"),
    }
    assert notes == ["the configuration names 3 NICs but the domain has 2; eth2 left unnamed"]


def test_two_nics_without_a_domain_are_left_to_the_guest():
    written, _facts, notes, _guest = plan_nic_names(guest_files("nm-two"), [])
    assert written == {}
    assert "pass --domain" in notes[0]


def test_every_fixture_names_what_wrote_it():
    cases = sorted(d for d in os.listdir(CONFIGS) if os.path.isdir(os.path.join(CONFIGS, d)))
    used = {case for case, _ in SINGLE.values()}
    assert used < set(cases)
    for case in cases:
        for path, text in guest_files(case).items():
            assert text.startswith("# Written by "), f"{case}{path}"
