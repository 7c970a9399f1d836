"""-i libvirtxml: a `virsh dumpxml` file."""

from ..disks import backup as backup_mod
from ..domain.model import Domain
from .base import Source


class DomainXMLFile(Source):
    mode = "libvirtxml"

    def load_domain(self, arg):
        return Domain.from_file(arg)

    def backup(self, guest, dest, monitor, md5=True):
        # the user's XML file byte for byte, with the disks it names
        return backup_mod.backup([guest.origin], dest, monitor, md5=md5)
