"""Steps see the guest through one typed interface, whatever is behind it."""

import pytest
from helpers import MemoryGuest

from guestfix.core.errors import UnsupportedGuestError
from guestfix.fix.guest import GuestTree
from guestfix.fix.session import GuestSession, choose_root


def test_the_memory_guest_and_the_session_are_guest_trees():
    assert isinstance(MemoryGuest({}), GuestTree)
    assert isinstance(GuestSession([]), GuestTree)  # not launched: only its methods


def test_memory_guest_directories_and_programs():
    guest = MemoryGuest({"/etc/fstab": "x\n"})
    assert guest.is_dir("/etc") and not guest.is_dir("/etc/fstab") and not guest.is_dir("/nope")
    assert not guest.run(["lsinitramfs", "/boot/initrd.img"]).ok


def test_root_choice():
    assert choose_root(["/dev/sda1"]) == "/dev/sda1"
    assert choose_root(["/dev/sda1", "/dev/sdb1"], "/dev/sdb1") == "/dev/sdb1"
    with pytest.raises(UnsupportedGuestError, match="several operating systems"):
        choose_root(["/dev/sda1", "/dev/sdb1"])
    with pytest.raises(UnsupportedGuestError, match="/dev/sdc1 is not an operating system root"):
        choose_root(["/dev/sda1"], "/dev/sdc1")
