"""A libvirt domain XML document as a parsed tree.

Only what guestfix needs is modelled; every other element and attribute
stays in the tree untouched. Parsing refuses DTDs and entities outright: a
domain XML never needs them, and they are how hostile XML expands itself or
reads host files.
"""

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..errors import InputError

MAX_XML_BYTES = 10 * 1024 * 1024


@dataclass
class DomainDisk:
    source: str          # file or block device path
    source_type: str     # file, block, network, volume
    driver_type: str     # raw, qcow2, or "" when unstated
    target: str          # xvda, hda, ...
    bus: str
    device: str          # disk, cdrom, floppy


def parse_xml_text(text, origin="domain XML"):
    if not text.strip():
        raise InputError(f"{origin} is empty")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise InputError(f"{origin} declares a DTD or entities, which guestfix refuses to read")
    try:
        return ET.fromstring(text)
    except ET.ParseError as e:
        raise InputError(f"{origin} is not well-formed XML ({e})") from None


class Domain:
    def __init__(self, root, path=None):
        if root.tag != "domain":
            raise InputError(f"{path or 'the XML'} is not a libvirt domain (root element <{root.tag}>)")
        self.root = root
        self.path = path

    @classmethod
    def from_file(cls, path):
        try:
            size = os.path.getsize(path)
            if size > MAX_XML_BYTES:
                raise InputError(f"{path} is too large for a domain XML ({size} bytes)")
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise InputError(f"{path}: {e.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path} is not UTF-8 text") from None
        return cls(parse_xml_text(text, path), path)

    @property
    def name(self):
        return (self.root.findtext("name") or "").strip()

    @property
    def type(self):
        return self.root.get("type", "")

    def disks(self):
        out = []
        for el in self.root.findall("./devices/disk"):
            source = el.find("source")
            src = ""
            if source is not None:
                src = source.get("file") or source.get("dev") or source.get("name") or ""
            driver = el.find("driver")
            target = el.find("target")
            out.append(DomainDisk(
                source=src, source_type=el.get("type", "file"),
                driver_type=(driver.get("type", "") if driver is not None else ""),
                target=(target.get("dev", "") if target is not None else ""),
                bus=(target.get("bus", "") if target is not None else ""),
                device=el.get("device", "disk")))
        return out

    def macs(self):
        return [m.get("address", "").lower()
                for m in self.root.findall("./devices/interface/mac") if m.get("address")]

    def guest_disks(self):
        """The hard disks (not cdroms/floppies) in domain order, checked."""
        disks = [d for d in self.disks() if d.device == "disk"]
        if not disks:
            raise InputError(f"{self.path or 'the domain'} has no disks")
        seen = set()
        for d in disks:
            if d.source_type in ("network", "volume"):
                raise InputError(f"disk {d.target or '?'} is a {d.source_type} disk; "
                                 "guestfix needs the image as a local file or block device")
            if not d.source:
                raise InputError(f"disk {d.target or '?'} has no source")
            if not d.target:
                raise InputError(f"disk {d.source} has no target device name")
            if d.target in seen:
                raise InputError(f"two disks have the target {d.target}")
            seen.add(d.target)
        return disks
