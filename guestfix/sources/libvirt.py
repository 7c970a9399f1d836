"""-i libvirt [-ic URI] NAME: a domain of a libvirt connection, which
refuses a running domain by itself (define.dump_domain). Over an ssh
transport (xen+ssh://) the disks are on that host, and read there."""

import urllib.parse

from ..core.errors import UsageError
from ..domain.define import dump_domain
from ..domain.model import Domain
from . import ssh
from .base import Source


class LibvirtDomain(Source):
    mode = "libvirt"

    @classmethod
    def host_for(cls, input_uri):
        if urllib.parse.urlsplit(input_uri).scheme == "ssh":
            raise UsageError(
                f"-i libvirt -ic {input_uri}: a libvirt URI is needed, "
                "e.g. xen+ssh://[USER@]HOST[:PORT]/"
            )
        return ssh.SshHost.from_uri(input_uri)  # None: a connection to this machine

    def load_domain(self, arg):
        return Domain.from_string(dump_domain(self.input_uri, arg), f"domain {arg}")
