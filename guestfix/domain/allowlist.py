"""What the KVM domain may hold: what guestfix understands and has mapped.

A Xen domain is written by someone else: the guest's owner, a host being
decommissioned. Kept as it was, an element guestfix does not know would
reach into the KVM host: a PCI <hostdev> names the Xen host's device (a
different one here), a <filesystem> passes a host directory into the
guest, <qemu:commandline> adds QEMU arguments, a cdrom or an interface's
<rom file=...> names a host file. So after the conversion everything not
in the table below is removed, and each removal is named in the report
(`dropped: hostdev pci 0000:00:1f.3`). The user can keep a kind they vouch
for (`--keep-element hostdev`).

Host paths that remain (the emulator, the disks' sources) are the ones
guestfix chose or the user gave: the conversion sets them.
"""

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
GUESTFIX_NS = "urn:guestfix:migration:1"

# parent -> the children it may keep (what the conversion writes or maps)
CHILDREN = {
    "domain": {
        "name",
        "uuid",
        "title",
        "description",
        "metadata",
        "memory",
        "currentMemory",
        "vcpu",
        "os",
        "features",
        "clock",
        "on_poweroff",
        "on_reboot",
        "on_crash",
        "devices",
    },
    "os": {"type", "firmware", "boot", "kernel", "initrd", "cmdline"},
    "firmware": {"feature"},  # <os><firmware>: firmware.py's secure-boot choice
    "feature": set(),
    "features": {"acpi", "apic", "pae", "smm"},
    "devices": {
        "emulator",
        "disk",
        "controller",
        "interface",
        "input",
        "graphics",
        "video",
        "serial",
        "console",
        "memballoon",
    },
    "disk": {"driver", "source", "target", "readonly", "shareable", "serial", "boot"},
    "interface": {"mac", "source", "model", "link", "mtu"},
    "controller": {"model"},
    "graphics": {"listen"},
    "video": {"model"},
    "serial": {"target"},
    "console": {"target"},
    "memballoon": set(),
    "input": set(),
}
# kinds of a device that stay; other kinds of it go
KINDS = {
    "interface": {"bridge", "network"},
    "graphics": {"vnc", "spice"},
    "disk": {"file", "block"},
    "serial": {"pty"},
    "console": {"pty"},
}
# disks KVM may have: not `lun`, which passes SCSI commands to a host device
DISK_DEVICES = {"disk", "cdrom", "floppy"}
# kept whole: the clock's timers are inert settings
WHOLE = {"clock"}


def describe(el):
    """A short name for an element, for the report: its tag and what it
    points at."""
    tag = el.tag.replace(f"{{{QEMU_NS}}}", "qemu:")
    if tag.startswith("{"):
        tag = tag.split("}", 1)[1]
    if tag == "hostdev":
        addr = el.find("source/address")
        if addr is not None and el.get("type") == "pci":
            parts = [
                addr.get(k, "0x0").replace("0x", "") for k in ("domain", "bus", "slot", "function")
            ]
            return "hostdev pci {:0>4}:{:0>2}:{:0>2}.{}".format(*parts)
        return f"hostdev {el.get('type', '')}".strip()
    if tag == "filesystem":
        source, target = el.find("source"), el.find("target")
        host = source.get("dir") if source is not None else None
        guest = target.get("dir") if target is not None else None
        return f"filesystem {host or '?'} -> {guest or '?'}"
    if tag == "qemu:commandline":
        return f"qemu:commandline ({len(list(el))} arguments)"
    kind = el.get("type") or el.get("device") or ""
    source = el.find("source")
    where = ""
    if source is not None:
        where = next(
            (
                source.get(k)
                for k in ("file", "dev", "dir", "path", "bridge", "network")
                if source.get(k)
            ),
            "",
        )
    return " ".join(x for x in (tag, kind, where) if x)


def _tag(el):
    if el.tag.startswith(f"{{{QEMU_NS}}}"):
        return "qemu:" + el.tag.split("}", 1)[1]
    return el.tag


def filter_domain(root, keep=()):
    """Remove, in place, every element of the converted domain `root` that
    is not in the table (or in `keep`); returns what was removed, each
    described for the report."""
    dropped = []
    keep = set(keep)
    _filter(root, "domain", keep, dropped)
    return dropped


def _filter(el, name, keep, dropped):
    """Children of `el` (itself allowed, as `name`) checked against the
    table; an element with no row in it keeps its attributes and text but
    no children."""
    allowed = CHILDREN.get(name, set())
    for child in list(el):
        tag = _tag(child)
        if tag in keep:
            continue
        if name == "metadata":
            if not child.tag.startswith(f"{{{GUESTFIX_NS}}}"):
                el.remove(child)
                dropped.append(f"metadata {child.tag.split('}', 1)[0].lstrip('{')}")
            continue
        if tag not in allowed:
            el.remove(child)
            dropped.append(describe(child))
            continue
        kinds = KINDS.get(tag)
        if (kinds is not None and child.get("type") and child.get("type") not in kinds) or (
            tag == "disk" and child.get("device", "disk") not in DISK_DEVICES
        ):
            el.remove(child)
            dropped.append(describe(child))
            continue
        if tag == "disk" and child.get("device") in ("cdrom", "floppy"):
            # a medium named by the Xen side is a path on the Xen host; the
            # drive stays, empty
            source = child.find("source")
            if source is not None and "source" not in keep:
                child.remove(source)
                dropped.append(
                    f"{child.get('device')} medium "
                    f"{source.get('file') or source.get('dev') or '?'}"
                )
        if tag in WHOLE:
            continue
        _filter(child, tag, keep, dropped)
