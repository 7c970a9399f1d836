"""Where a migration's guest comes from: its domain and its disks.

One class per input mode (-i), behind one interface: `open(arg)` reads
the domain and opens the disks read-only, returning a SourceGuest;
`backup(guest, dest, monitor)` keeps a verified copy of both. A new
source (a remote Xen host, say) is a new class here, not a new branch in
migrate.py.
"""

import dataclasses
import os
from dataclasses import dataclass

from . import assembly, remote
from . import backup as backup_mod
from .devnames import DeviceMap
from .disks import disk_entries, domain_disks
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
    host: object = None      # remote.SshHost when the guest is on another machine

    @property
    def name(self):
        return self.domain.name

    def with_disks(self, disks):
        """The same guest read from other, identical disks (verified local
        copies of a remote guest's disks)."""
        layout = assembly.plan(disks)
        return dataclasses.replace(self, disks=disks, layout=layout, host=None,
                                   devmap=DeviceMap(layout.targets, layout.aliases()))


class Source:
    """Domain XML and disk images that are files on this host, or (with an
    ssh -ic) on the Xen host, read over ssh."""

    mode = ""

    def __init__(self, input_uri="", allow_backing=False):
        self.input_uri = input_uri
        self.allow_backing = allow_backing
        self.host = remote.host_for(self.mode, input_uri)

    def load_domain(self, arg):
        return convert.load_source(arg, self.mode, self.input_uri)

    def open(self, arg):
        domain = self.load_domain(arg)
        if self.host is None:
            disks = domain_disks(domain, allow_backing=self.allow_backing)
        else:
            self.check_stopped_on_host(domain)
            disks = remote.open_disks(self.host, disk_entries(domain))
        layout = assembly.plan(disks)
        return SourceGuest(origin=arg, domain=domain, xml_text=domain.to_string(), disks=disks,
                           layout=layout, devmap=DeviceMap(layout.targets, layout.aliases()),
                           host=self.host)

    def check_stopped_on_host(self, domain):
        """Refuse a guest still running on the Xen host. Local disks are
        checked for QEMU's locks instead (diskimage.open_disk)."""

    def backup(self, guest, dest, monitor, md5=True):
        """The disks and the domain XML as read (there is no file of it)."""
        if guest.host is not None:
            return self._backup_remote(guest, dest, monitor, md5)
        return backup_mod.backup([d.path for d in guest.disks], dest, monitor, md5=md5,
                                 domain_xml_text=guest.xml_text,
                                 domain_xml_name=f"{guest.name}.xml")

    def _backup_remote(self, guest, dest, monitor, md5):
        """The disks as read from the host, the configuration as read there,
        and NAME.xml naming the copies: the directory is then a local
        source (`migrate -i libvirtxml DIR/NAME.xml`)."""
        return backup_mod.backup_disks(guest.disks, dest, monitor, md5=md5,
                                       files=[self.as_read(guest)], domain=guest.domain)

    def as_read(self, guest):
        """(file name, text) of the source's own description of the guest."""
        return f"{guest.name}.host.xml", guest.xml_text


class DomainXMLFile(Source):
    """-i libvirtxml: a `virsh dumpxml` file."""

    mode = "libvirtxml"

    def backup(self, guest, dest, monitor, md5=True):
        # the user's XML file byte for byte, with the disks it names
        return backup_mod.backup([guest.origin], dest, monitor, md5=md5)


class LibvirtDomain(Source):
    """-i libvirt [-ic URI] NAME: a domain of a libvirt connection (which
    refuses a running domain by itself: define.dump_domain)."""

    mode = "libvirt"


class XlConfig(Source):
    """-i xl: a native xl.cfg / xm file, parsed without being evaluated."""

    mode = "xl"

    def check_stopped_on_host(self, domain):
        self.host.refuse_running(domain.name)

    def as_read(self, guest):
        return os.path.basename(guest.origin), guest.domain.source_text


SOURCES = {cls.mode: cls for cls in (DomainXMLFile, LibvirtDomain, XlConfig)}


def source_for(input_mode, input_uri="", allow_backing=False):
    try:
        cls = SOURCES[input_mode]
    except KeyError:
        raise UsageError(f"-i {input_mode}: use {', '.join(SOURCES)}") from None
    return cls(input_uri=input_uri, allow_backing=allow_backing)
