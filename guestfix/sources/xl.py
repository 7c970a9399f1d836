"""-i xl [-ic ssh://HOST] CFG: a native xl.cfg / xm file, parsed without
being evaluated (domain/xlcfg.py); on a Xen host, read there over ssh,
whose xl is asked whether the guest still runs."""

import os
import urllib.parse

from ..core.errors import UsageError
from ..domain.xlcfg import domain_from_xl
from . import ssh
from .base import Source


class XlConfig(Source):
    mode = "xl"

    @classmethod
    def host_for(cls, input_uri):
        if urllib.parse.urlsplit(input_uri).scheme != "ssh":
            raise UsageError(f"-i xl -ic {input_uri}: use ssh://[USER@]HOST[:PORT]")
        return ssh.SshHost.from_uri(input_uri)

    def load_domain(self, arg):
        if self.host is None:
            return domain_from_xl(arg)
        return domain_from_xl(arg, self.host.read_file(arg, "the Xen configuration"))

    def check_stopped_on_host(self, domain):
        self.host.refuse_running(domain.name)

    def as_read(self, guest):
        return os.path.basename(guest.origin), guest.domain.source_text
