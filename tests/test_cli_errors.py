"""The command line's own contract. Bad input of every kind is in the
reliability corpus (tests/corpus/)."""

from conftest import guestfix


def test_help_lists_exit_codes():
    r = guestfix("--help")
    assert r.returncode == 0 and "Exit codes" in r.stdout and "130" in r.stdout


def test_usage_error_exit_2():
    r = guestfix("fix", "--no-such-option")
    assert r.returncode == 2 and "Traceback" not in r.stderr
