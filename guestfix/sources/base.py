"""What every source gives and does: the guest, its domain and disks.

A Source reads the domain (`load_domain`), opens the disks read-only
(`open`, here or on the Xen host over ssh) and keeps a verified copy of
both (`backup`). The subclasses in this folder differ only where their
kind of source does.
"""

import contextlib
import dataclasses
from dataclasses import dataclass

from ..core import values
from ..core.devnames import DeviceMap
from ..core.errors import UsageError
from ..disks import assembly
from ..disks import backup as backup_mod
from ..domain.model import Domain
from . import ssh
from .disks import disk_entries, domain_disks


@dataclass
class SourceGuest:
    """A stopped Xen guest as a source gives it."""

    origin: str  # what the user named: a file, or a domain name
    domain: Domain  # parsed; migrate converts it in place
    xml_text: str  # the domain as read, before any conversion
    disks: list  # Disk objects, in the guest's order (xvda first)
    layout: assembly.Layout  # the disks as KVM gets them (partition images assembled)
    devmap: DeviceMap  # Xen names -> virtio names, of the KVM layout
    host: object = None  # ssh.SshHost when the guest is on another machine
    # disks still inside a stream (sources/xva.py): written where the output
    # says (`read_into`) before anything else reads them
    incoming: object = None
    left_out: list = dataclasses.field(default_factory=list)  # devices not carried, said

    def device_map(self):
        return DeviceMap(self.layout.targets, self.layout.aliases())

    @property
    def name(self):
        return self.domain.name

    def with_disks(self, disks):
        """The same guest read from other, identical disks (verified local
        copies of a remote guest's disks, or an export's disks once read)."""
        layout = assembly.plan(disks)
        return dataclasses.replace(
            self,
            disks=disks,
            layout=layout,
            host=None,
            incoming=None,
            devmap=DeviceMap(layout.targets, layout.aliases()),
        )


class Source:
    """Domain XML and disk images that are files on this host, or (with an
    ssh -ic) on the Xen host, read over ssh."""

    mode = ""
    disks_exist = True  # the domain names disks that are there to check
    migrates = True  # open() gives the guest to migrate, inspect and backup

    def __init__(self, input_uri="", allow_backing=False, password_file=""):
        self.input_uri = input_uri
        self.allow_backing = allow_backing
        self.password_file = password_file  # -ip: a source that logs in (xapi.py)
        self.host = self.host_for(input_uri) if input_uri else None

    @classmethod
    def host_for(cls, input_uri):
        """The SshHost this source's disks are read through for -ic URI,
        or None when they are on this machine; a URI the mode does not
        take is refused."""
        raise UsageError(f"-ic applies only with -i libvirt or -i xl (this run: -i {cls.mode})")

    def load_domain(self, arg):
        """The guest's Domain, as this source describes it."""
        raise NotImplementedError

    def open(self, arg):
        domain = self.load_domain(arg)
        # the name becomes file names here and at the destination
        values.name(domain.name, f"{arg}: the domain name")
        if domain.root.findtext("uuid"):
            values.uuid(domain.root.findtext("uuid").strip(), f"{arg}: the domain UUID")
        if self.host is None:
            disks = domain_disks(domain, allow_backing=self.allow_backing)
        else:
            self.check_stopped_on_host(domain)
            disks = ssh.open_disks(self.host, disk_entries(domain))
        layout = assembly.plan(disks)
        return SourceGuest(
            origin=arg,
            domain=domain,
            xml_text=domain.to_string(),
            disks=disks,
            layout=layout,
            devmap=DeviceMap(layout.targets, layout.aliases()),
            host=self.host,
        )

    def check_stopped_on_host(self, domain):
        """Refuse a guest still running on the Xen host. Local disks are
        checked for QEMU's locks instead (disks.image.open_disk)."""

    @contextlib.contextmanager
    def readable(self, guest, monitor):
        """The guest with disks a reader can open where it stands (inspect):
        these are (an export's: read out first, sources/xva.py)."""
        yield guest

    def backup(self, guest, dest, monitor, md5=True):
        """The disks and the domain XML as read (there is no file of it)."""
        if guest.host is not None:
            return self._backup_remote(guest, dest, monitor, md5)
        return backup_mod.backup(
            [d.path for d in guest.disks],
            dest,
            monitor,
            md5=md5,
            domain_xml_text=guest.xml_text,
            domain_xml_name=f"{guest.name}.xml",
        )

    def _backup_remote(self, guest, dest, monitor, md5):
        """The disks as read from the host, the configuration as read there,
        and NAME.xml naming the copies: the directory is then a local
        source (`migrate -i libvirtxml DIR/NAME.xml`)."""
        return backup_mod.backup_disks(
            guest.disks, dest, monitor, md5=md5, files=[self.as_read(guest)], domain=guest.domain
        )

    def as_read(self, guest):
        """(file name, text) of the source's own description of the guest."""
        return f"{guest.name}.host.xml", guest.xml_text
