"""A stand-in Xen host for the remote-source tests: Debian's real sshd on
127.0.0.1, whose files only it can see.

sshd runs in a mount namespace of its own (`unshare --mount`) with a
tmpfs over /srv: the guest's config and images are copied there, and
block devices (loop devices, since this kernel has no device-mapper for
LVM) are reached through /srv/xen/vg0/NAME symlinks, as LVM's /dev/VG/LV
links are. Outside that namespace /srv/xen does not exist, so guestfix can
only reach the guest over ssh.

guestfix, the ssh client, runs in a mount namespace of its own too, where
/root/.ssh is this host's client directory (a key, known_hosts and a
config naming the host `xenhost`): the user's own ssh configuration,
without touching the real one.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HOST_ROOT = "/srv/xen"  # inside the host's namespace only

# Run inside the new namespace: the private /srv, the files, the loop
# devices, then sshd itself (its sessions inherit the namespace).
_START = r"""
set -e
work=$1; shift
mount --make-rprivate /
mkdir -p /srv
mount -t tmpfs -o mode=0755 guestfix-xenhost /srv
mkdir -p /srv/xen/vg0
while [ $# -gt 0 ]; do
    kind=$1 name=$2 src=$3; shift 3
    if [ "$kind" = file ]; then
        mkdir -p "$(dirname "/srv/xen/$name")"
        cp --sparse=always "$src" "/srv/xen/$name"
    else
        mkdir -p /srv/xen/.lv
        cp --sparse=always "$src" "/srv/xen/.lv/$name"
        dev=$(losetup --find --show "/srv/xen/.lv/$name")
        ln -s "$dev" "/srv/xen/vg0/$name"
        echo "$dev" >> "$work/loops"
    fi
done
# stand-ins for the host's own programs (Xen's xl), first on sshd's PATH
if [ -d /srv/xen/.bin ]; then
    chmod +x /srv/xen/.bin/*
    mount --bind /srv/xen/.bin /usr/local/bin
fi
exec /usr/sbin/sshd -D -e -f "$work/sshd_config"
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)


class XenHost:
    """start(files, block_devices) / stop(); `files` maps a path under
    /srv/xen to a local file to copy there (text given as str is
    written), `block_devices` maps a name to an image that becomes the
    block device /srv/xen/vg0/NAME. Files under .bin/ are programs of the
    host (stand-ins: this machine has no Xen), found first on its PATH."""

    def __init__(self, work):
        self.work = str(work)
        os.makedirs(self.work, mode=0o700, exist_ok=True)
        self.client_dir = os.path.join(self.work, "client-ssh")
        self.port = _free_port()
        self.proc = None
        self.loops = []

    # -- keys and configuration -------------------------------------------------
    def _configure(self):
        w = self.work
        os.makedirs(self.client_dir, mode=0o700, exist_ok=True)
        _keygen(os.path.join(w, "host_key"))
        _keygen(os.path.join(self.client_dir, "id_ed25519"))
        shutil.copy(
            os.path.join(self.client_dir, "id_ed25519.pub"), os.path.join(w, "authorized_keys")
        )
        with open(os.path.join(w, "sshd_config"), "w") as f:
            f.write(
                f"Port {self.port}\nListenAddress 127.0.0.1\n"
                f"HostKey {w}/host_key\nPidFile {w}/sshd.pid\n"
                f"AuthorizedKeysFile {w}/authorized_keys\n"
                "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                "LogLevel ERROR\n"
            )
        self.trust_host_key(os.path.join(w, "host_key.pub"))
        with open(os.path.join(self.client_dir, "config"), "w") as f:
            f.write(f"Host xenhost\n  HostName 127.0.0.1\n  Port {self.port}\n  User root\n")

    def trust_host_key(self, pub_path):
        """known_hosts of the client: the host's key (or, for the mismatch
        test, another one)."""
        with open(pub_path) as f:
            key = " ".join(f.read().split()[:2])
        with open(os.path.join(self.client_dir, "known_hosts"), "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {key}\n")

    @property
    def uri(self):
        return f"ssh://root@127.0.0.1:{self.port}"

    # -- the host ----------------------------------------------------------------
    def start(self, files=None, block_devices=None):
        self._configure()
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation
        staged = os.path.join(self.work, "staged")
        os.makedirs(staged, exist_ok=True)
        args = []
        for i, (name, src) in enumerate(sorted((files or {}).items())):
            if isinstance(src, str) and not os.path.exists(src):
                text, src = src, os.path.join(staged, f"text-{i}")
                with open(src, "w") as f:
                    f.write(text)
            args += ["file", name, str(src)]
        for name, src in sorted((block_devices or {}).items()):
            args += ["block", name, str(src)]
        self.proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                _START,
                "sh",
                self.work,
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the test sshd did not start: {self.proc.stderr.read().decode()[-2000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the test sshd did not listen")
        loops = os.path.join(self.work, "loops")
        if os.path.exists(loops):
            with open(loops) as f:
                self.loops = f.read().split()
        return self

    def _descendants(self):
        children = {}
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def kill_connections(self):
        """Drop every connection at once: sshd, each connection's sshd
        (they start sessions of their own, so a process group misses them)
        and what they run."""
        for pid in self._descendants():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # the namespace (and its tmpfs) goes once the loop devices let go
        for dev in self.loops:
            subprocess.run(["losetup", "-d", dev], capture_output=True)
        self.loops = []

    # -- the client side -----------------------------------------------------------
    def client_argv(self, argv):
        """argv run with this host's client directory as /root/.ssh, in a
        mount namespace of its own (the real /root/.ssh is not touched)."""
        home_ssh = os.path.join(os.path.expanduser("~root"), ".ssh")
        if not os.path.isdir(home_ssh):
            os.makedirs(home_ssh, mode=0o700)  # a mount point; left empty
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount --bind "$1" "$2" && shift 2 && exec "$@"',
            "sh",
            self.client_dir,
            home_ssh,
            *argv,
        ]

    def ssh(self, *remote_argv, check=True, **kw):
        """Run a command on the host (argv quoted for its shell)."""
        import shlex

        command = " ".join(shlex.quote(str(a)) for a in remote_argv)
        return subprocess.run(
            self.client_argv(["ssh", "-o", "BatchMode=yes", "xenhost", command]),
            capture_output=True,
            check=check,
            **kw,
        )

    def sha256(self, path):
        out = self.ssh("sha256sum", path).stdout.decode()
        return out.split()[0]

    def guestfix(self, *args, timeout=1800):
        """The real command line, as a user with this ssh configuration."""
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return subprocess.run(
            self.client_argv([sys.executable, "-m", "guestfix.cli", *map(str, args)]),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=repo,
        )
