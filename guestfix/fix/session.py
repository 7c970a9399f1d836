"""The single libguestfs session a guestfix run works through.

It adds the disks in the guest's order (first = xvda) with their format
stated, launches the appliance once, inspects, mounts every filesystem of the
guest in mount-point order, and gives the rest of guestfix small, safe file
and command primitives. Guest paths and guest-derived text are only ever
passed as API arguments or argv elements, never through a shell.

The libguestfs handle is private to this module: the rest of guestfix
works through the methods below (steps plan through the read-only part,
guest.GuestTree). Disk naming (appliancedisks.py) and background commands
(jobs.py) are helpers built on those same methods.
"""

import os
import time

from ..core import slots
from ..core.errors import (
    DiskLockedError,
    GuestfixError,
    ToolError,
    UnsupportedGuestError,
    first_line,
)
from ..core.runner import CommandResult
from ..disks.image import held_lock_message
from . import launchwatch, qemuprobe
from .appliancedisks import ApplianceDisks
from .jobs import BackgroundJobs

# what one pread asks for: under the daemon's message limit (4 MB)
READ_PIECE = 1 << 20


def tcg_requested(flag=False):
    """TCG (software emulation) instead of KVM: asked for by --tcg, by
    GUESTFIX_TCG=1, by libguestfs' own force_tcg setting, or forced when
    the host has no usable /dev/kvm."""
    if flag or os.environ.get("GUESTFIX_TCG") == "1":
        return True
    if "force_tcg" in os.environ.get("LIBGUESTFS_BACKEND_SETTINGS", ""):
        return True
    return not os.access("/dev/kvm", os.R_OK | os.W_OK)


def vcpus(tcg):
    """vCPUs for a libguestfs appliance or a boot check's QEMU.

    GUESTFIX_VCPUS, when set, says how many. With KVM, the host's cores up
    to 8: regenerating an initrd is the slowest thing done in the
    appliance. Under TCG every vCPU is a host thread emulating the guest
    flat out, so runs side by side oversubscribe the host: on 2 cores, two
    appliances of 2 vCPUs each took 31 s to launch and inspect, of 1 vCPU
    each 24 s (alone: 22 s and 24 s). A TCG appliance gets the cores shared
    out among the runs working at its launch (the slots' holders): a lone
    run gets them all, and its initrd rebuild and boot loader work overlap."""
    cores = os.cpu_count() or 1
    asked = os.environ.get("GUESTFIX_VCPUS")
    if asked is not None:
        if not (asked.isdigit() and 0 < int(asked) <= 64):
            raise GuestfixError(f"GUESTFIX_VCPUS={asked!r} is not a vCPU count (1 to 64)")
        return int(asked)
    if tcg:
        return max(1, cores // slots.active_runs())
    return max(1, min(cores, 8))


def _guestfs():
    try:
        import guestfs
    except ImportError:
        raise GuestfixError(
            "the libguestfs Python bindings are missing",
            hint="install python3-guestfs (make setup)",
        ) from None
    return guestfs


class GuestSession:
    """Context manager around one launched libguestfs handle.

    `drives` are Disk objects in guest order; with `readonly`, libguestfs
    puts its own throwaway overlay in front of each and the filesystems are
    mounted read-only.
    """

    def __init__(
        self,
        drives,
        readonly=True,
        tcg=False,
        monitor=None,
        memsize=None,
        smp=None,
        root=None,
        network=False,
    ):
        self.drives = list(drives)
        self.readonly = readonly
        self.tcg = tcg
        self.monitor = monitor
        self.memsize = memsize
        self.smp = smp
        self.wanted_root = root
        self.network = network
        self._g = None
        self.root = None
        self.mountpoints = {}
        self.launch_seconds = 0.0
        self._jobs = BackgroundJobs(self)
        self._disks = ApplianceDisks(self)

    # -- life cycle -------------------------------------------------------
    def __enter__(self):
        if self._g is None:
            self.open()
        return self

    def open(self):
        """Launch, inspect and mount; on any error the handle is closed."""
        try:
            self._launch()
            self._inspect_and_mount()
        except RuntimeError as e:
            self.close(clean=False)
            if held_lock_message(str(e)):
                raise DiskLockedError(
                    "a disk is in use by another process (QEMU image lock)",
                    hint="shut the guest down first",
                ) from None
            raise GuestfixError(f"libguestfs: {first_line(e)}") from None
        except BaseException:
            self.close(clean=False)
            raise
        return self

    def _launch(self):
        """A launched handle in self._g. An appliance that does not come up
        in time (launchwatch.py) is killed and started once more."""
        timeout = launchwatch.launch_timeout()
        started = time.monotonic()
        for attempt in (1, 2):
            self._g = self._new_handle()
            self._stage("launching the libguestfs appliance")
            with launchwatch.LaunchWatchdog(timeout) as watchdog:
                try:
                    self._g.launch()
                    break
                except RuntimeError:
                    if not watchdog.fired:
                        raise
            self.close(clean=False)
            if attempt == 2:
                raise ToolError(
                    f"the libguestfs appliance did not start within {timeout} s, twice",
                    hint="`libguestfs-test-tool` shows where its boot "
                    "stops; GUESTFIX_LAUNCH_TIMEOUT sets the limit",
                )
            self._stage(f"the appliance did not start within {timeout} s: starting it again")
        self.launch_seconds = time.monotonic() - started
        self._stage(f"appliance up in {self.launch_seconds:.0f}s")

    def _new_handle(self):
        g = _guestfs().GuestFS(python_return_dict=True)
        hv = g.get_hv()
        if qemuprobe.overflows(hv):
            g.close()
            raise ToolError(
                f"libguestfs would overflow a buffer with the hypervisor path {hv!r} "
                f"({len(hv)} characters; see guestfix/fix/qemuprobe.py)",
                hint="give LIBGUESTFS_HV a path of another length",
            )
        if self.tcg:
            settings = list(g.get_backend_settings())
            if "force_tcg" not in settings:
                g.set_backend_settings(settings + ["force_tcg"])
        g.set_smp(self.smp or vcpus(tcg_requested(self.tcg)))
        # room to decompress an initrd and run the guest's package tools
        g.set_memsize(self.memsize or 2048)
        # Only `fix --online` lets the guest's package tool reach its
        # repositories; otherwise nothing in the guest can touch the net.
        g.set_network(self.network)
        for d in self.drives:
            g.add_drive_opts(d.path, format=d.format, readonly=self.readonly)
        return g

    def __exit__(self, exc_type, exc, tb):
        self.close(clean=exc_type is None)
        return False

    def close(self, clean=True):
        if self._g is None:
            return
        try:
            if clean:
                self.wait_all()
                if not self.readonly:
                    # Flush the guest's filesystems before the overlays are
                    # committed; an error here must fail the run.
                    self._g.umount_all()
                    self._g.shutdown()
        finally:
            g, self._g = self._g, None
            self._jobs.forget()
            g.close()

    def _stage(self, text):
        if self.monitor:
            self.monitor.note(text)

    # -- inspection and mounting -------------------------------------------
    def _inspect_and_mount(self):
        g = self._g
        roots = g.inspect_os()
        if not roots:
            raise self._no_os_error()
        self.root = choose_root(roots, self.wanted_root)
        if g.inspect_get_type(self.root) != "linux":
            raise UnsupportedGuestError(
                f"the guest runs {g.inspect_get_type(self.root)}; guestfix converts Linux guests"
            )
        self.mountpoints = g.inspect_get_mountpoints(self.root)
        # Shortest mount point first, so /boot lands on the mounted /.
        for mp, dev in sorted(self.mountpoints.items(), key=lambda m: len(m[0])):
            try:
                # Read-only drives sit behind libguestfs' throwaway overlay, so
                # a read-write mount cannot reach the disk; tools like
                # lsinitramfs need a writable /tmp in the guest.
                g.mount(dev, mp)
            except RuntimeError as e:
                if mp == "/":
                    raise UnsupportedGuestError(
                        f"cannot mount the root filesystem: {first_line(e)}"
                    ) from None
                self._stage(f"warning: {mp} ({dev}) not mounted: {first_line(e)}")

    def _no_os_error(self):
        """Say what the disks hold instead, so the user knows why."""
        types = set(self._g.list_filesystems().values())
        # list_filesystems leaves encrypted volumes out; ask each partition
        for dev in self._g.list_partitions() + self._g.list_devices():
            try:
                types.add(self._g.vfs_type(dev))
            except RuntimeError:
                pass
        types = sorted(t for t in types if t and t != "unknown")
        if "crypto_LUKS" in types:
            return UnsupportedGuestError(
                "the disks hold LUKS-encrypted volumes and no unencrypted operating system",
                hint="guestfix cannot open encrypted roots; decrypt them or convert from "
                "inside the running guest",
            )
        found = f" (filesystems: {', '.join(types)})" if types else " (no filesystem at all)"
        return UnsupportedGuestError(f"no Linux operating system found on the disks{found}")

    def inspect(self, what):
        """One inspection fact of the root (inspect_get_WHAT: distro, arch ...)."""
        return getattr(self._g, "inspect_get_" + what)(self.root)

    # -- the disks (see appliancedisks.py) -----------------------------------
    def appliance_devices(self):
        """The guest's whole disks as libguestfs' API names them: /dev/sda is
        the first drive added. Use these names in API calls only."""
        return self._disks.api_names()

    def kernel_devices(self):
        """The guest's whole disks as the appliance's kernel names them, in
        drive order: the names programs run in the guest see (grub-install,
        grub-mkconfig)."""
        return self._disks.kernel_names()

    def list_devices(self):
        return self._g.list_devices()

    def appliance_links(self, directory):
        """{name: target} of the symlinks in a directory of the appliance
        itself (not the guest), through the daemon's `debug ll`: one call
        of some 70 ms under TCG where running the guest's `ls` and
        `readlink` took 0.9 s each. None where the daemon has no such
        command (debug is not a stable API)."""
        try:
            listing = self._g.debug("ll", [directory])
        except RuntimeError:
            return None
        links = {}
        for line in listing.splitlines():
            name, arrow, target = line.partition(" -> ")
            if arrow:
                links[name.rsplit(" ", 1)[-1]] = target.strip()
        return links

    def device_index(self, device):
        """The drive number (order added) of an API device name."""
        return self._g.device_index(device)

    def sector_size(self, device):
        return self._g.blockdev_getss(device)

    def pread_device(self, device, count, offset):
        return self._g.pread_device(device, count, offset)

    def filesystem_uuid(self, device):
        return self._g.vfs_uuid(device)

    # -- file primitives (paths are guest paths) ----------------------------
    def exists(self, path):
        return self._g.exists(path)

    def is_file(self, path):
        return self._g.is_file(path, followsymlinks=False)

    def is_dir(self, path):
        return self._g.is_dir(path, followsymlinks=False)

    def is_symlink(self, path):
        return self._g.is_symlink(path)

    def readlink(self, path):
        return self._g.readlink(path)

    def read(self, path):
        """Bytes of a regular file, or None when it does not exist.

        Read with pread, each piece in one message: read_file goes through
        libguestfs' download protocol, which under TCG took 0.15-0.2 s for
        any file against 1-3 ms (a fix reads some fifty)."""
        if not self._g.is_file(path, followsymlinks=True):
            return None
        pieces, offset = [], 0
        while True:
            piece = self._g.pread(path, READ_PIECE, offset)
            if not piece:
                return b"".join(pieces)
            pieces.append(piece)
            offset += len(piece)

    def read_text(self, path):
        """Text of a file; undecodable bytes survive a round trip."""
        data = self.read(path)
        return None if data is None else data.decode("utf-8", "surrogateescape")

    def tail(self, path, lines):
        """The last `lines` lines of a file, as a list."""
        return self._g.tail_n(lines, path)

    def write_text(self, path, text, mode=0o644):
        data = text.encode("utf-8", "surrogateescape")
        existed = self._g.is_file(path, followsymlinks=True)
        self._g.write(path, data)
        if not existed:
            self._g.chmod(mode, path)

    def chmod(self, mode, path):
        self._g.chmod(mode, path)

    def move(self, path, new_path):
        self._g.mv(path, new_path)

    def remove(self, path):
        self._g.rm_f(path)

    def copy(self, path, new_path):
        """A file copied (its contents; on FAT there is nothing else)."""
        self._g.cp(path, new_path)

    def symlink(self, target, path):
        self._g.ln_sf(target, path)

    def mkdir_p(self, path):
        self._g.mkdir_p(path)

    def make_temp_dir(self, template):
        """A new directory from a template ending in XXXXXX; its path."""
        return self._g.mkdtemp(template)

    def upload(self, host_path, path):
        self._g.upload(host_path, path)

    def copy_out(self, path, host_path):
        """A guest file copied to a host path."""
        self._g.download(path, host_path)

    def remove_tree(self, path):
        self._g.rm_rf(path)

    def sync(self):
        """Write the appliance's caches to the disks (before a program
        writes to a disk device directly)."""
        self._g.sync()

    def ls(self, path):
        if not self._g.is_dir(path, followsymlinks=True):
            return []
        return sorted(self._g.ls(path))

    def glob(self, pattern):
        return sorted(self._g.glob_expand(pattern))

    # -- commands inside the guest -------------------------------------------
    def run(self, argv):
        """Run argv inside the guest (chroot of its root, /dev /proc /sys
        bound by libguestfs). Returns a CommandResult; never raises for a
        non-zero exit, the caller decides."""
        argv = [str(a) for a in argv]
        try:
            out = self._g.command(argv)
            return CommandResult(argv, 0, out, "")
        except RuntimeError as e:
            return CommandResult(argv, 1, "", str(e))

    # -- commands in the background (see jobs.py) ---------------------------
    def start(self, argv):
        """Start argv inside the guest and return at once with a Job, so the
        appliance's other CPU can do the next steps meanwhile. Returns None
        when the guest has no /tmp for the job's status (run it normally)."""
        return self._jobs.start(argv)

    def wait(self, job, poll=0.5):
        """Wait for a started job; its CommandResult (output as stderr)."""
        return self._jobs.wait(job, poll)

    def wait_all(self):
        self._jobs.wait_all()


def choose_root(roots, wanted=None):
    """The one operating system root to work on (`wanted`: --root)."""
    if wanted:
        if wanted not in roots:
            raise UnsupportedGuestError(
                f"{wanted} is not an operating system root (found: {', '.join(roots)})"
            )
        roots = [wanted]
    if len(roots) > 1:
        raise UnsupportedGuestError(
            f"several operating systems found ({', '.join(roots)})", hint="choose one with --root"
        )
    return roots[0]
