"""`guestfix migrate`: the whole job, never touching the originals.

A straight line of stages, each with its own entry in the report and the
log:

    source      read the domain, open the disks read-only      sources.py
                (here, or on the Xen host over ssh); with      remote.py
                --skip-migrated, a destination that records    domain/marker.py
                this source ends the run here
    slot        wait for one of this host's slots              slots.py
    read        (-i xva, -i xapi) the disks read once, out of  sources/incoming.py
                the export or off the pool, into the           xvastream.py
                destination (raw: their final place; the fix   rawpull.py
                goes on top)
    backup      (--backup) a verified copy of both; a remote   backup.py
                guest is then read from these copies
    fix         the fix, on overlays over the originals;       fixer.py
                partition images served as one disk, remote    assembly.py
                disks read over ssh range by range
    copy        overlay + original -> the destination (a       outputs.py
                remote disk: streamed once, the fix on top)
    domain      the KVM domain, with guestfix's record in its  domain/, outputs.py
                <metadata>, written (-o local) or defined
                (--dry-run: shown, and the run ends)
    boot-check  (--boot-check) boot it, wait for login         bootcheck.py

With --start-early the copy moves after the start (earlystart.py):

    overlays    the fix overlays placed by the empty volumes   outputs.py
    domain      defined on the overlays
    start       started: the downtime ends
    live-copy   libvirt's block copy into the volumes, pivot   earlystart.py
    boot-check  (--boot-check) its console watched for login

The fix runs before anything is written: the originals are only ever
backing files, and the destination receives the fixed guest in one
`qemu-img convert` per disk. Everything this run creates at the destination
is removed again if a stage fails or the run is interrupted.
"""

import contextlib
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import bootcheck
from .core import faults, slots
from .core.errors import Aborted, CopyIncomplete, GuestfixError, InputError, UsageError
from .core.faults import fault_point
from .core.signals import signals_held
from .disks import assembly
from .disks import backup as backup_mod
from .disks.image import Disk
from .domain import convert, firmware, interface, marker
from .domain.disk import merge_partition_images
from .domain.networks import NetworkMap
from .fix import run as fix_run
from .outputs import earlystart, output_for
from .sources import source_for


@dataclass
class MigrateOptions:
    input_mode: str = "libvirtxml"
    input_uri: str = ""
    input_password_file: str = ""  # -ip: -i xapi's password, its first line
    output_mode: str = "local"  # local | libvirt
    output_storage: str = ""  # -os: directory or pool name
    output_uri: str = "qemu:///system"  # -oc
    new_name: str = ""  # -on
    output_format: str = ""  # -of: raw | qcow2 (default: the source's)
    allocation: str = "sparse"  # -oa: sparse | preallocated
    network_map: NetworkMap = field(default_factory=NetworkMap)
    keep_elements: tuple = ()  # --keep-element: kinds the conversion would drop
    backup_dir: str = ""
    boot_check: bool = False
    boot_timeout: int = 600
    tcg: bool = False
    virt_type: str = "kvm"
    emulator: str = ""
    allow_backing: bool = False
    packages: object = None  # PackageSource for a missing kernel/boot loader
    start_early: bool = False  # start on the overlays, copy while it runs
    copy_bandwidth: int = 0  # MiB/s per disk for that copy (0: unlimited)
    dry_run: bool = False  # fix on throwaway overlays, write nothing
    skip_migrated: bool = False  # a destination with this run's marker: done
    max_parallel: int = 0  # slots on this host (0: slots.default_max_parallel)


@dataclass
class StageRecord:
    """One stage of a run: when it started, how long it took, whether it
    finished."""

    name: str
    started: str  # ISO 8601, UTC
    seconds: float = None
    ok: bool = False

    def as_dict(self):
        return {"name": self.name, "seconds": self.seconds, "ok": self.ok, "started": self.started}


# the stage in which a run only waits for one of the host's slots
WAITING_STAGE = "slot"


@dataclass
class MigrateReport:
    source: str
    name: str = ""
    output: str = ""
    disks: list = field(default_factory=list)
    assembled: list = field(default_factory=list)  # partition images made one disk
    host: str = ""  # the Xen host, for a remote source
    read_from_host: list = field(default_factory=list)  # per disk: bytes, seconds, MB/s
    fix_read_from_host: list = field(default_factory=list)  # per disk: what the fix read
    domain_xml: str = ""
    defined: bool = False
    stages: list = field(default_factory=list)
    fix: object = None
    boot: object = None
    # the source handed over -> the domain started (--start-early) or
    # written, ready to start (the start itself is then the user's)
    downtime_seconds: float = None
    early: dict = None  # --start-early: when each disk ran on its volume
    dry_run: bool = False
    already_migrated: dict = None  # --skip-migrated: the marker found at the destination
    slot: dict = None  # which of the host's slots, and how long the wait was
    domain_before: str = ""  # the source domain, as read (libvirt XML)
    domain_after: str = ""  # the KVM domain, as written or (--dry-run) as it would be
    dropped: list = field(default_factory=list)  # what the KVM domain does not keep
    firmware: str = ""  # BIOS, or UEFI and how it is mapped (domain/firmware.py)
    read_from_export: dict = None  # -i xva/xapi: what the one read of the disks found

    @property
    def working_seconds(self):
        """What the run took, the wait for a slot left out."""
        return round(sum(s.seconds or 0 for s in self.stages if s.name != WAITING_STAGE), 1)

    def as_dict(self):
        return {
            "source": self.source,
            "host": self.host,
            "name": self.name,
            "downtime_seconds": self.downtime_seconds,
            "early_start": self.early,
            "output": self.output,
            "disks": [d.as_dict() for d in self.disks],
            "assembled": self.assembled,
            "read_from_host": self.read_from_host,
            "fix_read_from_host": self.fix_read_from_host,
            "domain_xml": self.domain_xml,
            "defined": self.defined,
            "stages": [s.as_dict() for s in self.stages],
            "working_seconds": self.working_seconds,
            "dropped": self.dropped,
            "firmware": self.firmware,
            "read_from_export": self.read_from_export,
            "changes": [c.as_dict() for c in self.fix.changes] if self.fix else [],
            "notes": self.fix.notes if self.fix else [],
            "fix_timings": self.fix.timings if self.fix else [],
            "boot_check": self.boot.as_dict() if self.boot else None,
            "dry_run": self.dry_run,
            "already_migrated": self.already_migrated,
            "slot": self.slot,
            "domain_before": self.domain_before,
            "domain_after": self.domain_after,
        }


def _from_host(disks):
    """The images of `disks` (whole disks, or the partition images of an
    assembled one) that are read from the Xen host."""
    return [p for d in disks for p in (d.parts or [d]) if p.remote is not None]


def default_log_path(source, new_name):
    """/var/log/guestfix/NAME-TIME.log, NAME being -on or the source's."""
    stem = new_name or os.path.basename(source).rsplit(".", 1)[0] or "guest"
    return f"/var/log/guestfix/{stem}-{time.strftime('%Y%m%d-%H%M%S')}.log"


def migrate(source, opts, monitor, confirm=None, offer_online=None):
    """Run the stages; `confirm(fix_report)` is asked once the fix is
    known, before anything is written, and may return False;
    `offer_online(error)` is asked when the guest lacks a package and none
    was given (fix_run.FixOptions)."""
    return Migration(opts, monitor, confirm, offer_online).run(source)


class Migration:
    def __init__(self, opts, monitor, confirm=None, offer_online=None):
        self.opts, self.monitor, self.confirm = opts, monitor, confirm
        self.offer_online = offer_online
        self.source = source_for(
            opts.input_mode, opts.input_uri, opts.allow_backing, opts.input_password_file
        )
        self.output = output_for(opts)

    def run(self, source_arg):
        report = MigrateReport(source=source_arg, output=self.opts.output_mode)
        self.started = time.monotonic()
        self.early = None  # the EarlyState once --start-early has one
        # the host's slot, once taken, is held to the end (the clean-up included)
        with contextlib.ExitStack() as self.exit_stack:
            return self._run(source_arg, report)

    def _run(self, source_arg, report):
        try:
            self._stages(source_arg, report)
            return report
        except BaseException as e:
            if self.early is not None and self.early.started:
                # the guest runs: nothing is undone, --resume finishes
                if isinstance(e, CopyIncomplete):
                    raise
                what = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e)
                raise CopyIncomplete(earlystart.unfinished_message(report.name, what)) from None
            with signals_held():  # a second Ctrl-C must not cut the clean-up short
                self.output.undo()
                if self.early is not None:
                    for disk in self.early.disks:
                        disk.restore_backing()
                    self.early.remove()
            if isinstance(e, GuestfixError) and report.stages:
                stage = report.stages[-1].name
                raise e.__class__(
                    f"migrate failed at stage `{stage}`: {e}; the originals are "
                    "unchanged and partial outputs were removed",
                    quiet=e.quiet,
                ) from None
            raise
        finally:
            self.output.close()

    @contextlib.contextmanager
    def stage(self, report, name, title):
        """Record a stage's timing; `fault_point` lets tests kill us here."""
        entry = StageRecord(
            name=name, started=datetime.now(UTC).isoformat(timespec="milliseconds")
        )
        report.stages.append(entry)
        started = time.monotonic()
        try:
            fault_point(faults.stage(name))
            with self.monitor.stage(title):
                yield
            entry.ok = True
        finally:
            entry.seconds = round(time.monotonic() - started, 1)

    def _stages(self, source_arg, report):
        opts = self.opts
        with self.stage(report, "source", "reading the source guest"):
            guest = self.source.open(source_arg)
            if guest.incoming is not None:  # an open export, a pool session
                self.exit_stack.callback(guest.incoming.close)
                self.check_incoming(guest)
            report.name = opts.new_name or guest.name
            report.host = str(guest.host or "")
            report.domain_before = guest.xml_text
            record = marker.describe(guest, opts.input_mode, opts.input_uri)
            if opts.skip_migrated:
                report.already_migrated = self._migrated_before(report.name, record, guest)
                if report.already_migrated:
                    self.monitor.note(
                        f"{report.name} was migrated from this source on "
                        f"{report.already_migrated['migrated']}: nothing to do"
                    )
                    return
            if opts.start_early:
                self.check_early(guest)
            # with --backup, a remote guest is served from the backup's
            # local copies; anything else is checked now
            if not (guest.host and opts.backup_dir):
                assembly.check_servable(guest.layout)
            for a in guest.layout.assemblies:
                report.assembled.append(a.describe())
                self.monitor.note(f"assembled: {a.describe()}")
            fw = firmware.of(guest.domain)
            report.firmware = firmware.describe(fw)
            self.monitor.note(f"firmware: {report.firmware}")
            for device in guest.left_out:
                report.dropped.append(device)
                self.monitor.note(f"left out: {device}")
            if guest.incoming is not None:
                self.output.streamed_bytes = guest.incoming.size_bound or 0
            self.output.prepare(
                report.name,
                assembly.planned_disks(guest.layout),
                guest.devmap,
                nics=interface.mapped(guest.domain, opts.network_map),
                firmware=fw,
            )
            for note in self.output.notes:
                self.monitor.note(note)
        with self.stage(report, WAITING_STAGE, "taking one of this host's migration slots"):
            slot = self.exit_stack.enter_context(
                slots.held(opts.max_parallel, f"migrate {report.name}", self.monitor)
            )
            report.slot = slot.as_dict()
        if guest.incoming is not None and self.opts.dry_run:
            with self.stage(report, "read", "reading the disks into a temporary directory"):
                # nothing is written at the destination; the copies go with the run
                guest = self.exit_stack.enter_context(self.source.readable(guest, self.monitor))
        elif guest.incoming is not None:
            with self.stage(report, "read", f"reading {source_arg} into the destination"):
                guest = self._receive(guest, report)
        self._work(guest, record, report)

    def check_incoming(self, guest):
        """What a guest whose disks are still to come (an export's stream, a
        pool's VDIs) cannot do: they are read once, into the destination."""
        for wanted, option in (
            (self.opts.backup_dir, "--backup (guestfix backup -i ... makes one on its own)"),
            (self.opts.start_early, "--start-early"),
            # one export on standard input cannot be told from another
            (self.opts.skip_migrated and guest.origin == "-", "--skip-migrated with SOURCE -"),
        ):
            if wanted:
                raise UsageError(
                    f"-i {self.opts.input_mode} reads the disks once, into the "
                    f"destination: {option} does not apply"
                )

    def _receive(self, guest, report):
        """The disks read (out of the export, off the pool) to where the
        output keeps them (their final place when they stay raw); the guest
        read from there."""
        paths = {
            d.target: self.output.receive_path(d, guest.incoming.origin_of(d.target))
            for d in guest.disks
        }
        disks, stats = guest.incoming.read_into(paths, self.monitor, self.output.premade)
        report.read_from_export = stats.as_dict()
        self.monitor.note(stats.summary())
        received = guest.with_disks(disks)
        if received.layout.assemblies:
            # the output was prepared for whole disks
            raise InputError(
                f"{guest.origin}: disk {received.layout.assemblies[0].target} holds a bare "
                "filesystem, no partition table; guestfix migrates such a disk from an "
                "image file (guestfix backup -i ... writes it out; then -i libvirtxml)"
            )
        return received

    def _migrated_before(self, name, record, guest):
        """The destination's marker when it records this same source (then
        the migration is done), None when there is nothing there."""
        previous = self.output.previous_migration(name)
        if previous is None or not previous.same_source(record):
            return None  # prepare() refuses whatever is in the way
        # defined with its record, but maybe still running on its overlays
        earlystart.refuse_unfinished(name)
        # a block device on the Xen host has no mtime that says anything:
        # the host hashes it again (reading it there; nothing is sent)
        hashed = {d["path"] for d in previous.disks if d.get("sha1")}
        record.add_checksums(
            host_sha1_by_path={
                d.path: d.remote.fingerprint()
                for d in guest.disks
                if d.remote is not None and d.remote.mtime is None and d.path in hashed
            }
        )
        changed = previous.changed_disks(record)
        if changed:
            raise InputError(
                f"{name} was migrated from {record.source} on "
                f"{previous.migrated}, but the source's disks changed since "
                f"({', '.join(changed)})",
                hint="to migrate it again, remove the migrated guest first",
            )
        return previous.as_dict()

    def _work(self, guest, record, report):
        opts, monitor = self.opts, self.monitor
        with contextlib.ExitStack() as disks_scope:
            if opts.backup_dir:
                with self.stage(report, "backup", f"backing up to {opts.backup_dir}"):
                    kept = self.source.backup(guest, opts.backup_dir, monitor)
                    record.add_checksums(
                        {d.source: d.sha256 for d in kept.disks},
                        {d.source: (d.read_from_host or {}).get("sha1") for d in kept.disks},
                    )
                    if guest.host:
                        # verified copies of the host's disks: the fix and the
                        # copy read those, and the data crosses the network once
                        guest = guest.with_disks(backup_mod.opened_copies(kept))
                        report.read_from_host = [d.read_from_host for d in kept.disks]
            with self.stage(report, "fix", "fixing the guest (overlays over the originals)"):
                # partition images and remote disks: served until the copy is made
                kvm_disks = disks_scope.enter_context(assembly.served(guest.layout))
                fault_point(faults.SERVED)
                fixed = disks_scope.enter_context(
                    fix_run.fixed_overlays(
                        kvm_disks,
                        guest.devmap,
                        monitor,
                        fix_run.FixOptions(
                            macs=guest.domain.macs(),
                            tcg=opts.tcg,
                            packages=opts.packages,
                            boot_args=guest.domain.boot_args(),
                            xen_pv=guest.domain.is_pv,
                            firmware=firmware.of(guest.domain).kind,
                            offer_online=self.offer_online,
                        ),
                    )
                )
                report.fix = fixed.report
                report.fix_read_from_host = [p.remote.ranges_read() for p in _from_host(kvm_disks)]
                if (
                    not opts.dry_run
                    and self.confirm is not None
                    and not self.confirm(fixed.report)
                ):
                    raise Aborted("declined: nothing was written")
            if opts.dry_run:
                disk_sources = {
                    d.target: (self.output.planned_path(d), self.output.format_for(d))
                    for d in kvm_disks
                }
            elif opts.start_early:
                with self.stage(report, "overlays", "placing the fixed overlays in the pool"):
                    disk_sources = self._place_early(fixed, kvm_disks, report)
            else:
                with self.stage(report, "copy", f"copying the fixed disks ({self.output.mode})"):
                    for overlay, disk in zip(fixed.overlays, kvm_disks):
                        report.disks.append(self.output.copy_disk(overlay, disk, monitor))
                        from_host = _from_host([disk])
                        report.read_from_host += [p.remote.stats for p in from_host]
                        record.add_checksums(
                            host_sha1_by_path={
                                p.remote.url: p.remote.stats.get("sha1") for p in from_host
                            }
                        )
                    fault_point(faults.COPIED)
                disk_sources = {d.xen_target: (d.path, d.format) for d in report.disks}
        with self.stage(
            report,
            "domain",
            "writing the KVM domain"
            if not opts.dry_run
            else "the KVM domain (not written: --dry-run)",
        ):
            domain = guest.domain
            merge_partition_images(
                domain,
                {
                    a.target: [d.target for _n, d in a.parts]
                    for a in guest.layout.assemblies
                    if not a.bare
                },
            )
            report.dropped = convert.convert(
                domain,
                convert.ConvertOptions(
                    virt_type=opts.virt_type,
                    emulator=opts.emulator,
                    output_uri=self.output.emulator_uri,
                    new_name=opts.new_name,
                    network_map=opts.network_map,
                    disk_overrides=disk_sources,
                    keep_elements=opts.keep_elements,
                ),
            )
            for dropped in report.dropped:
                self.monitor.note(f"dropped: {dropped}")
            record.migrated = marker.utc_now()
            marker.stamp(domain, record)
            report.domain_after = domain.to_string()
            if opts.dry_run:
                report.dry_run = True
                return
            report.domain_xml = self.output.write_domain(report.domain_after)
            report.defined = self.output.defines
        if opts.start_early:
            self._run_early(report)
            return
        report.downtime_seconds = round(time.monotonic() - self.started, 1)
        if opts.boot_check:
            with self.stage(report, "boot-check", "boot-check of the migrated guest"):
                targets = [
                    Disk(path=d.path, format=d.format, target=d.target) for d in report.disks
                ]
                report.boot = bootcheck.boot_check(
                    targets,
                    monitor,
                    timeout=opts.boot_timeout,
                    tcg=opts.tcg,
                    macs=guest.domain.macs(),
                    firmware=firmware.of(guest.domain).kind,
                )

    # -- --start-early ------------------------------------------------------------
    def check_early(self, guest):
        """What an early start needs, checked before any work."""
        vhds = [d.path for d in guest.disks if d.converted_only]
        if vhds:
            raise UsageError(
                f"--start-early: {vhds[0]} is a VHD, which the guest cannot run on "
                "while it is copied; migrate it without --start-early"
            )
        if guest.layout.assemblies:
            raise UsageError(
                "--start-early: partition images (xen-tools) are made one disk "
                "only for the copy; migrate them without --start-early"
            )
        if guest.host and not self.opts.backup_dir:
            raise UsageError(
                "--start-early needs the disks on this host for the guest to run "
                "on: add --backup DIR (the guest then runs on the verified "
                "copies while they are copied into the pool)"
            )
        earlystart.refuse_unfinished(self.opts.new_name or guest.name)

    def _place_early(self, fixed, kvm_disks, report):
        """The fix overlays next to their empty volumes; the state that
        --resume reads is saved before the domain can start."""
        self.early = earlystart.EarlyState(
            name=report.name,
            uri=self.opts.output_uri,
            pool=self.opts.output_storage,
            bandwidth=self.opts.copy_bandwidth,
        )
        sources = {}
        for overlay, disk in zip(fixed.overlays, kvm_disks):
            early_path, entry = self.output.place_early(overlay, disk)
            report.disks.append(entry)
            sources[disk.target] = (early_path, "qcow2")
            early = earlystart.EarlyDisk(
                target=entry.target,
                overlay=early_path,
                volume=entry.path,
                format=entry.format,
                size=entry.size,
            )
            early.note_backing(os.path.abspath(disk.path))
            self.early.disks.append(early)
        self.early.save()
        return sources

    def _run_early(self, report):
        opts, monitor = self.opts, self.monitor
        with self.stage(report, "start", "starting the KVM guest on its overlays"):
            with signals_held():  # started and kept, or neither
                self.output.start()
                self.early.started = time.time()
                self.output.keep()
            self.early.save()
            report.downtime_seconds = round(time.monotonic() - self.started, 1)
            monitor.note(
                f"downtime: {report.downtime_seconds:.0f}s (the guest runs; "
                "its disks are copied now)"
            )
        watch = None
        if opts.boot_check:
            try:
                watch = earlystart.ConsoleWatch(opts.output_uri, report.name, self.early.started)
            except GuestfixError as e:  # the guest runs: its copy matters more
                monitor.note(f"boot-check: {e}")
                report.boot = bootcheck.BootResult(
                    passed=False, stage="console unreadable", seconds=0.0
                )
        try:
            with self.stage(report, "live-copy", "copying the disks while the guest runs"):
                disks = self.output.live_copy(
                    self.early,
                    monitor,
                    boot=watch,
                    boot_deadline=self.early.started + opts.boot_timeout,
                )
            report.early = {
                "bandwidth_mib_s": opts.copy_bandwidth or None,
                "disks": [
                    {"target": d.target, "volume": d.volume, "finished_seconds": d.finished}
                    for d in disks
                ],
            }
            report.domain_xml = f"{opts.output_uri} {report.name}"
            if watch is not None:
                with self.stage(report, "boot-check", "watching the console for login"):
                    watch.wait_for_login(self.early.started + opts.boot_timeout)
                    report.boot = watch.result()
        finally:
            if watch is not None:
                watch.close()
