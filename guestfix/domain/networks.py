"""NIC mapping with virt-v2v's options and semantics.

  --mac MAC:network:OUT / MAC:bridge:OUT   one NIC, by MAC; wins over the rest
  --network IN:OUT / --bridge IN:OUT        a source network / bridge by name
  --network OUT / --bridge OUT              every other network / bridge
A NIC of type network stays a network, a bridge stays a bridge (only --mac
and the mapping file change the type). The same mapping twice is an error.

The mapping file uses the network section of the old /etc/virt-v2v.conf,
which the SUSE guide points at; it can turn a bridge into a network:

  <network type='bridge' name='br0'>
    <network type='network' name='default'/>
  </network>
"""

import re
from dataclasses import dataclass, field

from ..core import values
from ..core.errors import InputError
from .model import parse_xml_text

MAC_RE = re.compile(r"^([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}):(network|bridge):(.+)$")


@dataclass
class NetworkMap:
    macs: dict = field(default_factory=dict)  # mac -> (type, name)
    named: dict = field(default_factory=dict)  # (type, name) -> (type, name)
    defaults: dict = field(default_factory=dict)  # type -> name

    def add_mac(self, spec):
        m = MAC_RE.match(spec)
        if not m:
            raise InputError(f"--mac {spec}: expected MAC:network:NAME or MAC:bridge:NAME")
        mac = m.group(1).lower()
        if mac in self.macs:
            raise InputError(f"duplicate --mac mapping for {mac}")
        self.macs[mac] = (
            m.group(2),
            values.network_or_bridge(m.group(2), m.group(3), f"--mac {spec}"),
        )

    def add(self, kind, spec):
        """kind is 'network' or 'bridge'; spec is IN:OUT or OUT."""
        option = "--network" if kind == "network" else "--bridge"
        if not spec or spec.endswith(":") or spec.startswith(":"):
            raise InputError(f"{option} {spec!r}: expected IN:OUT or OUT")
        if ":" in spec:
            src, out = spec.split(":", 1)
            if (kind, src) in self.named:
                raise InputError(f"duplicate {option} mapping for {kind} {src}")
            self.named[(kind, src)] = (kind, values.network_or_bridge(kind, out, option))
        else:
            if kind in self.defaults:
                raise InputError(f"duplicate {option} default: only one {option} OUT is allowed")
            self.defaults[kind] = values.network_or_bridge(kind, spec, option)

    def add_file(self, path):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
        root = parse_xml_text(text, path)
        entries = [root] if root.tag == "network" else root.iter("network")
        for net in entries:
            target = net.find("network")
            if target is None or net.get("type") not in ("bridge", "network"):
                continue
            src = (net.get("type"), net.get("name", ""))
            dst = (target.get("type", ""), target.get("name", ""))
            if dst[0] not in ("bridge", "network") or not dst[1] or not src[1]:
                raise InputError(f"{path}: incomplete mapping for {src[0]} {src[1] or '?'}")
            if src in self.named:
                raise InputError(f"{path}: duplicate mapping for {src[0]} {src[1]}")
            values.network_or_bridge(dst[0], dst[1], f"{path}: the mapping of {src[1]}")
            self.named[src] = dst

    def map(self, kind, name, mac):
        """(kind, name) of the target for a NIC; unchanged when nothing maps."""
        if mac and mac.lower() in self.macs:
            return self.macs[mac.lower()]
        if (kind, name) in self.named:
            return self.named[(kind, name)]
        if kind in self.defaults:
            return kind, self.defaults[kind]
        return kind, name


def build(bridges=(), networks=(), macs=(), map_file=None):
    nm = NetworkMap()
    for spec in macs:
        nm.add_mac(spec)
    for spec in networks:
        nm.add("network", spec)
    for spec in bridges:
        nm.add("bridge", spec)
    if map_file:
        nm.add_file(map_file)
    return nm
