"""Reading a serial console: how far the boot got, the login prompt, and
the probe's report (probe.py)."""

import re
from dataclasses import asdict, dataclass, field

from .probe import MARK

# agetty's prompt starts a line; other output (the probe) may follow it on
# the same line, since the prompt does not end with a newline.
LOGIN_RE = re.compile(r"^(?:[\w.-]+ )?login: ?", re.M)
STAGE_PATTERNS = [
    # (stage reached, pattern in the serial console), most advanced first
    ("userspace", re.compile(r"Welcome to .*!|systemd\[1\]|Reached target|Started .*")),
    (
        "root mount",
        re.compile(
            r"ALERT!|Gave up waiting for root|Dropping to a shell|"
            r"\(initramfs\)|VFS: Unable to mount root|"
            r"You are in emergency mode"
        ),
    ),
    ("initrd", re.compile(r"Loading, please wait|Run /init as init process|Begin: ")),
    ("kernel", re.compile(r"Linux version \d|Booting paravirtualized kernel|Kernel command line")),
    ("boot loader", re.compile(r"GNU GRUB|Welcome to GRUB|Loading Linux|error: ")),
]
OVMF_NOTHING_RE = re.compile(
    r"No bootable option or device was found|UEFI Interactive Shell|^Shell> ", re.M
)
# Seen in the console: nothing more will happen, stop waiting.
DEAD_END_RE = re.compile(
    r"\(initramfs\) ?$|Kernel panic|end Kernel panic|"
    r"Give root password for maintenance|emergency mode",
    re.M,
)


@dataclass
class BootResult:
    passed: bool
    stage: str
    seconds: float
    probe: dict = field(default_factory=dict)
    tail: str = ""
    console: str = ""
    firmware: str = ""  # the firmware's last lines about booting
    firmware_kind: str = "bios"  # what it booted with: bios (SeaBIOS) or efi (OVMF)

    def as_dict(self):
        d = asdict(self)
        d.pop("console")
        return d


def parse_probe(console):
    """The last whole report (begin ... end) in the console, else the last partial one."""
    whole = current = None
    for line in console.splitlines():
        i = line.find(MARK + " ")
        if i < 0:
            continue
        words = line[i + len(MARK) + 1 :].strip().split(" ", 1)
        key, rest = words[0], (words[1] if len(words) > 1 else "")
        if key == "begin":
            current = _empty_probe()
        elif current is not None:
            _read_probe_line(current, key, rest)
            if key == "end":
                whole = current
    return whole or current or _empty_probe()


def _empty_probe():
    return {
        "mounts": [],
        "swap": [],
        "failed": [],
        "nics": [],
        "addresses": [],
        "state": "",
        "cmdline": "",
        "complete": False,
    }


def _read_probe_line(probe, key, rest):
    if key == "mount":
        parts = rest.split()
        if len(parts) >= 3:
            probe["mounts"].append(
                {"target": parts[0].replace("\\x20", " "), "source": parts[1], "fstype": parts[2]}
            )
    elif key == "swap":
        probe["swap"].append(rest.strip())
    elif key == "failed":
        probe["failed"].append(rest.strip())
    elif key == "nic":
        parts = rest.split()
        if len(parts) >= 2 and parts[0] != "lo":
            probe["nics"].append(
                {"name": parts[0], "mac": parts[1], "state": parts[2] if len(parts) > 2 else ""}
            )
    elif key == "addr":
        parts = rest.split()
        if len(parts) >= 2:
            probe["addresses"].append({"nic": parts[0], "address": parts[1]})
    elif key == "state":
        probe["state"] = rest.strip()
    elif key == "cmdline":
        probe["cmdline"] = rest.strip()
    elif key == "end":
        probe["complete"] = True


def stage_reached(console, firmware, probe_complete, login_seen, boot_code=True):
    if probe_complete and login_seen:
        return "login"
    if probe_complete or login_seen:
        return "userspace"
    for stage, pattern in STAGE_PATTERNS:
        if pattern.search(console):
            return stage
    # OVMF on the serial port: it found no boot loader (and fell through
    # to its shell), or started one
    if OVMF_NOTHING_RE.search(console):
        return "no boot code"
    if "BdsDxe: starting Boot" in console:
        return "boot loader"
    # SeaBIOS jumps into a zero-filled MBR without complaint, so a disk
    # without boot code is known from the disk itself (read before booting).
    if re.search(r"Boot failed|No bootable device", firmware) or (
        not boot_code and "Booting from 0000:7c00" in firmware
    ):
        return "no boot code"
    if "Booting from Hard Disk" in firmware:
        return "boot loader"
    return "firmware"
