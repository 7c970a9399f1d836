"""Where a migration's guest comes from (-i): its domain and its disks.

    base.py        SourceGuest, and the Source every input mode is
    libvirtxml.py  -i libvirtxml: a `virsh dumpxml` file
    libvirt.py     -i libvirt: a domain of a libvirt connection (xen+ssh://)
    xl.py          -i xl: a native xl.cfg, here or on a Xen host (ssh://)
    incoming.py    what sources whose disks are still to come share
    xva.py         -i xva: a XenServer/XCP-ng export (xe vm-export), read once
    xapi.py        -i xapi: a VM on a XenServer/XCP-ng pool, through its API
    ssh/           a Xen host over ssh: its scripts, its disks, the one full read
    disks.py       which disks, in the guest's order, with their Xen names

SOURCES is the one table of input modes: the command line's -i choices,
the option rules and migrate all take it from here. A new kind of source
is a new module and a row here, not a new branch elsewhere.

Imports: core/, disks/, domain/; never fix/, outputs/ or migrate.
"""

from ..core.errors import UsageError
from .base import Source, SourceGuest
from .libvirt import LibvirtDomain
from .libvirtxml import DomainXMLFile
from .xapi import XapiPool
from .xl import XlConfig
from .xva import XvaExport

SOURCES = {cls.mode: cls for cls in (DomainXMLFile, LibvirtDomain, XlConfig, XvaExport, XapiPool)}
MODES = list(SOURCES)
# the modes migrate, inspect and backup take (the others: xml only, so far)
MIGRATE_MODES = [mode for mode, cls in SOURCES.items() if cls.migrates]
# the modes whose source can be on another machine (-ic)
REMOTE_MODES = [
    mode for mode, cls in SOURCES.items() if cls.host_for.__func__ is not Source.host_for.__func__
]


def source_for(input_mode, input_uri="", allow_backing=False, password_file=""):
    try:
        cls = SOURCES[input_mode]
    except KeyError:
        raise UsageError(f"-i {input_mode}: use {', '.join(SOURCES)}") from None
    return cls(input_uri=input_uri, allow_backing=allow_backing, password_file=password_file)


def host_for(input_mode, input_uri):
    """The Xen host (ssh.SshHost) a source's disks are on, or None when
    they are on this machine; an -ic that does not fit -i is refused."""
    if not input_uri:
        return None
    if input_mode not in SOURCES:
        raise UsageError(f"-i {input_mode}: use {', '.join(SOURCES)}")
    return SOURCES[input_mode].host_for(input_uri)


__all__ = [
    "MIGRATE_MODES",
    "MODES",
    "REMOTE_MODES",
    "SOURCES",
    "Source",
    "SourceGuest",
    "host_for",
    "source_for",
]
