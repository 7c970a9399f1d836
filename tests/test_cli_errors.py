"""The command line's own contract. Bad input of every kind is in the
reliability corpus (tests/corpus/)."""

import os
import re
import subprocess
import sys

from conftest import REPO, guestfix

from guestfix import errors


def test_help_lists_exit_codes():
    r = guestfix("--help")
    assert r.returncode == 0 and "Exit codes" in r.stdout and "130" in r.stdout


def test_help_without_docstrings_lists_exit_codes():
    # -OO strips docstrings; the exit codes must not come from one.
    r = subprocess.run([sys.executable, "-OO", "-m", "guestfix", "--help"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    for row in errors.EXIT_CODES:
        assert f"{row.code:>3}  {row.meaning}" in r.stdout


def test_readme_exit_table_matches_errors():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    table = re.search(r"^\| code \| meaning \|\n(?:\|.*\n)+", readme, re.M)
    assert table, "README.md has no exit-code table"
    assert table.group(0).rstrip("\n") == errors.markdown_table(), \
        "README.md's exit codes differ from guestfix/errors.py's EXIT_CODES; paste:\n" \
        + errors.markdown_table()


def test_every_error_class_has_its_code():
    for row in errors.EXIT_CODES:
        if row.error is not None:
            assert row.error.exit_code == row.code
    classes = {c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.GuestfixError)}
    assert classes == {row.error for row in errors.EXIT_CODES if row.error}


def test_first_line():
    assert errors.first_line(RuntimeError("\n  one \ntwo")) == "one"
    assert errors.first_line(RuntimeError("")) == "RuntimeError"
    assert errors.first_line(RuntimeError(" \n ")) == "RuntimeError"


def test_usage_error_exit_2():
    r = guestfix("fix", "--no-such-option")
    assert r.returncode == 2 and "Traceback" not in r.stderr
