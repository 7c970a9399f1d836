"""`guestfix boot-check`: boot the disks the way KVM will, and watch.

    boot.py      QEMU on throwaway overlays, the console and firmware read
    probe.py     the one-shot probe placed in the overlay
    console.py   stages, the login prompt, the probe's report


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

Imports: core/, disks/ (overlays), fix/ (a session places the probe).
"""

from .boot import boot_check
from .console import LOGIN_RE, BootResult, parse_probe, stage_reached

__all__ = ["LOGIN_RE", "BootResult", "boot_check", "parse_probe", "stage_reached"]
