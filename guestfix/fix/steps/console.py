"""Login consoles move from Xen's xvc0/hvc0 to the serial port.

systemd getty links for xvc*/hvc* are removed (a serial getty on ttyS0 is
enabled in their place), upstart's hvc0/xvc0 getty job is replaced by the
same job on ttyS0, and /etc/inittab and /etc/securetty name ttyS0.
"""

import re

from ..facts import GETTY_DIRS, XEN_GETTY, XEN_UPSTART_JOBS
from ..plan import FileEdit, MakeLink, RemoveLink, edit
from .base import Step

SERIAL_GETTY = "serial-getty@ttyS0.service"
SERIAL_UPSTART_JOB = "/etc/init/ttyS0.conf"
XEN_TTY = re.compile(r"(?<![\w/])(?:xvc|hvc)0(?!\w)")


def fix_securetty(text):
    """xvc0/hvc0 -> ttyS0, without listing ttyS0 twice."""
    out, has_serial = [], any(line.strip() == "ttyS0" for line in text.splitlines())
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


def is_xen_getty_job(text):
    """An upstart job that runs a getty on xvc0/hvc0 (not some other job
    that happens to be named so)."""
    return any(
        "getty" in line and XEN_TTY.search(line)
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
    )


def serial_getty_job(text):
    """The same job on ttyS0; its comments name ttyS0 too."""
    return XEN_TTY.sub("ttyS0", text)


def upstart_changes(step, guest):
    """The Xen console's getty job goes: on KVM its tty does not exist, so
    upstart respawns a failing getty until it gives up, at every boot (as
    the systemd links go). The same job on ttyS0 takes its place unless the
    guest already has one."""
    changes = []
    has_serial = guest.exists(SERIAL_UPSTART_JOB) or guest.is_symlink(SERIAL_UPSTART_JOB)
    for path in XEN_UPSTART_JOBS:
        text = guest.read_text(path)
        if text is None or not is_xen_getty_job(text):
            continue
        changes.append(
            FileEdit(
                step=step,
                summary="Xen console getty job removed",
                path=path,
                before=text,
                after=None,
            )
        )
        if not has_serial:
            changes.append(
                FileEdit(
                    step=step,
                    summary="login prompt on the serial console",
                    path=SERIAL_UPSTART_JOB,
                    before=None,
                    after=serial_getty_job(text),
                )
            )
            has_serial = True
    return changes


def unit_dir(guest):
    for d in ("/lib/systemd/system", "/usr/lib/systemd/system"):
        if guest.exists(f"{d}/serial-getty@.service"):
            return d
    return None


class Console(Step):
    name = "console"
    title = "console: Xen getty links out, ttyS0 in inittab and securetty"
    changes = (
        "getty links in "
        + ", ".join(GETTY_DIRS)
        + "; upstart jobs "
        + ", ".join(XEN_UPSTART_JOBS)
        + ", "
        + SERIAL_UPSTART_JOB
        + "; /etc/inittab; /etc/securetty"
    )

    def plan(self, ctx):
        changes = []
        removed_getty = False
        for d in GETTY_DIRS:
            for name in ctx.guest.ls(d):
                path = f"{d}/{name}"
                if XEN_GETTY.match(name) and ctx.guest.is_symlink(path):
                    changes.append(
                        RemoveLink(
                            step=self.name,
                            summary="Xen console getty removed",
                            path=path,
                            points_to=ctx.guest.readlink(path),
                        )
                    )
                    removed_getty = True
        serial = f"{GETTY_DIRS[0]}/{SERIAL_GETTY}"
        units = unit_dir(ctx.guest)
        if (
            removed_getty
            and units
            and not ctx.guest.exists(serial)
            and not ctx.guest.is_symlink(serial)
        ):
            changes.append(
                MakeLink(
                    step=self.name,
                    summary="login prompt on the serial console",
                    path=serial,
                    points_to=f"{units}/serial-getty@.service",
                )
            )
        changes.extend(upstart_changes(self.name, ctx.guest))
        for path, fix in (("/etc/inittab", fix_inittab), ("/etc/securetty", fix_securetty)):
            before = ctx.guest.read_text(path)
            if before is not None:
                changes.append(edit(self.name, "xvc0/hvc0 -> ttyS0", path, before, fix(before)))
        return [c for c in changes if c]


STEP = Console()
