"""`guestfix boot-check`: boot the disks the way KVM will, and watch.

The disks are booted from their own boot code (SeaBIOS, no -kernel
shortcut) under QEMU with virtio disks in order and a virtio NIC, always on
throwaway overlays. Before booting, a one-shot probe is placed in the
overlay: a systemd service that waits for the boot to finish and prints the
mount sources, swap, failed units and NIC names on the serial port.

Stages, from the least to the most advanced:
  firmware -> no boot code | boot loader -> kernel -> initrd -> root mount
  -> userspace -> login
The firmware's own log (QEMU's debug console) tells whether a disk had boot
code; the serial console tells the rest.
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field

from ..disks.image import create_overlay
from ..core.errors import ToolError
from ..fix.facts import disk_boot_info
from ..fix.session import GuestSession, vcpus

MARK = "GUESTFIX-PROBE"
PROBE_PATH = "/usr/local/sbin/guestfix-boot-probe"
UNIT_PATH = "/etc/systemd/system/guestfix-boot-probe.service"
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/guestfix-boot-probe.service"
DEFAULT_MAC = "52:54:00:6b:3c:01"

# Written by guestfix into a throwaway overlay only; its text is guestfix's
# own, nothing in it comes from the guest.
PROBE_SCRIPT = f"""#!/bin/sh
# guestfix boot-check probe: report how the guest booted on the serial port.
report=/run/guestfix-boot-probe.txt
dmesg -n 1 2>/dev/null
systemctl is-system-running --wait >/dev/null 2>&1
{{
echo "{MARK} begin"
echo "{MARK} state $(systemctl is-system-running 2>/dev/null)"
findmnt -rn -o TARGET,SOURCE,FSTYPE | while read -r t s f; do echo "{MARK} mount $t $s $f"; done
tail -n +2 /proc/swaps | while read -r s rest; do echo "{MARK} swap $s"; done
systemctl --failed --plain --no-legend 2>/dev/null | while read -r u rest; do echo "{MARK} failed $u"; done
for n in /sys/class/net/*; do
  echo "{MARK} nic ${{n##*/}} $(cat "$n/address") $(cat "$n/operstate")"
done
echo "{MARK} cmdline $(cat /proc/cmdline)"
echo "{MARK} end"
}} > $report 2>&1
# A getty that starts (or restarts) on the serial port hangs the line up
# (vhangup), and a hung-up descriptor writes nothing more: the port is
# opened afresh for each copy of the report, and the copies repeat, so one
# cut short is followed by a whole one. The watcher stops at the first whole one.
for attempt in 1 2 3 4 5 6; do
  cat $report > /dev/ttyS0 2>/dev/null
  sleep 10
done
"""

PROBE_UNIT = f"""[Unit]
Description=guestfix boot-check probe
After=multi-user.target

[Service]
Type=simple
ExecStart=/bin/sh {PROBE_PATH}

[Install]
WantedBy=multi-user.target
"""

# agetty's prompt starts a line; other output (the probe) may follow it on
# the same line, since the prompt does not end with a newline.
LOGIN_RE = re.compile(r"^(?:[\w.-]+ )?login: ?", re.M)
STAGE_PATTERNS = [
    # (stage reached, pattern in the serial console), most advanced first
    ("userspace", re.compile(r"Welcome to .*!|systemd\[1\]|Reached target|Started .*")),
    ("root mount", re.compile(r"ALERT!|Gave up waiting for root|Dropping to a shell|"
                              r"\(initramfs\)|VFS: Unable to mount root|"
                              r"You are in emergency mode")),
    ("initrd", re.compile(r"Loading, please wait|Run /init as init process|Begin: ")),
    ("kernel", re.compile(r"Linux version \d|Booting paravirtualized kernel|Kernel command line")),
    ("boot loader", re.compile(r"GNU GRUB|Welcome to GRUB|Loading Linux|error: ")),
]
# Seen in the console: nothing more will happen, stop waiting.
DEAD_END_RE = re.compile(r"\(initramfs\) ?$|Kernel panic|end Kernel panic|"
                         r"Give root password for maintenance|emergency mode", re.M)


@dataclass
class BootResult:
    passed: bool
    stage: str
    seconds: float
    probe: dict = field(default_factory=dict)
    tail: str = ""
    console: str = ""
    firmware: str = ""

    def as_dict(self):
        d = asdict(self)
        d.pop("console")
        return d


def install_probe(session):
    """Place the probe in the (overlay) guest; systemd guests only."""
    session.mkdir_p(os.path.dirname(PROBE_PATH))
    session.write_text(PROBE_PATH, PROBE_SCRIPT, mode=0o755)
    session.chmod(0o755, PROBE_PATH)
    session.write_text(UNIT_PATH, PROBE_UNIT)
    session.mkdir_p(os.path.dirname(WANTS_LINK))
    session.symlink(UNIT_PATH, WANTS_LINK)


def parse_probe(console):
    """The last whole report (begin ... end) in the console, else the last partial one."""
    whole = current = None
    for line in console.splitlines():
        i = line.find(MARK + " ")
        if i < 0:
            continue
        words = line[i + len(MARK) + 1:].strip().split(" ", 1)
        key, rest = words[0], (words[1] if len(words) > 1 else "")
        if key == "begin":
            current = _empty_probe()
        elif current is not None:
            _read_probe_line(current, key, rest)
            if key == "end":
                whole = current
    return whole or current or _empty_probe()


def _empty_probe():
    return {"mounts": [], "swap": [], "failed": [], "nics": [], "state": "", "cmdline": "",
            "complete": False}


def _read_probe_line(probe, key, rest):
    if key == "mount":
        parts = rest.split()
        if len(parts) >= 3:
            probe["mounts"].append({"target": parts[0].replace("\\x20", " "),
                                    "source": parts[1], "fstype": parts[2]})
    elif key == "swap":
        probe["swap"].append(rest.strip())
    elif key == "failed":
        probe["failed"].append(rest.strip())
    elif key == "nic":
        parts = rest.split()
        if len(parts) >= 2 and parts[0] != "lo":
            probe["nics"].append({"name": parts[0], "mac": parts[1],
                                  "state": parts[2] if len(parts) > 2 else ""})
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
    # SeaBIOS jumps into a zero-filled MBR without complaint, so a disk
    # without boot code is known from the disk itself (read before booting).
    if re.search(r"Boot failed|No bootable device", firmware) or \
            (not boot_code and "Booting from 0000:7c00" in firmware):
        return "no boot code"
    if "Booting from Hard Disk" in firmware:
        return "boot loader"
    return "firmware"


def qemu_argv(overlays, tmp, memory, tcg, macs):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise ToolError("qemu-system-x86_64 is not installed", hint="run `make setup`")
    argv = [qemu, "-machine", "pc,accel=" + ("tcg" if tcg else "kvm:tcg"),
            "-m", str(memory), "-smp", str(min(2, vcpus(tcg))), "-nodefaults",
            "-no-user-config",
            "-display", "none", "-vga", "std", "-no-reboot",
            "-chardev", f"file,id=serial0,path={tmp}/console.log", "-serial", "chardev:serial0",
            "-chardev", f"file,id=fw,path={tmp}/firmware.log",
            "-device", "isa-debugcon,iobase=0x402,chardev=fw",
            "-monitor", f"unix:{tmp}/monitor.sock,server=on,wait=off"]
    for i, ov in enumerate(overlays):
        argv += ["-drive", f"file={ov.path},format=qcow2,if=virtio,index={i},cache=unsafe"]
    for i, mac in enumerate(macs or [DEFAULT_MAC]):
        argv += ["-netdev", f"user,id=net{i}",
                 "-device", f"virtio-net-pci,netdev=net{i},mac={mac}"]
    return argv


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _vga_text(tmp):
    """The text-mode screen, through QEMU's monitor (GRUB errors show there)."""
    dump = f"{tmp}/vga.bin"
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(3)
            s.connect(f"{tmp}/monitor.sock")
            s.sendall(f"pmemsave 0xb8000 4000 {dump}\n".encode())
            deadline = time.monotonic() + 3
            while not os.path.exists(dump) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.2)
    except OSError:
        return ""
    data = _read_bytes(dump)
    chars = bytes(c if 32 <= c < 127 else 32 for c in data[0::2])
    rows = [chars[i:i + 80].decode("ascii").rstrip() for i in range(0, len(chars), 80)]
    return "\n".join(r for r in rows if r.strip())


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def run_qemu(overlays, tmp, timeout, memory, tcg, macs, monitor, boot_code=True):
    argv = qemu_argv(overlays, tmp, memory, tcg, macs)
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    console = firmware = ""
    login_seen = probe_done = False
    last_stage = ""
    try:
        while time.monotonic() - started < timeout:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
            console, firmware = _read(f"{tmp}/console.log"), _read(f"{tmp}/firmware.log")
            probe_done = f"{MARK} end" in console
            login_seen = bool(LOGIN_RE.search(console))
            stage = stage_reached(console, firmware, probe_done, login_seen, boot_code)
            if stage != last_stage:
                monitor.note(f"{time.monotonic() - started:4.0f}s  reached: {stage}")
                last_stage = stage
            if probe_done and login_seen:
                break
            if stage == "no boot code" or DEAD_END_RE.search(console):
                time.sleep(1)
                break
        screen = _vga_text(tmp) if proc.poll() is None else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        qemu_out = proc.communicate()[0].decode("utf-8", "replace")
    console, firmware = _read(f"{tmp}/console.log"), _read(f"{tmp}/firmware.log")
    if proc.returncode not in (None, 0, -9) and not console and not firmware:
        raise ToolError(f"QEMU failed: {qemu_out.strip().splitlines()[-1] if qemu_out.strip() else proc.returncode}")
    return console, firmware, screen, time.monotonic() - started


def boot_check(disks, monitor, timeout=600, memory=1024, tcg=False, macs=(),
               console_log=None):
    with tempfile.TemporaryDirectory(prefix="guestfix-boot-") as tmp:
        overlays = [create_overlay(d, os.path.join(tmp, f"disk{i}.qcow2"))
                    for i, d in enumerate(disks)]
        with monitor.stage("placing the boot probe in a throwaway overlay"):
            with GuestSession(overlays, readonly=False, tcg=tcg, monitor=monitor) as s:
                install_probe(s)
                boot_code = disk_boot_info(s, s.appliance_devices()[0])[2]
        with monitor.stage("booting the guest from its disks (virtio, SeaBIOS)"):
            console, firmware, screen, seconds = run_qemu(
                overlays, tmp, timeout, memory, tcg, list(macs), monitor, boot_code)
    if console_log:
        with open(console_log, "w") as f:
            f.write(console)
    probe = parse_probe(console)
    login_seen = bool(LOGIN_RE.search(console))
    stage = stage_reached(console + "\n" + screen, firmware, probe["complete"], login_seen,
                          boot_code)
    lines = [l for l in console.replace("\r", "").splitlines() if l.strip()]
    tail = "\n".join(lines[-25:])
    if not tail and screen:
        tail = "(screen)\n" + screen
    fw_lines = [l for l in firmware.splitlines() if re.search(r"Boot|boot", l)]
    return BootResult(passed=stage == "login", stage=stage, seconds=seconds,
                      probe=probe if probe["complete"] else {}, tail=tail, console=console,
                      firmware="\n".join(fw_lines[-5:]))
