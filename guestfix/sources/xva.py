"""-i xva FILE.xva: a XenServer/XCP-ng export (`xe vm-export`).

The domain comes from ova.xml, the tar's first member (domain/ovaxml.py);
the disks are inside the tar, read once as a stream (disks/xvastream.py)
straight into where they are to be. Until migrate writes them there, the
domain names each disk as FILE's directory/NAME-TARGET.raw.
"""

import os
import tarfile

from ..core.errors import InputError, UsageError
from ..disks.xvastream import MAX_OVA_XML, OVA_XML
from ..domain import ovaxml
from .base import Source


def read_ova_xml(path):
    """ova.xml's text, from the head of the export (nothing more is read)."""
    try:
        with open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|*") as tar:
            first = tar.next()
            if first is None or first.name != OVA_XML or not first.isfile():
                raise InputError(f"{path}: not an XVA (its first member is not {OVA_XML})")
            if first.size > MAX_OVA_XML:
                raise InputError(f"{path}: {OVA_XML} is too large ({first.size} bytes)")
            return tar.extractfile(first).read().decode("utf-8", "replace")
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    except (tarfile.TarError, EOFError) as e:
        raise InputError(f"{path}: not an XVA (tar: {e})") from None


def export_guest(path):
    """The XvaGuest of an export, its disks named next to it."""
    here = os.path.dirname(os.path.abspath(path))
    return ovaxml.guest_from_export(
        ovaxml.parse(read_ova_xml(path), path),
        lambda name, disk: os.path.join(here, f"{name}-{disk.target}.raw"),
        path,
    )


class XvaExport(Source):
    mode = "xva"
    disks_exist = False  # they are inside the export, until it is read
    migrates = False

    def load_domain(self, arg):
        return export_guest(arg).domain

    def open(self, arg):
        raise UsageError(
            "-i xva: only `guestfix xml FILE.xva -i xva` reads an export so far "
            "(migrate, inspect and backup of an XVA are not there yet)"
        )
