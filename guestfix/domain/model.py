"""A libvirt domain XML document as a parsed tree.

Only what guestfix needs is modelled; every other element and attribute
stays in the tree untouched. Parsing refuses DTDs and entities outright: a
domain XML never needs them, and they are how hostile XML expands itself or
reads host files.
"""

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..core import values
from ..core.errors import InputError

MAX_XML_BYTES = 10 * 1024 * 1024


@dataclass
class DomainDisk:
    source: str  # file or block device path
    source_type: str  # file, block, network, volume
    driver_type: str  # raw, qcow2, or "" when unstated
    target: str  # xvda, hda, ...
    bus: str
    device: str  # disk, cdrom, floppy
    element: object = None

    def set_file_source(self, path):
        """Make this an image-file disk at `path` (a copy of a block device
        is a file: <disk type='block'><source dev=...> would still name the
        device)."""
        self.element.set("type", "file")
        source = self.element.find("source")
        if source is None:
            source = ET.SubElement(self.element, "source")
        for attr in ("dev", "file", "name"):
            source.attrib.pop(attr, None)
        source.set("file", path)
        self.source, self.source_type = path, "file"


def parse_xml_text(text, origin="domain XML"):
    if not text.strip():
        raise InputError(f"{origin} is empty")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise InputError(f"{origin} declares a DTD or entities, which guestfix refuses to read")
    try:
        return ET.fromstring(text)
    except ET.ParseError as e:
        raise InputError(f"{origin} is not well-formed XML ({e})") from None


def read_text_file(path, what="file"):
    try:
        size = os.path.getsize(path)
        if size > MAX_XML_BYTES:
            raise InputError(f"{path} is too large for a {what} ({size} bytes)")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None


def sub(parent, tag, attrib=None, index=None):
    """A new child element, optionally inserted at a position."""
    el = ET.Element(tag, attrib or {})
    if index is None:
        parent.append(el)
    else:
        parent.insert(index, el)
    return el


class Domain:
    def __init__(self, root, path=None):
        if root.tag != "domain":
            raise InputError(
                f"{path or 'the XML'} is not a libvirt domain (root element <{root.tag}>)"
            )
        self.root = root
        self.path = path
        self.source_text = None  # the native configuration it was made from (xl.cfg)

    @classmethod
    def from_file(cls, path):
        return cls(parse_xml_text(read_text_file(path, "domain XML"), path), path)

    @classmethod
    def from_string(cls, text, origin="domain XML"):
        return cls(parse_xml_text(text, origin), None)

    def to_string(self):
        root = ET.fromstring(ET.tostring(self.root))
        ET.indent(root, "  ")
        return ET.tostring(root, encoding="unicode") + "\n"

    @property
    def name(self):
        return (self.root.findtext("name") or "").strip()

    @property
    def type(self):
        return self.root.get("type", "")

    @property
    def devices(self):
        devices = self.root.find("devices")
        if devices is None:
            devices = sub(self.root, "devices")
        return devices

    def disks(self):
        out = []
        for el in self.root.findall("./devices/disk"):
            source = el.find("source")
            src = ""
            if source is not None:
                src = source.get("file") or source.get("dev") or source.get("name") or ""
            driver = el.find("driver")
            target = el.find("target")
            out.append(
                DomainDisk(
                    source=src,
                    source_type=el.get("type", "file"),
                    driver_type=(driver.get("type", "") if driver is not None else ""),
                    target=(target.get("dev", "") if target is not None else ""),
                    bus=(target.get("bus", "") if target is not None else ""),
                    device=el.get("device", "disk"),
                    element=el,
                )
            )
        return out

    def boot_args(self):
        """The kernel arguments of a domain that booted dom0's kernel
        (<os><kernel> with <cmdline>), or "" (pygrub, hvmloader)."""
        os_el = self.root.find("os")
        if os_el is None or not (os_el.findtext("kernel") or "").strip():
            return ""
        return " ".join((os_el.findtext("cmdline") or "").split())

    @property
    def is_pv(self):
        """A Xen paravirtualized domain (os type linux or xen): its disks
        were xvd*, its console hvc0."""
        return self.type == "xen" and (self.root.findtext("os/type") or "").strip() in (
            "linux",
            "xen",
        )

    def macs(self):
        """The NICs' MAC addresses in domain order, each checked."""
        return [
            values.mac(m.get("address"), f"{self.path or 'the domain'}: a NIC's MAC")
            for m in self.root.findall("./devices/interface/mac")
            if m.get("address")
        ]

    def guest_disks(self):
        """The hard disks (not cdroms/floppies) in domain order, checked."""
        disks = [d for d in self.disks() if d.device == "disk"]
        if not disks:
            raise InputError(f"{self.path or 'the domain'} has no disks")
        seen = set()
        for d in disks:
            if d.source_type in ("network", "volume"):
                raise InputError(
                    f"disk {d.target or '?'} is a {d.source_type} disk; "
                    "guestfix needs the image as a local file or block device"
                )
            if not d.source:
                raise InputError(f"disk {d.target or '?'} has no source")
            if not d.target:
                raise InputError(f"disk {d.source} has no target device name")
            values.target(d.target, f"disk {d.source}: its target")
            values.path(d.source, f"disk {d.target}: its source")
            if d.target in seen:
                raise InputError(f"two disks have the target {d.target}")
            seen.add(d.target)
        return disks

    def resolve_source(self, source):
        """Disk paths in a domain XML may be relative to the XML file."""
        if os.path.isabs(source) or not self.path:
            return source
        return os.path.join(os.path.dirname(os.path.abspath(self.path)), source)
