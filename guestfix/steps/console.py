"""Login consoles move from Xen's xvc0/hvc0 to the serial port.

systemd getty links for xvc*/hvc* are removed (a serial getty on ttyS0 is
enabled in their place), and /etc/inittab and /etc/securetty name ttyS0.
"""

import re

from ..facts import GETTY_DIRS, XEN_GETTY
from ..plan import MakeLink, RemoveLink, edit
from . import Step

SERIAL_GETTY = "serial-getty@ttyS0.service"
XEN_TTY = re.compile(r"(?<![\w/])(?:xvc|hvc)0(?!\w)")


def fix_securetty(text):
    """xvc0/hvc0 -> ttyS0, without listing ttyS0 twice."""
    out, has_serial = [], any(l.strip() == "ttyS0" for l in text.splitlines())
    for line in text.splitlines(keepends=True):
        if line.strip() in ("xvc0", "hvc0"):
            if has_serial:
                continue
            line, has_serial = line.replace(line.strip(), "ttyS0"), True
        out.append(line)
    return "".join(out)


def fix_inittab(text):
    """getty lines on xvc0/hvc0 run on ttyS0 instead."""
    out = []
    for line in text.splitlines(keepends=True):
        if not line.lstrip().startswith("#"):
            line = XEN_TTY.sub("ttyS0", line)
        out.append(line)
    return "".join(out)


def unit_dir(guest):
    for d in ("/lib/systemd/system", "/usr/lib/systemd/system"):
        if guest.exists(f"{d}/serial-getty@.service"):
            return d
    return None


class Console(Step):
    name = "console"
    title = "console: Xen getty links out, ttyS0 in inittab and securetty"
    changes = "getty links in " + ", ".join(GETTY_DIRS) + "; /etc/inittab; /etc/securetty"
    position = 4

    def plan(self, ctx):
        changes = []
        removed_getty = False
        for d in GETTY_DIRS:
            for name in ctx.guest.ls(d):
                path = f"{d}/{name}"
                if XEN_GETTY.match(name) and ctx.guest.is_symlink(path):
                    changes.append(RemoveLink(step=self.name, summary="Xen console getty removed",
                                              path=path, points_to=ctx.guest.readlink(path)))
                    removed_getty = True
        serial = f"{GETTY_DIRS[0]}/{SERIAL_GETTY}"
        units = unit_dir(ctx.guest)
        if removed_getty and units and not ctx.guest.exists(serial) \
                and not ctx.guest.is_symlink(serial):
            changes.append(MakeLink(step=self.name, summary="login prompt on the serial console",
                                    path=serial, points_to=f"{units}/serial-getty@.service"))
        for path, fix in (("/etc/inittab", fix_inittab), ("/etc/securetty", fix_securetty)):
            before = ctx.guest.read_text(path)
            if before is not None:
                changes.append(edit(self.name, "xvc0/hvc0 -> ttyS0", path, before, fix(before)))
        return [c for c in changes if c]


STEP = Console()
