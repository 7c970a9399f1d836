"""`guestfix backup`: the guide's first step (B1, B2), verified.

The domain XML is kept byte for byte and every disk is copied sparse-aware
with its checksum computed in the same pass, then the copy is verified
against it. A manifest (manifest.json) records paths, sizes, allocated
sizes and checksums, so `backup --verify DIR` can re-check it any time.
Files appear under their final names only once verified; a failed backup
removes what it wrote.
"""

import json
import os
import time
from dataclasses import asdict, dataclass, field

from ..core.errors import BackupMismatch, InputError
from ..core.fsutil import remove_files, write_atomically
from ..domain.model import Domain
from . import storage
from .image import open_disk

MANIFEST = "manifest.json"


@dataclass
class BackedUpDisk:
    """One disk of a backup: where it came from, its copy, its checksums
    (the manifest's entry)."""

    source: str
    file: str  # the copy's name in the backup directory
    format: str
    target: str  # the Xen name (xvda)
    size: int
    allocated: int
    source_allocated: int
    sha256: str
    md5: str = None  # with --md5
    read_from_host: dict = None  # a disk read over ssh: bytes, seconds, MB/s

    def as_dict(self):
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class BackupReport:
    directory: str
    disks: list = field(default_factory=list)  # BackedUpDisk
    domain_xml: str = ""
    seconds: float = 0.0

    def as_dict(self):
        return {
            "directory": self.directory,
            "domain_xml": self.domain_xml,
            "disks": [d.as_dict() for d in self.disks],
            "seconds": round(self.seconds, 2),
        }


def sources(source_args):
    """(domain XML path or None, [disk paths]) from what the user named."""
    if len(source_args) == 1 and source_args[0].endswith(".xml"):
        domain = Domain.from_file(source_args[0])
        return source_args[0], [domain.resolve_source(d.source) for d in domain.guest_disks()]
    if not source_args:
        raise InputError("nothing to back up", hint="name a domain XML or disk images")
    return None, list(source_args)


def backup(source_args, dest, monitor, md5=False, domain_xml_text=None, domain_xml_name=None):
    """Back up a domain XML's disks (or disk images). `domain_xml_text`
    gives the XML when it did not come from a file (a libvirt source)."""
    xml_path, disk_paths = sources(source_args)
    disks = [open_disk(p) for p in disk_paths]  # refuses locked, odd or chained images
    files = []
    if xml_path:
        with open(xml_path, "rb") as f:  # the user's file, byte for byte
            files.append((os.path.basename(xml_path), f.read()))
    elif domain_xml_text:
        files.append((domain_xml_name or "domain.xml", domain_xml_text))
    return backup_disks(
        disks,
        dest,
        monitor,
        md5=md5,
        files=files,
        source_xml=os.path.abspath(xml_path) if xml_path else None,
    )


def backup_disks(disks, dest, monitor, md5=False, files=(), domain=None, source_xml=None):
    """Copy `disks` (Disk objects; remote ones are read over ssh, once)
    into dest with their checksums, verify each copy, and write `files`
    ((name, text or bytes)). With `domain`, NAME.xml is written too,
    naming the copies, so that the directory is a guest of its own."""
    started = time.monotonic()
    names = _target_names([d.path for d in disks])
    files = list(files)
    if domain is not None:
        files.insert(0, (f"{domain.name}.xml", _domain_naming_copies(domain, disks, names)))
    dest = prepare_directory(dest, names + [n for n, _text in files])
    rooms = [storage.room_of(d) for d in disks]
    note = storage.check_room(dest, sum(r[0] for r in rooms), sum(r[1] for r in rooms))
    if note:
        monitor.note(note)
    algorithms = ("sha256", "md5") if md5 else ("sha256",)
    report = BackupReport(directory=dest)
    written = []
    try:
        for disk, name in zip(disks, names):
            final = os.path.join(dest, name)
            partial = os.path.join(dest, f".{name}.partial")
            written.append(partial)
            size = disk.remote.size if disk.remote else os.path.getsize(disk.path)
            if disk.remote:
                sums = disk.remote.stream_to(partial, monitor, algorithms)
            else:
                with monitor.transfer(f"copying {disk.name}", size) as advance:
                    sums = storage.copy_sparse(disk.path, partial, algorithms, advance)
            with monitor.transfer(f"verifying {name}", size) as advance:
                check = storage.checksum(partial, ("sha256",), advance)
            if check["sha256"] != sums["sha256"]:
                raise BackupMismatch(
                    f"the copy of {disk.path} does not match its source (sha256 differs)",
                    hint="check the destination storage",
                )
            os.chmod(partial, 0o600)
            os.replace(partial, final)
            written[-1] = final
            report.disks.append(
                BackedUpDisk(
                    source=disk.path,
                    file=name,
                    format=disk.format,
                    target=disk.target,
                    size=size,
                    allocated=storage.allocated(final),
                    source_allocated=_allocated(disk),
                    sha256=sums["sha256"],
                    md5=sums.get("md5"),
                    read_from_host=disk.remote.stats if disk.remote else None,
                )
            )
        _finish(report, files, written, started, source_xml)
    except BaseException:
        remove_files(written)
        raise
    return report


def keep_received(received, dest, monitor, md5=False, files=(), domain=None):
    """Make a backup of disks a stream has already written into `dest`
    (an export's, each chunk checked on the way in). `received` is a list of
    (Disk at dest/.NAME.partial, NAME, where it came from). Each disk's
    checksums are taken in one pass, for `backup --verify`; the files,
    NAME.xml naming the copies and the manifest are written as
    backup_disks writes them. On failure the partial disks are removed too."""
    started = time.monotonic()
    dest = os.path.abspath(dest)
    report = BackupReport(directory=dest)
    written = [disk.path for disk, _name, _source in received]
    algorithms = ("sha256", "md5") if md5 else ("sha256",)
    try:
        files = list(files)
        if domain is not None:
            disks, names = [d for d, _n, _s in received], [n for _d, n, _s in received]
            files.insert(0, (f"{domain.name}.xml", _domain_naming_copies(domain, disks, names)))
        for disk, name, source in received:
            final = os.path.join(dest, name)
            size = os.path.getsize(disk.path)
            with monitor.transfer(f"checksums of {name}", size) as advance:
                sums = storage.checksum(disk.path, algorithms, advance)
            os.replace(disk.path, final)
            written[written.index(disk.path)] = final
            report.disks.append(
                BackedUpDisk(
                    source=source,
                    file=name,
                    format=disk.format,
                    target=disk.target,
                    size=size,
                    allocated=storage.allocated(final),
                    source_allocated=storage.allocated(final),
                    sha256=sums["sha256"],
                    md5=sums.get("md5"),
                )
            )
        _finish(report, files, written, started, None)
    except BaseException:
        remove_files(written)
        raise
    return report


def prepare_directory(dest, names):
    """dest made (if need be) for a new backup whose files are `names`;
    refused when it holds a backup or one of them."""
    dest = os.path.abspath(dest)
    if os.path.exists(os.path.join(dest, MANIFEST)):
        raise InputError(f"{dest} already holds a backup", hint="choose an empty directory")
    os.makedirs(dest, mode=0o700, exist_ok=True)
    for name in names:
        if os.path.lexists(os.path.join(dest, name)):
            raise InputError(f"{os.path.join(dest, name)} already exists")
    return dest


def _finish(report, files, written, started, source_xml):
    """`files` and then the manifest written into the report's directory."""
    for name, content in files:
        path = os.path.join(report.directory, name)
        written.append(path)
        with os.fdopen(
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb"
        ) as f:
            f.write(content.encode() if isinstance(content, str) else content)
        if name.endswith(".xml") and not report.domain_xml:
            report.domain_xml = name
    report.seconds = time.monotonic() - started
    manifest = dict(
        report.as_dict(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), source_xml=source_xml
    )
    write_atomically(os.path.join(report.directory, MANIFEST), json.dumps(manifest, indent=1))


def opened_copies(report):
    """The disks of a backup just made, opened as the guest's disks."""
    return [
        open_disk(os.path.join(report.directory, d.file), fmt=d.format, target=d.target)
        for d in report.disks
    ]


def _allocated(disk):
    return disk.remote.allocated if disk.remote else storage.allocated(disk.path)


def _domain_naming_copies(domain, disks, names):
    """The domain's XML with each disk's source the copy's file name
    (relative: domain XML paths resolve from the XML's directory)."""
    copy = Domain.from_string(domain.to_string(), domain.path or "the domain")
    by_target = {d.target: name for d, name in zip(disks, names)}
    for d in copy.guest_disks():
        d.set_file_source(by_target[d.target])
    return copy.to_string()


def _target_names(paths):
    names, seen = [], set()
    for i, path in enumerate(paths):
        name = os.path.basename(path)
        if name in seen:
            name = f"{i}-{name}"
        seen.add(name)
        names.append(name)
    return names


def verify(dest, monitor):
    """Re-check a backup against its manifest; raise naming what differs."""
    path = os.path.join(dest, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{dest} has no readable {MANIFEST} ({e})") from None
    bad = []
    for entry in manifest.get("disks", []):
        disk = os.path.join(dest, entry["file"])
        if not os.path.isfile(disk):
            bad.append(f"{entry['file']} is missing")
            continue
        if os.path.getsize(disk) != entry["size"]:
            bad.append(f"{entry['file']} has the wrong size")
            continue
        algorithms = [a for a in ("sha256", "md5") if a in entry]
        with monitor.transfer(f"verifying {entry['file']}", entry["size"]) as advance:
            sums = storage.checksum(disk, algorithms, advance)
        for a in algorithms:
            if sums[a] != entry[a]:
                bad.append(f"{entry['file']} differs from the manifest ({a})")
                break
    if bad:
        raise BackupMismatch("backup damaged: " + "; ".join(bad))
    return manifest
