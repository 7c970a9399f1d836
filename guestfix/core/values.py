"""Values that come from the Xen side, checked where they enter.

A domain's name becomes file names (NAME.xml, NAME-vda.img, the log, the
early-start state), a MAC goes onto QEMU's command line (`mac=` in a
-device list, where a comma would add properties), bridge and network
names and device targets go into the KVM domain and into the names of its
disks. Whoever wrote the Xen configuration (a guest's owner, a host being
decommissioned) is not trusted to keep them sane: each is checked against
what the thing it names can be, and anything else is bad input (exit 3)
before anything is written.
"""

import re
import uuid as uuidlib

from .errors import InputError

MAC_RE = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
# a file name on every filesystem guestfix writes to, and a libvirt name:
# no path separator, no leading dot or dash, no spaces or control characters
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
# Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/', no space
BRIDGE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,14}")
# libvirt network names: no '/', no whitespace or control characters
NETWORK_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,63}")
# Xen and emulated disk targets: xvda, xvdb2, xvdaa, hda, sdb1, vda
TARGET_RE = re.compile(r"(?:xvd|hd|sd|vd)[a-z]{1,2}\d{0,3}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def mac(value, where="a MAC address"):
    """A MAC address, lower case; six hex bytes joined by colons."""
    text = str(value).strip().lower()
    if not MAC_RE.fullmatch(text):
        raise InputError(f"{where}: {value!r} is not a MAC address (six hex bytes, a:b:c:d:e:f)")
    return text


def name(value, where="the domain name"):
    text = str(value)
    if not NAME_RE.fullmatch(text) or text in (".", ".."):
        raise InputError(
            f"{where} {value!r} cannot be used: guestfix makes file names of it "
            "(letters, digits, '_', '.', '+', '-'; 64 at most; not starting with '.' or '-')",
            hint="give the new guest another name with -on NAME",
        )
    return text


def uuid(value, where="the domain UUID"):
    try:
        return str(uuidlib.UUID(str(value)))
    except ValueError:
        raise InputError(f"{where} {value!r} is not a UUID") from None


def bridge(value, where="a bridge name"):
    text = str(value)
    if not BRIDGE_RE.fullmatch(text):
        raise InputError(
            f"{where} {value!r} is not an interface name (15 characters at most, "
            "letters, digits, '_', '.', ':', '-')"
        )
    return text


def network(value, where="a network name"):
    text = str(value)
    if not NETWORK_RE.fullmatch(text):
        raise InputError(f"{where} {value!r} is not a libvirt network name")
    return text


def network_or_bridge(kind, value, where):
    return bridge(value, where) if kind == "bridge" else network(value, where)


def target(value, where="a disk target"):
    text = str(value)
    if not TARGET_RE.fullmatch(text):
        raise InputError(f"{where} {value!r} is not a disk device name (xvda, xvda2, hdb ...)")
    return text


def path(value, where="a path"):
    """A path with no control characters (a newline would split a line of
    the report, the log or a shell-quoted argument's display)."""
    text = str(value)
    if not text or CONTROL_RE.search(text):
        raise InputError(f"{where} {value!r} has control characters or is empty")
    return text
