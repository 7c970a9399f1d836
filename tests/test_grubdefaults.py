"""The one /etc/default/grub parser, and the one program lookup."""

from helpers import MemoryGuest

from guestfix.fix import grubdefaults
from guestfix.fix.guest import has_program, program_path

DEFAULTS = """# comment
GRUB_DEFAULT=0
GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"  # the usual
export GRUB_CMDLINE_LINUX='root=/dev/vda1 #1'
#GRUB_CMDLINE_LINUX="ignored"
GRUB_DEFAULT=saved
"""


def test_values_last_wins_quotes_exports_and_comments():
    assert grubdefaults.values(DEFAULTS) == {
        "GRUB_DEFAULT": "saved",
        "GRUB_CMDLINE_LINUX_DEFAULT": "quiet splash",
        "GRUB_CMDLINE_LINUX": "root=/dev/vda1 #1",
    }
    assert grubdefaults.value(None, "GRUB_DEFAULT") is None


def test_a_line_is_written_back_with_its_quote_and_comment():
    a = grubdefaults.assignment('GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"  # the usual')
    assert a.with_value("quiet") == 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"  # the usual'
    assert grubdefaults.assignment("GRUB_TIMEOUT=5").with_value("1") == 'GRUB_TIMEOUT="1"'


def test_set_value_replaces_or_appends():
    assert (
        grubdefaults.set_value("GRUB_DEFAULT=0\n", "GRUB_DEFAULT", "a>b") == 'GRUB_DEFAULT="a>b"\n'
    )
    assert grubdefaults.set_value("X=1", "GRUB_DEFAULT", "0") == 'X=1\nGRUB_DEFAULT="0"\n'


def test_programs_are_found_in_every_usual_directory():
    guest = MemoryGuest({"/bin/dracut": "", "/usr/sbin/grubby": ""})
    assert program_path(guest, "dracut") == "/bin/dracut"
    assert has_program(guest, "grubby") and not has_program(guest, "update-grub")
