"""The Xen host over ssh: who it is, and the constant scripts run there.

Only the user's own `ssh` client runs here, so their keys, agent,
~/.ssh/config and known_hosts apply as for any ssh command; BatchMode
makes it fail rather than ask (no password ever goes on a command line).
On the host, nothing is installed or written: the commands are POSIX sh
and coreutils (cat, dd, head, od, stat, sha1sum, tee), with util-linux's
blockdev (or /sys) for the size of a block device and GNU tar, where the
host has it, to send a sparse file without its holes.

Every remote command is one of the constant scripts below (and STREAM in
stream.py), run as `sh -c SCRIPT sh ARG...` with each word quoted for the
remote shell: a path taken from the guest's configuration reaches the
host only as an argument, never as code.
"""

import functools
import shlex
import subprocess
import urllib.parse
from dataclasses import dataclass

from ...core.errors import DiskLockedError, InputError, RemoteHostError

HEAD_BYTES = 65608  # assembly.HEADER_BYTES: enough for every magic guestfix reads
# What DESCRIBE's kinds other than file and block mean, for a message.
PROBLEMS = {
    "missing": "no such file or device on the host",
    "unreadable": "not readable on the host",
    "other": "neither a file nor a block device",
}

# One line per path: KIND SIZE ALLOCATED MTIME HEAD, HEAD being the disk's
# first bytes in hex. A block device's size comes from blockdev, or from
# /sys by its device numbers (stat reports 0 bytes for it); its node's
# mtime says nothing of its data, so it has none ("-").
DESCRIBE = r"""
for p; do
  if [ ! -e "$p" ]; then echo missing 0 0 - -; continue; fi
  if [ ! -r "$p" ]; then echo unreadable 0 0 - -; continue; fi
  if [ -b "$p" ]; then
    kind=block
    size=$(blockdev --getsize64 "$p" 2>/dev/null) || size=$((512 * $(cat \
      "/sys/dev/block/$((0x$(stat -L -c %t "$p"))):$((0x$(stat -L -c %T "$p")))/size")))
    alloc=$size mtime=-
  elif [ -f "$p" ]; then
    kind=file
    set -- $(stat -L -c '%s %b %B %Y' "$p")
    size=$1 alloc=$(($2 * $3)) mtime=$4
  else
    echo other 0 0 - -; continue
  fi
  head=$(head -c HEAD_BYTES "$p" | od -An -v -tx1 | tr -d ' \n')
  echo "$kind" "$size" "$alloc" "$mtime" "${head:--}"
done
""".replace("HEAD_BYTES", str(HEAD_BYTES))

# Serves ranges: reads "OFFSET LENGTH" lines, answers each with exactly
# LENGTH bytes of $1. A failed read ends the shell, which the reader sees
# as the end of the stream.
READER = r"""
while read -r off len; do
  dd if="$1" iflag=skip_bytes,count_bytes,fullblock bs=1M skip="$off" count="$len" \
    2>/dev/null || exit 1
done
"""

# Exit 0 when the domain runs there (xl knows a domid for it), 1 when it
# does not, 2 when the host has no xl to ask.
RUNNING = r"""
command -v xl >/dev/null 2>&1 || exit 2
xl domid "$1" >/dev/null 2>&1 || exit 1
"""

HAS_GNU_TAR = r"""tar --version 2>/dev/null | head -n 1"""

# OpenSSH's default cipher list starts with chacha20-poly1305, which runs in
# software; AES-GCM runs on the CPU's AES instructions, where it has them.
# On 2 cores over loopback, `ssh cat` of a 2 GiB block device took 9.7 s
# with the default and 5.5 s with aes128-gcm. Asked for first only where
# this CPU has AES-NI and the user's configuration leaves the ciphers at
# the default (a list of their own is theirs to keep); the host still
# agrees on the one both sides have.
AES_GCM_FIRST = "Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
DEFAULT_CIPHERS_START = "chacha20-poly1305@openssh.com,"


@dataclass(frozen=True)
class SshHost:
    """Where the Xen host is: [USER@]HOST[:PORT], from -ic."""

    host: str
    user: str = ""
    port: int = 0
    keyfile: str = ""  # libvirt's ?keyfile= on xen+ssh URIs

    @classmethod
    def from_uri(cls, uri):
        """ssh://[USER@]HOST[:PORT] (-i xl) or a libvirt URI over ssh such as
        xen+ssh://[USER@]HOST[:PORT]/ (-i libvirt); None for other URIs (a
        libvirt connection on this machine)."""
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme != "ssh" and not parts.scheme.endswith("+ssh"):
            return None  # a libvirt connection without ssh: the disks are here
        try:
            port = parts.port or 0
        except ValueError:
            raise InputError(f"-ic {uri}: the port is not a number") from None
        host = parts.hostname or ""
        if not host or host.startswith("-"):
            raise InputError(f"-ic {uri}: no host name", hint="ssh://[USER@]HOST[:PORT]")
        if parts.scheme == "ssh" and parts.path not in ("", "/"):
            raise InputError(
                f"-ic {uri}: an ssh URI names the host only; the "
                "configuration's path is the argument after it"
            )
        query = urllib.parse.parse_qs(parts.query)
        return cls(
            host=host,
            user=urllib.parse.unquote(parts.username or ""),
            port=port,
            keyfile=query.get("keyfile", [""])[0],
        )

    def __str__(self):
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}" + (f":{self.port}" if self.port else "")

    def url(self, path):
        return f"ssh://{self}{path}"

    def ssh_argv(self):
        """The ssh command up to the host. BatchMode: fail instead of asking
        for a password or an unknown host key. The keepalives turn a dead
        connection into an error within a minute instead of a hang."""
        argv = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=4",
            "-e",
            "none",
        ]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.user:
            argv += ["-l", self.user]
        if self.keyfile:
            argv += ["-i", self.keyfile]
        if _prefer_aes_gcm(tuple(argv), self.host):
            argv += ["-o", AES_GCM_FIRST]
        return argv + ["--", self.host]

    def command(self, script, *args):
        """The argv that runs `script` with `args` as $1... on the host."""
        remote = " ".join(shlex.quote(w) for w in ["sh", "-c", script, "sh", *map(str, args)])
        return self.ssh_argv() + [remote]

    def run(self, script, *args, what=""):
        """Run a script there; returns its stdout. ssh's own failures
        (exit 255) become a RemoteHostError naming the cause."""
        proc = subprocess.run(
            self.command(script, *args), capture_output=True, stdin=subprocess.DEVNULL
        )
        if proc.returncode == 255:
            raise self.connection_error(proc.stderr, what)
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RemoteHostError(
                f"{self}: {what or 'a command'} failed: "
                f"{err[-1] if err else f'exit {proc.returncode}'}"
            )
        return proc.stdout.decode("utf-8", "replace")

    def connection_error(self, stderr, what=""):
        """ssh's exit 255: say which of the usual causes it was."""
        text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
        lines = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.startswith("@@@")
        ]
        during = f" while {what}" if what else ""
        if "IDENTIFICATION HAS CHANGED" in text or "Host key verification failed" in text:
            return RemoteHostError(
                f"{self}: the host key does not match known_hosts (or is not in it); "
                "nothing was read",
                hint="check the host's key, then update ~/.ssh/known_hosts",
            )
        if "Permission denied" in text:
            return RemoteHostError(
                f"{self}: ssh could not log in{during} (no key or agent "
                "the host accepts; guestfix never asks for a password)"
            )
        return RemoteHostError(
            f"{self}: the ssh connection failed{during}: {lines[-1] if lines else 'exit 255'}"
        )

    # -- what is there ------------------------------------------------------------
    def read_file(self, path, what):
        if not path.startswith("/"):
            raise InputError(f"{path}: a path on {self} must be absolute")
        kind = self.describe([path])[0][0]
        if kind != "file":
            raise InputError(f"{self.url(path)}: {PROBLEMS.get(kind, 'not a regular file')}")
        return self.run('exec cat -- "$1"', path, what=f"reading {what} {path}")

    def describe(self, paths):
        """(kind, size, allocated, mtime or None, head bytes) of each path,
        in one round trip."""
        lines = self.run(DESCRIBE, *paths, what="looking at the disks").splitlines()
        try:
            found = []
            for _path, line in zip(paths, lines, strict=True):
                kind, size, alloc, mtime, head = line.split()
                found.append(
                    (
                        kind,
                        int(size),
                        int(alloc),
                        None if mtime == "-" else int(mtime),
                        b"" if head == "-" else bytes.fromhex(head),
                    )
                )
            return found
        except ValueError:
            raise RemoteHostError(f"{self}: no complete answer about the disks") from None

    def refuse_running(self, name):
        """A guest still running on the host would change under the copy.
        Asked of the host's xl where it has one (its libvirt refuses a
        running domain by itself)."""
        proc = subprocess.run(
            self.command(RUNNING, name), capture_output=True, stdin=subprocess.DEVNULL
        )
        if proc.returncode == 255:
            raise self.connection_error(proc.stderr, "asking xl about the guest")
        if proc.returncode == 0:
            raise DiskLockedError(
                f"{self}: the guest {name} is running there (xl domid knows it)",
                hint=f"shut it down first: xl shutdown -w {name}",
            )

    def has_gnu_tar(self):
        return "GNU tar" in self.run(HAS_GNU_TAR, what="looking for tar")


@functools.cache
def _prefer_aes_gcm(argv, host):
    """Whether to ask for AES-GCM first (see AES_GCM_FIRST): `ssh -G`
    prints the configuration ssh would use for the host, without
    connecting; an ssh that cannot is left as it is."""
    if not _cpu_has_aes():
        return False
    try:
        proc = subprocess.run(
            [*argv, "-G", "--", host],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(" ")
        if key == "ciphers":
            return proc.returncode == 0 and value.startswith(DEFAULT_CIPHERS_START)
    return False


@functools.cache
def _cpu_has_aes():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "aes" in line.split()
    except OSError:
        pass
    return False
