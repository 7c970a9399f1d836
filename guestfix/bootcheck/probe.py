"""The one-shot probe placed in the booted guest's throwaway overlay, and
what it reports on the serial port."""

import os

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
systemctl --failed --plain --no-legend 2>/dev/null | \
while read -r u rest; do echo "{MARK} failed $u"; done
for n in /sys/class/net/*; do
  echo "{MARK} nic ${{n##*/}} $(cat "$n/address") $(cat "$n/operstate")"
done
# an address from DHCP may come after the boot is done (networkd does not
# hold it up): wait for one a while, only when there is none yet
for i in $(seq 30); do
  ip -o -4 addr show scope global 2>/dev/null | grep -q . && break
  sleep 1
done
ip -o -4 addr show scope global 2>/dev/null | \
while read -r i n f a rest; do echo "{MARK} addr $n $a"; done
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


def install_probe(session):
    """Place the probe in the (overlay) guest; systemd guests only."""
    session.mkdir_p(os.path.dirname(PROBE_PATH))
    session.write_text(PROBE_PATH, PROBE_SCRIPT, mode=0o755)
    session.chmod(0o755, PROBE_PATH)
    session.write_text(UNIT_PATH, PROBE_UNIT)
    session.mkdir_p(os.path.dirname(WANTS_LINK))
    session.symlink(UNIT_PATH, WANTS_LINK)
