"""Xen partition images and bare filesystems -> partitioned virtio disks.

xen-tools gives a guest one image per partition: disk.img exported as
xvda2 (root), swap.img as xvda1 (with --partitions, up to xvda8), none
with a partition table. On KVM a BIOS guest boots from a disk that has a
partition table and room for boot code, so migrate makes one: the images
that share a Xen disk (xvda1 + xvda2 ...) become one virtio disk whose
partition numbers are the ones the guest already uses (/dev/xvdaN ->
/dev/vdaN; tablewriter.py decides MBR or GPT). A first disk holding a bare
filesystem (ext4 directly on xvda) becomes partition 1 of a new disk, and
the guest's references to /dev/xvda become /dev/vda1.

The assembled disk is served by nbdkit, read-only, over a private Unix
socket: the python plugin nbd_pieces_plugin.py reads the table guestfix
wrote and each image, here (a file or a block device) or on the Xen host
over ssh, range by range. Why serve it rather than write each image at
its offset in the destination: the assembled disk exists before anything
is written, so the fix runs on a qcow2 overlay over it exactly as on any
other disk (the boot code GRUB installs lands in that overlay), and the
copy reads partition table, images and fix in a single pass. An image on
the Xen host is streamed once into the new disk at its offset
(outputs.py), as a whole remote disk is.

`served` also serves the plain disks of a remote Xen host (remote.py), as
a disk of one remote piece: QEMU reads them like any NBD disk, and the fix
reads over ssh only the ranges it needs.
"""

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from ..core.devnames import DeviceMap, is_partition_target
from ..core.errors import GuestfixError, InputError, RemoteHostError, ToolError, first_line
from . import tablewriter
from .image import Disk, create_overlay

PIECES_PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nbd_pieces_plugin.py")


@dataclass
class Assembly:
    """One virtio disk made of Xen partition images (or one bare filesystem)."""

    target: str  # the Xen whole-disk name: xvda
    parts: list  # [(partition number, Disk)], ascending
    bare: bool = False  # a whole disk's bare filesystem as partition 1
    _table: object = None

    @property
    def table(self):
        """Where each image goes and the partition table (tablewriter.DiskLayout)."""
        if self._table is None:
            self._table = tablewriter.plan(
                [(n, "swap" if is_swap(d) else "linux", d.virtual_size, d) for n, d in self.parts]
            )
        return self._table

    def describe(self):
        if self.bare:
            return f"{self.target} (a bare filesystem) -> partition 1"
        return " + ".join(f"{d.target}" for _n, d in self.parts) + f" -> one disk {self.target}"


@dataclass
class Layout:
    """The guest's disks as KVM will have them, in the guest's order: each
    entry a Disk kept as it is or an Assembly of several."""

    entries: list = field(default_factory=list)

    @property
    def assemblies(self):
        return [e for e in self.entries if isinstance(e, Assembly)]

    @property
    def targets(self):
        return [e.target for e in self.entries]

    def aliases(self):
        """Reference renames the device map applies first: /dev/xvda of a
        bare filesystem is partition 1 of the new disk."""
        return {a.target: f"{a.target}1" for a in self.assemblies if a.bare}


def _split_target(target):
    m = re.fullmatch(r"([a-z]+?)(\d+)", target)
    return m.group(1), int(m.group(2))


# Superblock magics of the filesystems a Xen guest's root may use:
# (offset, bytes). ext2/3/4 at 1024+56, XFS at 0, btrfs at 64 KiB + 64.
FILESYSTEM_MAGICS = [
    (1080, b"\x53\xef", "ext"),
    (0, b"XFSB", "xfs"),
    (65600, b"_BHRfS_M", "btrfs"),
    (0x8001, b"CD001", "iso9660"),
]
HEADER_BYTES = 65600 + 8


def read_head(disk, length=HEADER_BYTES):
    """The first bytes the guest sees on `disk` (through qcow2 if need be)."""
    if disk.remote is not None and disk.format == "raw":
        return disk.remote.head[:length]  # read when the host was first asked
    if disk.format == "raw":
        with open(disk.path, "rb") as f:
            return f.read(length)
    with tempfile.TemporaryDirectory(prefix="guestfix-head-") as tmp:
        out = os.path.join(tmp, "head")
        # a json: filename names its driver itself
        fmt_args = [] if disk.qemu_name else ["-f", disk.format]
        result = subprocess.run(
            [
                "qemu-img",
                "dd",
                *fmt_args,
                "-O",
                "raw",
                "bs=512",
                f"count={(length + 511) // 512}",
                f"if={disk.qemu_path}",
                f"of={out}",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ToolError(
                f"{disk.path}: cannot read its first sectors: "
                f"{(result.stderr.strip().splitlines() or ['?'])[-1]}"
            )
        with open(out, "rb") as f:
            return f.read(length)


def bare_filesystem(head):
    """The kind of filesystem that starts at byte 0 of a disk, or "" (a
    partition table, swap, LVM or nothing known)."""
    for offset, magic, kind in FILESYSTEM_MAGICS:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return ""


def plan(disks):
    """The Layout of `disks` (Disk objects in the guest's order, each with
    its Xen target). Partition images are grouped by their disk; the first
    whole disk is checked for a bare filesystem (later ones, data disks
    mounted as /dev/xvdb, work on virtio as they are)."""
    groups, entries = {}, []
    whole = {d.target for d in disks if not is_partition_target(d.target)}
    for disk in disks:
        if not is_partition_target(disk.target):
            entries.append(disk)
            continue
        base, number = _split_target(disk.target)
        if base in whole:
            raise InputError(
                f"the domain has both the disk {base} and its partition {disk.target} as disks"
            )
        if base not in groups:
            groups[base] = Assembly(target=base, parts=[])
            entries.append(groups[base])
        if any(n == number for n, _d in groups[base].parts):
            raise InputError(f"two disks are exported as {disk.target}")
        groups[base].parts.append((number, disk))
    for a in groups.values():
        a.parts.sort(key=lambda p: p[0])
        if a.parts[-1][0] > tablewriter.GPT_ENTRIES:
            raise InputError(
                f"partition image {a.target}{a.parts[-1][0]}: a partition table "
                f"holds partitions 1 to {tablewriter.GPT_ENTRIES}"
            )
    if entries and isinstance(entries[0], Disk) and bare_filesystem(read_head(entries[0])):
        first = entries[0]
        entries[0] = Assembly(target=first.target, parts=[(1, first)], bare=True)
    return Layout(entries)


def planned_disks(layout):
    """The disks KVM will get, before anything is served: what an output
    needs to name and size them (an Assembly as a Disk with no path yet)."""
    return [
        Disk(
            path="",
            format="raw",
            target=e.target,
            virtual_size=e.table.size,
            parts=tuple(d for _n, d in e.parts),
            table=e.table,
        )
        if isinstance(e, Assembly)
        else e
        for e in layout.entries
    ]


def check_servable(layout):
    """Refuse what the partitioning plugin cannot serve, before any work."""
    for assembly in layout.assemblies:
        _check_servable(assembly)


def _check_servable(assembly):
    for _number, disk in assembly.parts:
        if disk.format != "raw":
            what = "bare filesystem" if assembly.bare else "partition image"
            raise InputError(
                f"{disk.path}: the {what} {disk.target} is {disk.format}; "
                "guestfix assembles raw images",
                hint=f"qemu-img convert -f {disk.format} -O raw {disk.path} NEW.img, "
                "and name NEW.img in the domain",
            )


def is_swap(disk):
    """A Linux swap signature at the end of the first page."""
    try:
        head = read_head(disk, 4096)
    except (OSError, ToolError):
        return False
    return head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE")


def _piece(disk, offset, length, reads_log):
    """A layout piece reading `disk` (a local path, or over ssh)."""
    if disk.remote is not None:
        disk.remote.reads_log = reads_log
        return {
            "offset": offset,
            "length": length,
            "command": disk.remote.reader_command(),
            "reads": reads_log,
        }
    return {"offset": offset, "length": length, "path": disk.path}


def _pieces(entry, workdir, name):
    """The plugin's layout of an entry: an Assembly's table and images, or
    a remote disk as one piece."""
    if not isinstance(entry, Assembly):
        return {
            "size": entry.virtual_size,
            "pieces": [_piece(entry, 0, entry.virtual_size, f"{workdir}/{name}.reads")],
        }
    table = entry.table
    pieces = []
    for at, data, label in (
        (0, table.head, "head"),
        (table.size - len(table.tail), table.tail, "tail"),
    ):
        if data:
            path = os.path.join(workdir, f"{name}.{label}")
            with open(path, "wb") as f:
                f.write(data)
            pieces.append({"offset": at, "length": len(data), "path": path})
    for slot in table.filled():
        pieces.append(
            _piece(slot.source, slot.offset, slot.length, f"{workdir}/{name}-{slot.number}.reads")
        )
    return {"size": table.size, "pieces": pieces}


@contextlib.contextmanager
def served(layout, startup_timeout=30):
    """Serve, read-only, what QEMU cannot open as a plain image: every
    Assembly of `layout` and every disk on a remote host, through
    nbd_pieces_plugin.py. Yields the disks the fix and copy work on, in
    the guest's order; local image files are passed through. The servers
    stop when the block ends, and with this process if it is killed."""
    if not any(isinstance(e, Assembly) or e.remote is not None for e in layout.entries):
        yield list(layout.entries)
        return
    check_servable(layout)
    if not shutil.which("nbdkit"):
        raise ToolError(
            "nbdkit is not installed; it serves partition images as one disk "
            "and disks read over ssh",
            hint="run `make setup`",
        )
    workdir = tempfile.mkdtemp(prefix="guestfix-nbd-")
    procs = []

    def serve(name, entry, what):
        sock = os.path.join(workdir, f"{name}.sock")
        pidfile = os.path.join(workdir, f"{name}.pid")
        layout_file = os.path.join(workdir, f"{name}.json")
        with open(layout_file, "w") as f:
            json.dump(_pieces(entry, workdir, name), f)
        argv = [
            "nbdkit",
            "--exit-with-parent",
            "--foreground",
            "--readonly",
            "--unix",
            sock,
            "--pidfile",
            pidfile,
            "python",
            PIECES_PLUGIN,
            f"layout={layout_file}",
        ]
        # its messages go to a file: a pipe nobody reads could fill and stall it
        log_path = os.path.join(workdir, f"{name}.log")
        with open(log_path, "wb") as log:
            procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log))
        _wait_ready(procs[-1], pidfile, log_path, startup_timeout, what)
        return f"nbd+unix:///?socket={sock}"

    try:
        disks = []
        for i, entry in enumerate(layout.entries):
            if isinstance(entry, Assembly):
                uri = serve(f"disk{i}", entry, f"assemble {entry.describe()}")
                disks.append(
                    Disk(
                        path=uri,
                        format="raw",
                        target=entry.target,
                        virtual_size=entry.table.size,
                        parts=tuple(d for _n, d in entry.parts),
                        table=entry.table,
                    )
                )
            elif entry.remote is not None:
                uri = serve(f"disk{i}", entry, f"serve {entry.path}")
                disks.append(dataclasses.replace(entry, path=uri))
            else:
                disks.append(entry)
        try:
            yield disks
        except GuestfixError as e:
            # a read error of the fix (or inspect) whose cause is the ssh
            # connection: say that, not what libguestfs made of it
            lost = _lost_remote(layout, workdir)
            if lost:
                raise RemoteHostError(
                    f"{lost.remote.host}: the connection was lost while "
                    f"{lost.remote.path} was read ({first_line(e)})"
                ) from None
            raise
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _lost_remote(layout, workdir):
    """The remote disk (or partition image) whose server logged a lost
    connection, if any."""
    for i, entry in enumerate(layout.entries):
        disks = [d for _n, d in entry.parts] if isinstance(entry, Assembly) else [entry]
        remote = [d for d in disks if d.remote is not None]
        if not remote:
            continue
        try:
            with open(os.path.join(workdir, f"disk{i}.log"), errors="replace") as log:
                if "connection to the host was lost" in log.read():
                    return remote[0]
        except OSError:
            pass
    return None


def _wait_ready(proc, pidfile, log_path, timeout, what):
    """nbdkit writes its pidfile once it accepts connections."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(pidfile):
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as log:
                err = log.read().strip().splitlines()
            raise ToolError(
                f"nbdkit could not {what}: {err[-1] if err else f'exit {proc.returncode}'}"
            )
        if time.monotonic() > deadline:
            raise ToolError(f"nbdkit did not start within {timeout} s")
        time.sleep(0.05)


@contextlib.contextmanager
def readable(disks):
    """For read-only consumers (inspect): `disks` as KVM will have them,
    each served disk (assembled, or on a remote host) behind a throwaway
    qcow2 overlay, which libguestfs opens like any image file. Yields
    (disks, device map)."""
    layout = plan(disks)
    with served(layout) as kvm_disks:
        workdir = tempfile.mkdtemp(prefix="guestfix-nbd-ro-")
        try:
            shown = []
            for d in kvm_disks:
                # libguestfs opens a file by its name and format alone: a VHD
                # that needs its size option is opened through an overlay too
                if d.parts or d.remote is not None or d.qemu_name:
                    overlay = create_overlay(d, os.path.join(workdir, f"{d.target}.qcow2"))
                    overlay.parts, overlay.remote = d.parts, d.remote  # for reports
                    d = overlay
                shown.append(d)
            yield shown, DeviceMap(layout.targets, layout.aliases())
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
