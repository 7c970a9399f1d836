"""Network interfaces (X6, X8): virtio model, no Xen script or vif target,
MAC kept, source mapped with virt-v2v's --network/--bridge/--mac rules."""

from ..core import values
from .model import sub

XEN_TARGET_PREFIXES = ("vif", "vnet", "veth")


def mapped(domain, network_map):
    """(MAC, kind, name) of each NIC as the KVM domain will connect it:
    what the destination must have (checked before any long work)."""
    out = []
    for el in domain.root.findall("./devices/interface"):
        kind = el.get("type", "")
        if kind not in ("bridge", "network"):
            continue  # not kept (allowlist.py)
        mac_el, source = el.find("mac"), el.find("source")
        mac = values.mac(mac_el.get("address", ""), "a NIC's MAC") if mac_el is not None else ""
        name = source.get(kind, "") if source is not None else ""
        out.append((mac, *network_map.map(kind, name, mac)))
    return out


def to_kvm(domain, ctx):
    for el in domain.root.findall("./devices/interface"):
        mac_el = el.find("mac")
        mac = values.mac(mac_el.get("address", ""), "a NIC's MAC") if mac_el is not None else ""
        kind = el.get("type", "")
        source = el.find("source")
        if kind in ("bridge", "network"):
            name = source.get(kind, "") if source is not None else ""
            new_kind, new_name = ctx.network_map.map(kind, name, mac)
            values.network_or_bridge(new_kind, new_name, f"the {new_kind} of NIC {mac or '?'}")
            if (new_kind, new_name) != (kind, name):
                el.set("type", new_kind)
                if source is None:
                    source = sub(el, "source")
                source.attrib.clear()
                source.set(new_kind, new_name)
        model = el.find("model")
        if model is None:
            model = sub(el, "model")
        if model.get("type") != "virtio":
            model.attrib.clear()
            model.set("type", "virtio")
        for tag in ("script", "backenddomain", "address"):
            for child in el.findall(tag):
                el.remove(child)
        for target in el.findall("target"):
            if target.get("dev", "").startswith(XEN_TARGET_PREFIXES):
                el.remove(target)
