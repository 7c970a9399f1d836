"""The boot itself: QEMU on throwaway overlays, from the disks' own boot
code, its serial console and firmware log read until the login prompt."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from ..core import uefi as host_uefi
from ..core import values
from ..core.errors import ToolError
from ..disks.image import create_overlay
from ..fix.facts import disk_boot_info
from ..fix.session import GuestSession, vcpus
from .console import DEAD_END_RE, LOGIN_RE, BootResult, parse_probe, stage_reached
from .probe import DEFAULT_MAC, MARK, install_probe


def uefi_drives(tmp):
    """OVMF's code and a fresh copy of its empty variable store: the
    guest's firmware starts with no boot entries, as on the KVM host.
    Secure boot is off: the boot check is about the disks, and a boot chain
    signed or not boots without it."""
    fw = host_uefi.find(secure_boot=False)
    if fw is None:
        raise ToolError(
            "the guest boots through UEFI and QEMU has no UEFI firmware here", hint=host_uefi.HINT
        )
    nvram = os.path.join(tmp, "vars.fd")
    shutil.copyfile(fw.vars_template, nvram)
    return [
        "-drive",
        f"if=pflash,format=raw,unit=0,readonly=on,file={fw.code}",
        "-drive",
        f"if=pflash,format=raw,unit=1,file={nvram}",
    ]


def qemu_argv(overlays, tmp, memory, tcg, macs, firmware="bios"):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise ToolError("qemu-system-x86_64 is not installed", hint="run `make setup`")
    argv = [
        qemu,
        "-machine",
        "pc,accel=" + ("tcg" if tcg else "kvm:tcg"),
        "-m",
        str(memory),
        "-smp",
        str(min(2, vcpus(tcg))),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-vga",
        "std",
        "-no-reboot",
        "-chardev",
        f"file,id=serial0,path={tmp}/console.log",
        "-serial",
        "chardev:serial0",
        "-chardev",
        f"file,id=fw,path={tmp}/firmware.log",
        "-device",
        "isa-debugcon,iobase=0x402,chardev=fw",
        "-monitor",
        f"unix:{tmp}/monitor.sock,server=on,wait=off",
    ]
    if firmware == "efi":
        argv += uefi_drives(tmp)
    for i, ov in enumerate(overlays):
        argv += ["-drive", f"file={ov.path},format=qcow2,if=virtio,index={i},cache=unsafe"]
    for i, mac in enumerate(macs or [DEFAULT_MAC]):
        # The guest gets an address (slirp's own DHCP) and nothing else:
        # restrict=on keeps its code from reaching the host or what the
        # host reaches. The MACs were checked where they entered
        # (domain/values.py): a comma would add -device properties.
        argv += [
            "-netdev",
            f"user,id=net{i},restrict=on",
            "-device",
            f"virtio-net-pci,netdev=net{i},mac={values.mac(mac)}",
        ]
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
    rows = [chars[i : i + 80].decode("ascii").rstrip() for i in range(0, len(chars), 80)]
    return "\n".join(r for r in rows if r.strip())


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def run_qemu(overlays, tmp, timeout, memory, tcg, macs, monitor, boot_code=True, firmware="bios"):
    argv = qemu_argv(overlays, tmp, memory, tcg, macs, firmware)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
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
        last = qemu_out.strip().splitlines()[-1] if qemu_out.strip() else proc.returncode
        raise ToolError(f"QEMU failed: {last}")
    return console, firmware, screen, time.monotonic() - started


def boot_check(
    disks, monitor, timeout=600, memory=1024, tcg=False, macs=(), console_log=None, firmware=None
):
    """Boot the disks and watch. `firmware` is what the domain asks for
    (efi or bios); without one, a first disk with no BIOS boot code and an
    EFI system partition is booted through UEFI."""
    with tempfile.TemporaryDirectory(prefix="guestfix-boot-") as tmp:
        overlays = [
            create_overlay(d, os.path.join(tmp, f"disk{i}.qcow2")) for i, d in enumerate(disks)
        ]
        with monitor.stage("placing the boot probe in a throwaway overlay"):
            with GuestSession(overlays, readonly=False, tcg=tcg, monitor=monitor) as s:
                install_probe(s)
                _, _, boot_code, esps = disk_boot_info(s, s.appliance_devices()[0])
        if firmware is None:
            firmware = "efi" if esps and not boot_code else "bios"
        if firmware == "efi":
            # the firmware never reads the MBR: whether it finds a loader
            # shows on the console
            boot_code = True
        shown = "OVMF, empty variable store" if firmware == "efi" else "SeaBIOS"
        with monitor.stage(f"booting the guest from its disks (virtio, {shown})"):
            console, fw_log, screen, seconds = run_qemu(
                overlays, tmp, timeout, memory, tcg, list(macs), monitor, boot_code, firmware
            )
    if console_log:
        with open(console_log, "w") as f:
            f.write(console)
    probe = parse_probe(console)
    login_seen = bool(LOGIN_RE.search(console))
    stage = stage_reached(
        console + "\n" + screen, fw_log, probe["complete"], login_seen, boot_code
    )
    lines = [line for line in console.replace("\r", "").splitlines() if line.strip()]
    tail = "\n".join(lines[-25:])
    if not tail and screen:
        tail = "(screen)\n" + screen
    fw_lines = [line for line in fw_log.splitlines() if re.search(r"Boot|boot", line)]
    return BootResult(
        passed=stage == "login",
        stage=stage,
        seconds=seconds,
        probe=probe if probe["complete"] else {},
        tail=tail,
        console=console,
        firmware="\n".join(fw_lines[-5:]),
        firmware_kind=firmware,
    )
