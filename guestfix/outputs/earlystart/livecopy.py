"""The copy of a running early-started domain's disks into its volumes:
libvirt's block copy, held back while the guest boots, then the pivot; or
qemu-img, when the domain was shut down meanwhile."""

import os
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict

from ...core import faults
from ...core.errors import CopyIncomplete, LibvirtError
from ...core.faults import fault_point
from ...core.runner import run
from ...disks import qemuimg
from ...domain.define import connect, libvirt_bindings
from .state import EarlyState, unfinished_message

POLL_SECONDS = 0.5


# While the guest boots its copies are held to this (MiB/s): the boot's own
# reads compete with them for the same disks and CPUs, and the boot is what
# the downtime waits for.
HELD_BANDWIDTH = 1


class LiveCopy:
    """The copies of a running early-started domain into its volumes.

    With `boot` (a ConsoleWatch, from --boot-check) the copies are held back
    until the login prompt shows or `boot_deadline` (time.time()) passes."""

    def __init__(self, state, conn, monitor, boot=None, boot_deadline=0.0):
        self.libvirt = libvirt_bindings()
        self.state, self.conn, self.monitor = state, conn, monitor
        self.boot, self.boot_deadline = boot, boot_deadline
        try:
            self.dom = conn.lookupByName(state.name)
        except self.libvirt.libvirtError:
            raise LibvirtError(
                f"domain {state.name} is no longer defined on {state.uri}; its "
                "disks are the overlays " + ", ".join(d.overlay for d in state.disks)
            ) from None

    def _disk_element(self, disk, flags=0):
        for el in ET.fromstring(self.dom.XMLDesc(flags)).findall("./devices/disk"):
            target = el.find("target")
            if target is not None and target.get("dev") == disk.target:
                return el
        raise LibvirtError(f"domain {self.state.name} has no disk {disk.target}")

    def where(self, disk):
        """'volume', 'ready' (copy in step), 'copying', or 'overlay'."""
        el = self._disk_element(disk)
        source = el.find("source")
        if source is not None and source.get("file") == disk.volume:
            return "volume"
        mirror = el.find("mirror")
        if mirror is not None:
            return "ready" if mirror.get("ready") == "yes" else "copying"
        return "overlay"

    def run(self):
        """Copy every disk not yet on its volume, pivot, clean up; returns
        the disks with the seconds (after the start) each finished at."""
        if not self.dom.isActive():
            self._copy_offline()
        else:
            self._copy_live()
        fault_point(faults.EARLY_PIVOTED)
        self.finish()
        return self.state.disks

    def _copy_live(self):
        pending = []
        for disk in self.state.disks:
            if self.where(disk) != "volume":
                pending.append(disk)
            elif disk.finished is None:  # pivoted just before an interruption
                disk.finished = round(time.time() - self.state.started, 1)
        for disk in pending:
            if self.where(disk) == "overlay":
                self._start_copy(disk)
        fault_point(faults.EARLY_COPYING)
        with self.monitor.transfer(
            "copying while the guest runs", sum(d.size for d in pending)
        ) as advance:
            done = {d.target: 0 for d in pending}
            while pending:
                if not self.dom.isActive():  # shut down meanwhile: copy offline
                    self._copy_offline()
                    return
                if self.boot is not None:
                    self._release_after_boot(pending)
                for disk in list(pending):
                    state = self.where(disk)
                    if state == "copying":
                        info = self.dom.blockJobInfo(disk.target, 0) or {}
                        cur = min(info.get("cur", 0), disk.size)
                        advance(max(0, cur - done[disk.target]))
                        done[disk.target] = max(cur, done[disk.target])
                    elif state == "ready":
                        self._pivot(disk)
                        advance(disk.size - done[disk.target])
                        pending.remove(disk)
                    elif state == "volume":
                        pending.remove(disk)
                    else:  # the job ended without reaching step: it failed
                        raise CopyIncomplete(
                            unfinished_message(
                                self.state.name,
                                f"the copy of {disk.target} into {disk.volume} failed (QEMU's "
                                f"reason is in /var/log/libvirt/qemu/{self.state.name}.log); "
                                "nothing was pivoted",
                            )
                        )
                time.sleep(POLL_SECONDS)

    def _booting(self):
        return (
            self.boot is not None
            and self.boot.login_at is None
            and time.time() < self.boot_deadline
            and self.boot.reading()
        )

    def _release_after_boot(self, pending):
        """Once the guest has booted, its copies go at --copy-bandwidth
        (or as fast as the host goes)."""
        if self._booting():
            return
        for disk in pending:
            if self.where(disk) in ("copying", "ready"):
                try:
                    self.dom.blockJobSetSpeed(disk.target, self.state.bandwidth, 0)
                except self.libvirt.libvirtError:
                    pass  # the job just ended; the loop sees how
        self.boot = None
        self.monitor.note(
            "the guest has booted: its disks are copied at full speed"
            if not self.state.bandwidth
            else f"the guest has booted: its disks are copied at {self.state.bandwidth} MiB/s"
        )

    def _start_copy(self, disk):
        reset_volume(disk)
        dest = ET.Element("disk", {"type": "file"})
        ET.SubElement(dest, "source", {"file": disk.volume})
        ET.SubElement(dest, "driver", {"type": disk.format})
        bandwidth = HELD_BANDWIDTH if self._booting() else self.state.bandwidth
        params = {"bandwidth": bandwidth << 20} if bandwidth else {}
        flags = (
            self.libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
            |
            # a persistent domain's copy: it does not outlive the QEMU process
            self.libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB
        )
        try:
            self.dom.blockCopy(disk.target, ET.tostring(dest, encoding="unicode"), params, flags)
        except self.libvirt.libvirtError as e:
            raise CopyIncomplete(
                unfinished_message(
                    self.state.name,
                    f"libvirt did not start the copy of {disk.target}: {e.get_error_message()}",
                )
            ) from None
        self.monitor.note(f"{disk.target}: copying into {disk.volume}")

    def _pivot(self, disk):
        try:
            self.dom.blockJobAbort(disk.target, self.libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
        except self.libvirt.libvirtError as e:
            raise CopyIncomplete(
                unfinished_message(
                    self.state.name, f"the pivot of {disk.target} failed: {e.get_error_message()}"
                )
            ) from None
        deadline = time.monotonic() + 60
        while self.where(disk) != "volume":
            if time.monotonic() > deadline:
                raise CopyIncomplete(
                    unfinished_message(
                        self.state.name, f"{disk.target} did not pivot to {disk.volume}"
                    )
                )
            time.sleep(POLL_SECONDS)
        disk.finished = round(time.time() - self.state.started, 1)
        self.state.save()
        self.monitor.note(
            f"{disk.target}: runs on {disk.volume} ({disk.finished:.0f}s after the start)"
        )

    def _copy_offline(self):
        """The domain is shut off: the overlays are copied with qemu-img,
        and the next start uses the volumes."""
        for disk in self.state.disks:
            if self._persistent_source(disk) == disk.volume:
                continue
            qemuimg.convert(
                disk.overlay,
                "qcow2",
                disk.volume,
                disk.format,
                self.monitor,
                disk.size,
                create=False,
            )
            disk.finished = round(time.time() - self.state.started, 1)
            self._point_at_volumes()
            self.state.save()

    def _persistent_source(self, disk):
        el = self._disk_element(disk, self.libvirt.VIR_DOMAIN_XML_INACTIVE)
        source = el.find("source")
        return source.get("file") if source is not None else ""

    def _point_at_volumes(self):
        """The persistent definition names the volumes of the disks that
        finished (libvirt updates it on a pivot; this covers the rest)."""
        root = ET.fromstring(self.dom.XMLDesc(self.libvirt.VIR_DOMAIN_XML_INACTIVE))
        changed = False
        for disk in self.state.disks:
            if disk.finished is None:
                continue
            for el in root.findall("./devices/disk"):
                target = el.find("target")
                if target is None or target.get("dev") != disk.target:
                    continue
                source, driver = el.find("source"), el.find("driver")
                if (
                    source.get("file") != disk.volume
                    or driver.get("type") != disk.format
                    or el.find("backingStore") is not None
                ):
                    source.attrib = {"file": disk.volume}
                    driver.set("type", disk.format)
                    for backing in el.findall("backingStore"):
                        el.remove(backing)
                    changed = True
        if changed:
            try:
                self.conn.defineXML(ET.tostring(root, encoding="unicode"))
            except self.libvirt.libvirtError as e:
                raise LibvirtError(
                    f"libvirt refused the definition on the volumes: {e.get_error_message()}"
                ) from None

    def finish(self):
        self._point_at_volumes()
        for disk in self.state.disks:
            try:
                os.unlink(disk.overlay)
            except FileNotFoundError:
                pass
            disk.restore_backing()
        try:
            self.conn.storagePoolLookupByName(self.state.pool).refresh(0)
        except self.libvirt.libvirtError:
            pass  # only the pool's listing is stale; the next refresh fixes it
        self.state.remove()


def reset_volume(disk):
    """An empty volume to copy into: QEMU's mirror skips what the source
    does not hold, so a retried copy must not find the last try's data."""
    if disk.format == "raw":
        os.truncate(disk.volume, 0)
        os.truncate(disk.volume, disk.size)
    else:
        run(["qemu-img", "create", "-q", "-f", "qcow2", disk.volume, str(disk.size)])


def resume(name, monitor):
    """`guestfix migrate --resume NAME`: finish an early start."""
    state = EarlyState.load(name)
    conn = connect(state.uri)
    try:
        with monitor.stage(f"finishing the copy of {name}'s disks into pool {state.pool}"):
            disks = LiveCopy(state, conn, monitor).run()
    finally:
        conn.close()
    return {
        "name": name,
        "resumed": True,
        "output": f"{state.uri} {name}",
        "disks": [asdict(d) for d in disks],
    }
