"""Golden tests: each transform on real-looking guest files.

tests/golden/<kind>/<case>.in is fed to the transform for <kind>; the
result must equal <case>.out byte for byte.
"""

import os

import pytest

from guestfix.core.devnames import DeviceMap
from guestfix.fix.steps.bootloader_config import (
    fix_device_map,
    fix_grub_defaults,
    fix_menu_lst,
    fix_sysconfig_bootloader,
)
from guestfix.fix.steps.console import fix_inittab, fix_securetty, serial_getty_job
from guestfix.fix.steps.device_names import rename_devices
from guestfix.fix.steps.initrd_modules import (
    fix_modprobe_aliases,
    fix_modules_list,
    fix_shell_lists,
)

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden")
DEVMAP = DeviceMap.default(3)

TRANSFORMS = {
    "fstab": lambda t: rename_devices(t, DEVMAP)[0],
    "grub-defaults": lambda t: fix_grub_defaults(t, DEVMAP)[0],
    "device-map": lambda t: fix_device_map(t, DEVMAP),
    "menu-lst": lambda t: fix_menu_lst(t, DEVMAP),
    "securetty": fix_securetty,
    "inittab": fix_inittab,
    "upstart-job": serial_getty_job,
    "initramfs-modules": fix_modules_list,
    "modprobe": fix_modprobe_aliases,
    "sysconfig-kernel": fix_shell_lists,
    "dracut-conf": fix_shell_lists,
    "sysconfig-bootloader": lambda t: fix_sysconfig_bootloader(t, DEVMAP),
}


def cases():
    for kind in sorted(os.listdir(GOLDEN)):
        for name in sorted(os.listdir(os.path.join(GOLDEN, kind))):
            if name.endswith(".in"):
                yield pytest.param(kind, name[:-3], id=f"{kind}/{name[:-3]}")


def read(kind, name, ext):
    with open(os.path.join(GOLDEN, kind, f"{name}.{ext}"), newline="") as f:
        return f.read()


@pytest.mark.parametrize("kind,name", list(cases()))
def test_golden(kind, name):
    assert TRANSFORMS[kind](read(kind, name, "in")) == read(kind, name, "out")


@pytest.mark.parametrize("kind,name", list(cases()))
def test_golden_is_idempotent(kind, name):
    """A second fix changes nothing: the output is a fixed point."""
    out = read(kind, name, "out")
    assert TRANSFORMS[kind](out) == out
