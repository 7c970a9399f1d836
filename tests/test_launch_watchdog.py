"""An appliance that never comes up: the launch is cut off, tried once more,
and the run ends with one line instead of hanging.

The "hypervisor" given to libguestfs is the real QEMU, except that the
appliance itself is started paused (-S), as an appliance kernel that hangs
at boot would look from outside. libguestfs' own questions to QEMU (its
version, devices, QMP) go to the real one unchanged.
"""

import os
import pathlib
import shutil
import textwrap

import launch_cuts
from conftest import guestfix


def test_an_appliance_that_never_starts_is_cut_off_and_tried_again(tmp_path):
    qemu = shutil.which("qemu-system-x86_64")
    # a path whose length libguestfs handles: with some lengths its feature
    # probe writes past a heap block (guestfix/fix/qemuprobe.py)
    hv = pathlib.Path(launch_cuts.safe_hypervisor_path(str(tmp_path)))
    hv.write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        # guestfix-hanging-appliance
        for a in "$@"; do
            [ "$a" = -kernel ] && exec {qemu} "$@" -S
        done
        exec {qemu} "$@"
        """)
    )
    hv.chmod(0o755)
    disk = tmp_path / "blank.img"
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    r = guestfix(
        "inspect",
        "--json",
        disk,
        env={"LIBGUESTFS_HV": str(hv), "GUESTFIX_LAUNCH_TIMEOUT": "5"},
        timeout=300,
    )
    assert r.returncode == 9, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == (
        "guestfix: error: the libguestfs appliance did not start within "
        "5 s, twice (`libguestfs-test-tool` shows where its boot stops; "
        "GUESTFIX_LAUNCH_TIMEOUT sets the limit)"
    )
    assert "Traceback" not in r.stderr
    assert _paused_appliances() == []  # both were killed, none is left behind


def _paused_appliances():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except OSError:
            continue
        if b"-kernel" in argv and argv[-1:] == [b"-S"]:
            found.append(pid)
    return found


def test_launches_cut_off_at_random_moments_end_with_their_exit_codes():
    """A few rounds of tests/launch_cuts.py (make stress runs 50, under
    load): SIGTERM, SIGINT and the watchdog during the appliance's start
    end with 130 or 9 and one line, never an abort."""
    assert launch_cuts.run(3, seed=7, load=False) == []


def test_a_hypervisor_path_libguestfs_would_overflow_with_is_refused(tmp_path):
    """libguestfs' feature probe writes past a heap block for some lengths
    of the hypervisor's path (guestfix/fix/qemuprobe.py); such a path is
    refused in one line before the launch, and the default is not one."""
    from guestfix.fix import qemuprobe

    assert not qemuprobe.overflows("/usr/bin/qemu-system-x86_64")
    directory = tmp_path / ("d" * (94 - len(str(tmp_path)) - len("/qemu-system-x86_64") - 1))
    directory.mkdir()
    hv = directory / "qemu-system-x86_64"
    assert len(str(hv)) == 94 and qemuprobe.overflows(str(hv))
    hv.symlink_to(shutil.which("qemu-system-x86_64"))
    disk = tmp_path / "blank.img"
    disk.write_bytes(b"\0" * 4096)
    r = guestfix("inspect", "--json", disk, env={"LIBGUESTFS_HV": str(hv)})
    assert r.returncode == 9, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("guestfix: error: libguestfs would overflow a buffer")
