"""The single libguestfs session a guestfix run works through.

It adds the disks in the guest's order (first = xvda) with their format
stated, launches the appliance once, inspects, mounts every filesystem of the
guest in mount-point order, and gives the rest of guestfix small, safe file
and command primitives. Guest paths and guest-derived text are only ever
passed as API arguments or argv elements, never through a shell.
"""

import os
import re
import time
from dataclasses import dataclass

from .errors import DiskLockedError, GuestfixError, UnsupportedGuestError, first_line
from .runner import CommandResult


def tcg_requested(flag=False):
    """TCG (software emulation) instead of KVM: asked for by --tcg, by
    GUESTFIX_TCG=1, by libguestfs' own force_tcg setting, or forced when
    the host has no usable /dev/kvm."""
    if flag or os.environ.get("GUESTFIX_TCG") == "1":
        return True
    if "force_tcg" in os.environ.get("LIBGUESTFS_BACKEND_SETTINGS", ""):
        return True
    return not os.access("/dev/kvm", os.R_OK | os.W_OK)


def _guestfs():
    try:
        import guestfs
    except ImportError:
        raise GuestfixError("the libguestfs Python bindings are missing",
                            hint="install python3-guestfs (make setup)") from None
    return guestfs


class GuestSession:
    """Context manager around one launched libguestfs handle.

    `drives` are Disk objects in guest order; with `readonly`, libguestfs
    puts its own throwaway overlay in front of each and the filesystems are
    mounted read-only.
    """

    def __init__(self, drives, readonly=True, tcg=False, monitor=None,
                 memsize=None, smp=None, root=None, network=False):
        self.drives = list(drives)
        self.readonly = readonly
        self.tcg = tcg
        self.monitor = monitor
        self.memsize = memsize
        self.smp = smp
        self.wanted_root = root
        self.network = network
        self.g = None
        self.root = None
        self.mountpoints = {}
        self.launch_seconds = 0.0
        self.jobs = []
        self._kernel_devices = None

    # -- life cycle -------------------------------------------------------
    def __enter__(self):
        if self.g is None:
            self.open()
        return self

    def open(self):
        """Launch, inspect and mount; on any error the handle is closed."""
        guestfs = _guestfs()
        g = guestfs.GuestFS(python_return_dict=True)
        self.g = g
        try:
            if self.tcg:
                settings = list(g.get_backend_settings())
                if "force_tcg" not in settings:
                    g.set_backend_settings(settings + ["force_tcg"])
            # Regenerating an initrd is the slowest thing done in the
            # appliance: give it the host's CPUs and room to decompress.
            g.set_smp(self.smp or max(1, min(os.cpu_count() or 1, 8)))
            g.set_memsize(self.memsize or 2048)
            # Only `fix --online` lets the guest's package tool reach its
            # repositories; otherwise nothing in the guest can touch the net.
            g.set_network(self.network)
            for d in self.drives:
                g.add_drive_opts(d.path, format=d.format, readonly=self.readonly)
            started = time.monotonic()
            self._stage("launching the libguestfs appliance")
            g.launch()
            self.launch_seconds = time.monotonic() - started
            self._stage(f"appliance up in {self.launch_seconds:.0f}s")
            self._inspect_and_mount()
        except RuntimeError as e:
            self.close(clean=False)
            if "lock" in str(e):
                raise DiskLockedError("a disk is in use by another process (QEMU image lock)",
                                      hint="shut the guest down first") from None
            raise GuestfixError(f"libguestfs: {first_line(e)}") from None
        except BaseException:
            self.close(clean=False)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(clean=exc_type is None)
        return False

    def close(self, clean=True):
        if self.g is None:
            return
        try:
            if clean:
                self.wait_all()
                if not self.readonly:
                    # Flush the guest's filesystems before the overlays are
                    # committed; an error here must fail the run.
                    self.g.umount_all()
                    self.g.shutdown()
        finally:
            g, self.g = self.g, None
            self.jobs = []
            g.close()

    def _stage(self, text):
        if self.monitor:
            self.monitor.note(text)

    # -- inspection and mounting -------------------------------------------
    def _inspect_and_mount(self):
        g = self.g
        roots = g.inspect_os()
        if not roots:
            raise self._no_os_error()
        if self.wanted_root:
            if self.wanted_root not in roots:
                raise UnsupportedGuestError(
                    f"{self.wanted_root} is not an operating system root "
                    f"(found: {', '.join(roots)})")
            roots = [self.wanted_root]
        if len(roots) > 1:
            raise UnsupportedGuestError(
                f"several operating systems found ({', '.join(roots)})",
                hint="choose one with --root")
        self.root = roots[0]
        if g.inspect_get_type(self.root) != "linux":
            raise UnsupportedGuestError(
                f"the guest runs {g.inspect_get_type(self.root)}; guestfix converts Linux guests")
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
                    raise UnsupportedGuestError(f"cannot mount the root filesystem: {first_line(e)}")
                self._stage(f"warning: {mp} ({dev}) not mounted: {first_line(e)}")

    def _no_os_error(self):
        """Say what the disks hold instead, so the user knows why."""
        types = set(self.g.list_filesystems().values())
        # list_filesystems leaves encrypted volumes out; ask each partition
        for dev in self.g.list_partitions() + self.g.list_devices():
            try:
                types.add(self.g.vfs_type(dev))
            except RuntimeError:
                pass
        types = sorted(t for t in types if t and t != "unknown")
        if "crypto_LUKS" in types:
            return UnsupportedGuestError(
                "the disks hold LUKS-encrypted volumes and no unencrypted operating system",
                hint="guestfix cannot open encrypted roots; decrypt them or convert from "
                     "inside the running guest")
        found = f" (filesystems: {', '.join(types)})" if types else " (no filesystem at all)"
        return UnsupportedGuestError(f"no Linux operating system found on the disks{found}")

    # -- appliance facts -----------------------------------------------------
    def appliance_devices(self):
        """The guest's whole disks as libguestfs' API names them: /dev/sda is
        the first drive added. Use these names in API calls only."""
        return self.g.list_devices()

    def kernel_devices(self):
        """The guest's whole disks as the appliance's kernel names them, in
        drive order: the names programs run in the guest see (grub-install,
        grub-mkconfig).

        These differ from the API's names when the kernel probes the SCSI
        disks out of order, as it can with several CPUs: the API's /dev/sda
        (libguestfs translates it) is then the kernel's /dev/sdb, and the
        kernel's /dev/sda is the appliance's own ext2 disk. grub-install
        given that name fails with "embedding is not possible ... cross-disk
        install". Drive N is SCSI target N; its /dev/disk/by-path link
        gives the kernel's name. Without such links, the API's names."""
        if self._kernel_devices is None:
            api_names = self.appliance_devices()
            self._kernel_devices = api_names
            listing = self.run(["ls", "-1", "/dev/disk/by-path"])
            targets = {}
            for link in listing.stdout.split():
                m = re.search(r"-scsi-\d+:\d+:(\d+):0$", link)
                if m:
                    targets[int(m.group(1))] = link
            names = []
            for api_name in api_names:
                link = targets.get(self.g.device_index(api_name))
                resolved = self.run(["readlink", "-f", f"/dev/disk/by-path/{link}"]) if link \
                    else None
                if not (resolved and resolved.ok and resolved.stdout.startswith("/dev/")):
                    return self._kernel_devices
                names.append(resolved.stdout.strip())
            self._kernel_devices = names
        return self._kernel_devices

    def inspect(self, what):
        return getattr(self.g, "inspect_get_" + what)(self.root)

    # -- file primitives (paths are guest paths) ----------------------------
    def exists(self, path):
        return self.g.exists(path)

    def is_file(self, path):
        return self.g.is_file(path, followsymlinks=False)

    def is_dir(self, path):
        return self.g.is_dir(path, followsymlinks=False)

    def is_symlink(self, path):
        return self.g.is_symlink(path)

    def readlink(self, path):
        return self.g.readlink(path)

    def read(self, path):
        """Bytes of a regular file, or None when it does not exist."""
        if not self.g.is_file(path, followsymlinks=True):
            return None
        return self.g.read_file(path)

    def read_text(self, path):
        """Text of a file; undecodable bytes survive a round trip."""
        data = self.read(path)
        return None if data is None else data.decode("utf-8", "surrogateescape")

    def write_text(self, path, text, mode=0o644):
        data = text.encode("utf-8", "surrogateescape")
        existed = self.g.is_file(path, followsymlinks=True)
        self.g.write(path, data)
        if not existed:
            self.g.chmod(mode, path)

    def remove(self, path):
        self.g.rm_f(path)

    def symlink(self, target, path):
        self.g.ln_sf(target, path)

    def mkdir_p(self, path):
        self.g.mkdir_p(path)

    def upload(self, host_path, path):
        self.g.upload(host_path, path)

    def remove_tree(self, path):
        self.g.rm_rf(path)

    def ls(self, path):
        if not self.g.is_dir(path, followsymlinks=True):
            return []
        return sorted(self.g.ls(path))

    def glob(self, pattern):
        return sorted(self.g.glob_expand(pattern))

    def pread_device(self, device, count, offset):
        return self.g.pread_device(device, count, offset)

    # -- commands inside the guest -------------------------------------------
    def run(self, argv):
        """Run argv inside the guest (chroot of its root, /dev /proc /sys
        bound by libguestfs). Returns a CommandResult; never raises for a
        non-zero exit, the caller decides."""
        argv = [str(a) for a in argv]
        try:
            out = self.g.command(argv)
            return CommandResult(argv, 0, out, "")
        except RuntimeError as e:
            return CommandResult(argv, 1, "", str(e))


    # -- commands in the background ----------------------------------------
    def start(self, argv):
        """Start argv inside the guest and return at once with a Job, so the
        appliance's other CPU can do the next steps meanwhile. Returns None
        when the guest has no /tmp for the job's status (run it normally)."""
        base = next((d for d in ("/tmp", "/var/tmp") if self.is_dir(d)), None)
        if base is None:
            return None
        job = Job(argv=[str(a) for a in argv], directory=self.g.mkdtemp(f"{base}/guestfix-XXXXXX"))
        self.g.command(["sh", "-c", BACKGROUND_SCRIPT, "guestfix-job", job.directory]
                       + job.argv)
        self.jobs.append(job)
        return job

    def wait(self, job, poll=0.5):
        """Wait for a started job; its CommandResult (output as stderr)."""
        status = f"{job.directory}/status"
        while not self.g.exists(status):
            time.sleep(poll)
        code = int(self.g.cat(status).strip() or 1)
        # the end of the output is what an error message needs; all of it
        # could exceed what one libguestfs message carries
        output = "\n".join(self.g.tail_n(40, f"{job.directory}/output"))
        self.g.rm_rf(job.directory)
        self.jobs.remove(job)
        return CommandResult(job.argv, code, output if code == 0 else "", output)

    def wait_all(self):
        for job in list(self.jobs):
            self.wait(job)


# The shell sees only this constant text; the directory and the job's argv
# (which may hold guest-derived words such as a kernel version) arrive as
# positional parameters and are never parsed as shell code.
#
# libguestfs bind-mounts /dev, /proc and /sys into the guest for each
# command and unmounts them when the command returns. The descriptors
# opened first, inherited by the job, keep those mounts busy so they stay
# while the job runs; `umount_all` at the end removes them.
BACKGROUND_SCRIPT = (
    'dir=$1; shift\n'
    'exec 7</dev/null 8</proc/self/stat 9</sys/kernel/uevent_seqnum\n'
    '( "$@" >"$dir/output" 2>&1; echo $? >"$dir/status.new"; mv "$dir/status.new" "$dir/status" )'
    ' </dev/null >/dev/null 2>&1 &\n')


@dataclass
class Job:
    argv: list
    directory: str
