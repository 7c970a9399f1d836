"""--start-early: the KVM guest runs while its disks are being copied.

A plain migrate copies every disk before the domain exists, so its
downtime grows with the disks. With --start-early (-o libvirt):

  1. each fix overlay (only the clusters the fix wrote; its backing file
     is the original, which QEMU opens read-only) is placed next to the
     pool volumes as NAME-vda.early.qcow2, and the empty volumes are made;
  2. the domain is defined on the overlays and started: the downtime
     ends here;
  3. libvirt's block copy (QEMU's mirror job) copies each whole chain into
     its volume while the guest runs, the guest's new writes included, and
     libvirt pivots the disk to the volume once the two are in step (with
     --boot-check the copies are held back until the login prompt shows:
     the boot is what the downtime waits for);
  4. the persistent definition names the volumes and the overlays are
     removed.

What `guestfix migrate --resume NAME` needs is in a state file
(STATE_DIR/early/NAME.json), written before the domain starts. Once the
domain runs nothing is undone: an interrupted or failed copy leaves the
guest running on its overlays (a failed copy never pivots), and --resume
takes each disk from where it is: on its overlay (copied again from the
start), in a running copy (waited for), or already on its volume (only the
clean-up is left). A domain that was shut down meanwhile is copied offline
with qemu-img.
"""

import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field

from ..disks import qemuimg
from ..bootcheck import LOGIN_RE, BootResult, stage_reached
from ..domain.define import connect, libvirt_bindings
from ..core.errors import CopyIncomplete, InputError, LibvirtError, UsageError
from ..core.faults import fault_point
from ..core.fsutil import write_atomically
from ..core.runner import run

POLL_SECONDS = 0.5


def state_path(name):
    base = os.environ.get("GUESTFIX_STATE_DIR", "/var/lib/guestfix")
    return os.path.join(base, "early", f"{name}.json")


def refuse_unfinished(name):
    """A new run for NAME while its early start is unfinished is refused."""
    if os.path.exists(state_path(name)):
        raise UsageError(f"an early start of {name} is unfinished",
                         hint=f"guestfix migrate --resume {name}")


@dataclass
class EarlyDisk:
    target: str              # the KVM name (vda)
    overlay: str             # what the guest runs on until the pivot
    volume: str              # the pool volume it is copied into
    format: str              # the volume's format
    size: int                # virtual size in bytes
    backing: str = ""        # the original (or its backup copy) under the overlay
    # its owner and mode: libvirt gives QEMU's user the whole chain while the
    # guest runs on it, and they are put back once nothing uses it
    backing_owner: list = field(default_factory=list)     # [uid, gid, mode]
    finished: float = None   # seconds after the start when it ran on its volume

    def note_backing(self, path):
        st = os.stat(path)
        self.backing, self.backing_owner = path, [st.st_uid, st.st_gid, st.st_mode & 0o7777]

    def restore_backing(self):
        if not self.backing_owner:
            return
        uid, gid, mode = self.backing_owner
        try:
            st = os.stat(self.backing)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.chown(self.backing, uid, gid)
            if st.st_mode & 0o7777 != mode:
                os.chmod(self.backing, mode)
        except FileNotFoundError:
            pass


@dataclass
class EarlyState:
    name: str
    uri: str
    pool: str
    disks: list = field(default_factory=list)
    bandwidth: int = 0       # MiB/s for each copy; 0: as fast as the host goes
    started: float = 0.0     # time.time() when the domain started; 0: not yet

    def save(self):
        path = state_path(self.name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, name):
        path = state_path(name)
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise InputError(f"no unfinished early start of {name} ({path} does not exist)",
                             hint="--resume finishes a `migrate --start-early` that did not "
                                  "complete") from None
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: unreadable ({e})") from None
        data["disks"] = [EarlyDisk(**d) for d in data.get("disks", [])]
        return cls(**data)

    def remove(self):
        try:
            os.unlink(state_path(self.name))
        except FileNotFoundError:
            pass


def unfinished_message(name, what):
    return (f"{what}: the guest {name} runs on its overlays and its disks are not all in "
            f"the pool yet; `guestfix migrate --resume {name}` finishes the copy")


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
            raise LibvirtError(f"domain {state.name} is no longer defined on {state.uri}; its "
                               "disks are the overlays " +
                               ", ".join(d.overlay for d in state.disks)) from None

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
        fault_point("early:pivoted")
        self.finish()
        return self.state.disks

    def _copy_live(self):
        pending = []
        for disk in self.state.disks:
            if self.where(disk) != "volume":
                pending.append(disk)
            elif disk.finished is None:     # pivoted just before an interruption
                disk.finished = round(time.time() - self.state.started, 1)
        for disk in pending:
            if self.where(disk) == "overlay":
                self._start_copy(disk)
        fault_point("early:copying")
        with self.monitor.transfer("copying while the guest runs",
                                   sum(d.size for d in pending)) as advance:
            done = {d.target: 0 for d in pending}
            while pending:
                if not self.dom.isActive():       # shut down meanwhile: copy offline
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
                    else:       # the job ended without reaching step: it failed
                        raise CopyIncomplete(unfinished_message(
                            self.state.name,
                            f"the copy of {disk.target} into {disk.volume} failed (QEMU's "
                            f"reason is in /var/log/libvirt/qemu/{self.state.name}.log); "
                            "nothing was pivoted"))
                time.sleep(POLL_SECONDS)

    def _booting(self):
        return self.boot is not None and self.boot.login_at is None and \
            time.time() < self.boot_deadline and self.boot.reading()

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
                    pass        # the job just ended; the loop sees how
        self.boot = None
        self.monitor.note("the guest has booted: its disks are copied at full speed"
                          if not self.state.bandwidth else
                          f"the guest has booted: its disks are copied at "
                          f"{self.state.bandwidth} MiB/s")

    def _start_copy(self, disk):
        reset_volume(disk)
        dest = ET.Element("disk", {"type": "file"})
        ET.SubElement(dest, "source", {"file": disk.volume})
        ET.SubElement(dest, "driver", {"type": disk.format})
        bandwidth = HELD_BANDWIDTH if self._booting() else self.state.bandwidth
        params = {"bandwidth": bandwidth << 20} if bandwidth else {}
        flags = (self.libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT |
                 # a persistent domain's copy: it does not outlive the QEMU process
                 self.libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB)
        try:
            self.dom.blockCopy(disk.target, ET.tostring(dest, encoding="unicode"), params, flags)
        except self.libvirt.libvirtError as e:
            raise CopyIncomplete(unfinished_message(
                self.state.name, f"libvirt did not start the copy of {disk.target}: "
                                 f"{e.get_error_message()}")) from None
        self.monitor.note(f"{disk.target}: copying into {disk.volume}")

    def _pivot(self, disk):
        try:
            self.dom.blockJobAbort(disk.target, self.libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
        except self.libvirt.libvirtError as e:
            raise CopyIncomplete(unfinished_message(
                self.state.name, f"the pivot of {disk.target} failed: "
                                 f"{e.get_error_message()}")) from None
        deadline = time.monotonic() + 60
        while self.where(disk) != "volume":
            if time.monotonic() > deadline:
                raise CopyIncomplete(unfinished_message(
                    self.state.name, f"{disk.target} did not pivot to {disk.volume}"))
            time.sleep(POLL_SECONDS)
        disk.finished = round(time.time() - self.state.started, 1)
        self.state.save()
        self.monitor.note(f"{disk.target}: runs on {disk.volume} "
                          f"({disk.finished:.0f}s after the start)")

    def _copy_offline(self):
        """The domain is shut off: the overlays are copied with qemu-img,
        and the next start uses the volumes."""
        for disk in self.state.disks:
            if self._persistent_source(disk) == disk.volume:
                continue
            qemuimg.convert(disk.overlay, "qcow2", disk.volume, disk.format, self.monitor,
                            disk.size, create=False)
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
                if source.get("file") != disk.volume or driver.get("type") != disk.format \
                        or el.find("backingStore") is not None:
                    source.attrib = {"file": disk.volume}
                    driver.set("type", disk.format)
                    for backing in el.findall("backingStore"):
                        el.remove(backing)
                    changed = True
        if changed:
            try:
                self.conn.defineXML(ET.tostring(root, encoding="unicode"))
            except self.libvirt.libvirtError as e:
                raise LibvirtError(f"libvirt refused the definition on the volumes: "
                                   f"{e.get_error_message()}") from None

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
            pass      # only the pool's listing is stale; the next refresh fixes it
        self.state.remove()


def reset_volume(disk):
    """An empty volume to copy into: QEMU's mirror skips what the source
    does not hold, so a retried copy must not find the last try's data."""
    if disk.format == "raw":
        os.truncate(disk.volume, 0)
        os.truncate(disk.volume, disk.size)
    else:
        run(["qemu-img", "create", "-q", "-f", "qcow2", disk.volume, str(disk.size)])


_event_loop_started = False


def start_event_loop(libvirt):
    """libvirt delivers console data through its event loop; one thread
    runs it for the whole process."""
    global _event_loop_started
    if _event_loop_started:
        return
    libvirt.virEventRegisterDefaultImpl()

    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, name="libvirt-events", daemon=True).start()
    _event_loop_started = True


class ConsoleWatch:
    """The running domain's serial console, read on a thread: when its
    login prompt appeared. Only read; nothing is ever typed into it."""

    def __init__(self, uri, name, started):
        libvirt = libvirt_bindings()
        start_event_loop(libvirt)
        self.started, self.text, self.login_at = started, "", None
        self.conn = connect(uri)
        try:
            dom = self.conn.lookupByName(name)
            self.stream = self.conn.newStream(0)
            dom.openConsole(None, self.stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        except libvirt.libvirtError as e:
            self.conn.close()
            raise LibvirtError(f"cannot read the console of {name}: "
                               f"{e.get_error_message()}") from None
        self._thread = threading.Thread(target=self._read, name="console", daemon=True)
        self._thread.start()

    def _read(self):
        while True:
            try:
                data = self.stream.recv(4096)
            except Exception:       # noqa: BLE001 - the stream closed under us
                return
            if not isinstance(data, bytes) or not data:
                return
            self.text += data.decode("utf-8", "replace")
            if self.login_at is None and LOGIN_RE.search(self.text.replace("\r", "")):
                self.login_at = round(time.time() - self.started, 1)

    def reading(self):
        return self._thread.is_alive()

    def wait_for_login(self, deadline):
        while self.login_at is None and time.time() < deadline and self.reading():
            time.sleep(POLL_SECONDS)
        return self.login_at

    def result(self):
        lines = [l for l in self.text.replace("\r", "").splitlines() if l.strip()]
        seen = self.login_at is not None
        return BootResult(passed=seen,
                          stage="login" if seen else stage_reached(self.text, "", False, False),
                          seconds=self.login_at or 0.0, tail="\n".join(lines[-25:]),
                          console=self.text)

    def close(self):
        try:
            self.stream.abort()
        except Exception:           # noqa: BLE001 - already closed
            pass
        self.conn.close()


def resume(name, monitor):
    """`guestfix migrate --resume NAME`: finish an early start."""
    state = EarlyState.load(name)
    conn = connect(state.uri)
    try:
        with monitor.stage(f"finishing the copy of {name}'s disks into pool {state.pool}"):
            disks = LiveCopy(state, conn, monitor).run()
    finally:
        conn.close()
    return {"name": name, "resumed": True, "output": f"{state.uri} {name}",
            "disks": [asdict(d) for d in disks]}
