"""guestfix's record of a migration, kept in the domain's own <metadata>.

    <metadata>
      <guestfix:migration xmlns:guestfix="urn:guestfix:migration:1">
        <source input="xl" conn="ssh://root@xenhost">/etc/xen/web.cfg</source>
        <migrated>2026-11-29T05:01:02Z</migrated>
        <version>0.1.0</version>
        <disk target="xvda" path="/srv/xen/web-disk.img" size="3221225472"
              mtime="1764391000.5" sha256="..."/>
      </guestfix:migration>
    </metadata>

It travels with the domain (libvirt keeps foreign <metadata> elements as
they are, and so does `-o local`'s NAME.xml), so a second run of the same
migration can tell that it is done, and whether the source changed since.
A disk's sha256 is recorded when the run computed it anyway (a --backup);
size and mtime always, where the disk is on this host.
"""

import os
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .. import __version__
from .model import parse_xml_text, sub

NAMESPACE = "urn:guestfix:migration:1"
TAG = f"{{{NAMESPACE}}}migration"
ET.register_namespace("guestfix", NAMESPACE)


@dataclass
class MigrationRecord:
    source: str  # as the source names it: a path, or a domain name
    input: str  # -i
    conn: str = ""  # -ic
    migrated: str = ""  # UTC, ISO 8601: when the domain was written
    version: str = __version__
    # {"target", "path", "size", "mtime", "sha256", "sha1"}: sha1 is a Xen
    # host's own hash of a disk it sent whole (a block device's only witness)
    disks: list = field(default_factory=list)

    def as_dict(self):
        return {
            "source": self.source,
            "input": self.input,
            "conn": self.conn,
            "migrated": self.migrated,
            "version": self.version,
            "disks": self.disks,
        }

    def add_checksums(self, sha256_by_path=None, host_sha1_by_path=None):
        for d in self.disks:
            d["sha256"] = (sha256_by_path or {}).get(d["path"], d["sha256"])
            d["sha1"] = (host_sha1_by_path or {}).get(d["path"], d.get("sha1"))

    def same_source(self, other):
        return (self.source, self.input, self.conn) == (other.source, other.input, other.conn)

    def changed_disks(self, now):
        """Targets whose size or mtime (where both runs know it) differ."""
        known = {d["target"]: d for d in now.disks}
        changed = []
        for d in self.disks:
            n = known.get(d["target"])
            if n is None or any(
                d.get(k) is not None and n.get(k) is not None and d[k] != n[k]
                for k in ("size", "mtime", "sha256", "sha1")
            ):
                changed.append(d["target"])
        return changed


def source_name(arg, input_mode, conn):
    """The source as recorded: a local file by its absolute path (`-`,
    standard input, as it is)."""
    if conn or input_mode == "libvirt" or arg == "-":
        return arg
    return os.path.abspath(arg)


def describe(guest, input_mode, conn):
    """The record for a source guest, as of now."""
    disks = []
    for disk in guest.disks:
        entry = {
            "target": disk.target,
            "path": disk.path,
            "size": disk.virtual_size,
            "mtime": None,
            "sha256": None,
            "sha1": None,
        }
        if guest.incoming is not None:
            # still inside the export (or on the pool): the export's time
            entry["mtime"] = getattr(guest.incoming, "mtime", None)
        elif disk.remote is None:
            try:
                entry["mtime"] = round(os.stat(disk.path).st_mtime, 3)
            except OSError:
                pass
        else:
            entry["mtime"] = disk.remote.mtime
        disks.append(entry)
    return MigrationRecord(
        source=source_name(guest.origin, input_mode, conn),
        input=input_mode,
        conn=conn,
        disks=disks,
    )


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def stamp(domain, record):
    """Put the record in the domain's <metadata> (replacing an older one)."""
    metadata = domain.root.find("metadata")
    if metadata is None:
        metadata = sub(domain.root, "metadata")
    for old in metadata.findall(TAG):
        metadata.remove(old)
    el = sub(metadata, TAG)
    src = sub(el, f"{{{NAMESPACE}}}source", {"input": record.input})
    if record.conn:
        src.set("conn", record.conn)
    src.text = record.source
    sub(el, f"{{{NAMESPACE}}}migrated").text = record.migrated
    sub(el, f"{{{NAMESPACE}}}version").text = record.version
    for d in record.disks:
        sub(el, f"{{{NAMESPACE}}}disk", {k: str(v) for k, v in d.items() if v is not None})


def read(xml_text):
    """The record in a domain XML, or None."""
    el = parse_xml_text(xml_text).find(f"metadata/{TAG}")
    if el is None:
        return None
    src = el.find(f"{{{NAMESPACE}}}source")
    disks = []
    for d in el.findall(f"{{{NAMESPACE}}}disk"):
        disks.append(
            {
                "target": d.get("target", ""),
                "path": d.get("path", ""),
                "size": int(d.get("size")) if d.get("size") else None,
                "mtime": float(d.get("mtime")) if d.get("mtime") else None,
                "sha256": d.get("sha256"),
                # older records have none
                **({"sha1": d.get("sha1")} if d.get("sha1") else {}),
            }
        )
    return MigrationRecord(
        source=(src.text or "") if src is not None else "",
        input=src.get("input", "") if src is not None else "",
        conn=src.get("conn", "") if src is not None else "",
        migrated=el.findtext(f"{{{NAMESPACE}}}migrated", ""),
        version=el.findtext(f"{{{NAMESPACE}}}version", ""),
        disks=disks,
    )
