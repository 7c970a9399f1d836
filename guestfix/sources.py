"""Where a migration's guest comes from: its domain and its disks.

One class per input mode (-i), behind one interface: `open(arg)` reads
the domain and opens the disks read-only, returning a SourceGuest;
`backup(guest, dest, monitor)` keeps a verified copy of both. A new
source (a remote Xen host, say) is a new class here, not a new branch in
migrate.py.
"""

from dataclasses import dataclass

from . import assembly
from . import backup as backup_mod
from .devnames import DeviceMap
from .disks import domain_disks
from .domain import convert
from .domain.model import Domain
from .errors import UsageError


@dataclass
class SourceGuest:
    """A stopped Xen guest as a source gives it."""
    origin: str              # what the user named: a file, or a domain name
    domain: Domain           # parsed; migrate converts it in place
    xml_text: str            # the domain as read, before any conversion
    disks: list              # Disk objects, in the guest's order (xvda first)
    layout: assembly.Layout  # the disks as KVM gets them (partition images assembled)
    devmap: DeviceMap        # Xen names -> virtio names, of the KVM layout

    @property
    def name(self):
        return self.domain.name


class Source:
    """Domain XML and disk images that are files on this host."""

    mode = ""

    def __init__(self, input_uri="", allow_backing=False):
        self.input_uri = input_uri
        self.allow_backing = allow_backing

    def load_domain(self, arg):
        return convert.load_source(arg, self.mode, self.input_uri)

    def open(self, arg):
        domain = self.load_domain(arg)
        disks = domain_disks(domain, allow_backing=self.allow_backing)
        layout = assembly.plan(disks)
        return SourceGuest(origin=arg, domain=domain, xml_text=domain.to_string(), disks=disks,
                           layout=layout, devmap=DeviceMap(layout.targets, layout.aliases()))

    def backup(self, guest, dest, monitor):
        """The disks and the domain XML as read (there is no file of it)."""
        return backup_mod.backup([d.path for d in guest.disks], dest, monitor, md5=True,
                                 domain_xml_text=guest.xml_text,
                                 domain_xml_name=f"{guest.name}.xml")


class DomainXMLFile(Source):
    """-i libvirtxml: a `virsh dumpxml` file."""

    mode = "libvirtxml"

    def backup(self, guest, dest, monitor):
        # the user's XML file byte for byte, with the disks it names
        return backup_mod.backup([guest.origin], dest, monitor, md5=True)


class LibvirtDomain(Source):
    """-i libvirt [-ic URI] NAME: a domain of a libvirt connection."""

    mode = "libvirt"


class XlConfig(Source):
    """-i xl: a native xl.cfg / xm file, parsed without being evaluated."""

    mode = "xl"


SOURCES = {cls.mode: cls for cls in (DomainXMLFile, LibvirtDomain, XlConfig)}


def source_for(input_mode, input_uri="", allow_backing=False):
    try:
        cls = SOURCES[input_mode]
    except KeyError:
        raise UsageError(f"-i {input_mode}: use {', '.join(SOURCES)}") from None
    return cls(input_uri=input_uri, allow_backing=allow_backing)
