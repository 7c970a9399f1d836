"""The virtio NIC gets the name the network configuration expects.

On Xen a vif was eth0 (or enX0 with systemd 252+); on KVM the kernel and
udev would call it ens3/enp1s0 and the guest would come up without network.
A systemd .link file (or a udev rule on guests without systemd) names each
NIC, matched by MAC address when the domain XML gives them, else (a single
NIC) by its virtio driver.
"""

from ..plan import edit
from .base import Step

LINK_DIR = "/etc/systemd/network"
UDEV_RULES = "/etc/udev/rules.d/70-guestfix-net.rules"


def link_file(name, mac=None):
    match = f"MACAddress={mac}" if mac else "Driver=virtio_net"
    return (
        "# Written by guestfix: keep the name this NIC had on Xen.\n"
        f"[Match]\n{match}\n\n[Link]\nName={name}\n"
    )


def udev_rule(pairs):
    lines = ["# Written by guestfix: keep the names these NICs had on Xen."]
    for name, mac in pairs:
        match = f'ATTR{{address}}=="{mac}"' if mac else 'DRIVERS=="virtio_net"'
        lines.append(f'SUBSYSTEM=="net", ACTION=="add", {match}, NAME="{name}"')
    return "\n".join(lines) + "\n"


def pairs_for(names, macs, notes):
    """(name, mac) per NIC; without MACs only a single NIC can be named."""
    if macs:
        if len(names) > len(macs):
            notes.append(
                f"the configuration names {len(names)} NICs but the domain "
                f"has {len(macs)}; {', '.join(names[len(macs) :])} left unnamed"
            )
        return list(zip(names, macs))
    if len(names) == 1:
        return [(names[0], None)]
    notes.append(
        "several NICs configured and no domain XML to match them by MAC: "
        "names left to the guest (pass --domain)"
    )
    return []


class NicNames(Step):
    name = "nic-names"
    title = "NIC names: virtio NICs keep the names the configuration uses"
    changes = f"{LINK_DIR}/10-guestfix-NAME.link (systemd) or {UDEV_RULES}"

    def applies(self, facts):
        return bool(facts.nic_names)

    def plan(self, ctx):
        pairs = pairs_for(ctx.facts.nic_names, ctx.macs, ctx.notes)
        if not pairs:
            return []
        if ctx.facts.init == "systemd":
            changes = []
            for name, mac in pairs:
                path = f"{LINK_DIR}/10-guestfix-{name}.link"
                changes.append(
                    edit(
                        self.name,
                        f"virtio NIC named {name}",
                        path,
                        ctx.guest.read_text(path),
                        link_file(name, mac),
                    )
                )
            return [c for c in changes if c]
        change = edit(
            self.name,
            "virtio NICs named as configured",
            UDEV_RULES,
            ctx.guest.read_text(UDEV_RULES),
            udev_rule(pairs),
        )
        return [change] if change else []


STEP = NicNames()
