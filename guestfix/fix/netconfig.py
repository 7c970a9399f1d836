"""Which network interface names a guest's configuration expects.

On Xen a vif is eth0 (older guests) or enX0 (systemd 252+); on KVM the
same NIC would be ens3/enp1s0, and the old configuration no longer applies.
These parsers find the names the configuration uses, from ifupdown,
systemd-networkd, netplan, NetworkManager and ifcfg files.
"""

import re

CONFIG_GLOBS = [
    "/etc/network/interfaces",
    "/etc/network/interfaces.d/*",
    "/etc/systemd/network/*.network",
    "/etc/netplan/*.yaml",
    "/etc/netplan/*.yml",
    "/etc/NetworkManager/system-connections/*",
    "/etc/sysconfig/network-scripts/ifcfg-*",
    "/etc/sysconfig/network/ifcfg-*",
]
IGNORED = {"lo"}
VIRTUAL_PREFIXES = ("br", "bond", "vlan", "virbr", "docker", "veth", "tun", "tap", "wg")


def config_paths(session):
    paths = []
    for pattern in CONFIG_GLOBS:
        for p in session.glob(pattern) if "*" in pattern else [pattern]:
            if session.is_file(p):
                paths.append(p)
    return paths


def _ifupdown(text):
    names = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if (
            len(words) >= 2
            and words[0] in ("iface", "auto", "allow-hotplug")
            or len(words) >= 2
            and words[0].startswith("allow-")
        ):
            for name in words[1:2] if words[0] == "iface" else words[1:]:
                names.append(_base(name))
    return names


def _base(name):
    """The NIC under an alias (eth0:1) or a VLAN (eth0.100)."""
    return name.split(":", 1)[0].split(".", 1)[0]


def _networkd(text):
    names, section = [], ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Match]" and line.startswith("Name="):
            names.extend(n for n in line[5:].split() if not any(c in n for c in "*?["))
    return names


def _netplan(text):
    """Per ethernets entry: its ID is the NIC's name unless a match: block
    binds it, then set-name is (or a match: name: without wildcards); an
    entry matched by MAC or by a wildcard alone names no NIC."""
    entries, in_ethernets, indent = [], False, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        depth = len(line) - len(line.lstrip())
        key = line.strip().split(":", 1)[0]
        value = line.split(":", 1)[1].strip().strip("'\"") if ":" in line else ""
        if key == "ethernets":
            in_ethernets, top, indent = True, depth, None
            continue
        if not in_ethernets:
            continue
        if indent is None:
            indent = depth
        if depth < indent or depth <= top:
            in_ethernets = False
        elif depth == indent:
            entry = {"id": key.strip("'\""), "match": False, "set-name": "", "name": ""}
            entries.append(entry)
            props, in_match = None, False
        else:
            if props is None:
                props = depth
            if depth == props:
                in_match = key == "match"
                entry["match"] = entry["match"] or in_match
                if key == "set-name":
                    entry["set-name"] = value
            elif in_match and key == "name":
                entry["name"] = value
    names = []
    for e in entries:
        name = e["set-name"] or (e["name"] if e["match"] else e["id"])
        if name and not any(c in name for c in "*?["):
            names.append(name)
    return names


def _keyfile(text):
    m = re.search(r"^interface-name=(\S+)", text, re.M)
    return [m.group(1)] if m else []


def _ifcfg(path, text):
    m = re.search(r"^DEVICE=[\"']?([^\"'\s]+)", text, re.M)
    return [_base(m.group(1) if m else path.rsplit("ifcfg-", 1)[1])]


def expected_names(files):
    """files: {path: text}. Returns (names in first-seen order, sources)."""
    names, sources = [], []
    for path, text in files.items():
        if text is None:
            continue
        if path.startswith("/etc/network/interfaces"):
            found = _ifupdown(text)
        elif path.startswith("/etc/systemd/network/"):
            found = _networkd(text)
        elif path.startswith("/etc/netplan/"):
            found = _netplan(text)
        elif path.startswith("/etc/NetworkManager/"):
            found = _keyfile(text)
        elif "/ifcfg-" in path:
            found = _ifcfg(path, text)
        else:
            found = []
        found = [n for n in found if n not in IGNORED and not n.startswith(VIRTUAL_PREFIXES)]
        if found:
            sources.append(path)
        for n in found:
            if n not in names:
                names.append(n)
    return names, sources
