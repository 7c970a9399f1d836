"""The command line's own contract. Bad input of every kind is in the
reliability corpus (tests/corpus/)."""

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, guestfix

from guestfix.core import errors


def test_help_lists_exit_codes():
    r = guestfix("--help")
    assert r.returncode == 0 and "Exit codes" in r.stdout and "130" in r.stdout


def test_help_without_docstrings_lists_exit_codes():
    # -OO strips docstrings; the exit codes must not come from one.
    r = subprocess.run(
        [sys.executable, "-OO", "-m", "guestfix", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    for row in errors.EXIT_CODES:
        assert f"{row.code:>3}  {row.meaning}" in r.stdout


def test_readme_exit_table_matches_errors():
    with open(os.path.join(REPO, "docs", "safety.md")) as f:
        readme = f.read()
    table = re.search(r"^\| code \| meaning \|\n(?:\|.*\n)+", readme, re.M)
    assert table, "docs/safety.md has no exit-code table"
    assert table.group(0).rstrip("\n") == errors.markdown_table(), (
        "docs/safety.md's exit codes differ from guestfix/core/errors.py's EXIT_CODES; paste:\n"
        + errors.markdown_table()
    )


def test_every_error_class_has_its_code():
    for row in errors.EXIT_CODES:
        if row.error is not None:
            assert row.error.exit_code == row.code
    classes = {
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.GuestfixError)
    }
    in_table = {row.error for row in errors.EXIT_CODES if row.error}
    assert in_table <= classes
    # a narrower class keeps the code of the one in the table it refines
    for c in classes - in_table:
        assert c.__mro__[1] in in_table, c
        assert c.exit_code == c.__mro__[1].exit_code


def test_first_line():
    assert errors.first_line(RuntimeError("\n  one \ntwo")) == "one"
    assert errors.first_line(RuntimeError("")) == "RuntimeError"
    assert errors.first_line(RuntimeError(" \n ")) == "RuntimeError"


def test_usage_error_exit_2():
    r = guestfix("fix", "--no-such-option")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def _interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "argv, target, says",
    [
        (
            ["inspect", "d.img"],
            "guestfix.sources.disks.resolve",
            "interrupted; nothing was written",
        ),
        (["boot-check", "d.img"], "guestfix.sources.disks.resolve", "the disks were only read"),
        (
            ["fix", "--yes", "d.img"],
            "guestfix.sources.disks.resolve",
            "unless the commit had begun",
        ),
        (
            ["xml", "d.xml"],
            "guestfix.domain.model.read_text_file",
            "interrupted; nothing was written",
        ),
        (["define", "d.xml"], "guestfix.domain.model.read_text_file", "interrupted"),
        (
            ["backup", "d.img", "--to", "out"],
            "guestfix.disks.backup.backup",
            "had written were removed",
        ),
        (
            ["migrate", "d.xml", "-o", "local", "-os", "out", "--yes", "--log", "{log}"],
            "guestfix.migrate.migrate",
            "the originals were only read",
        ),
        (["recover", "--finish", "d.img"], "guestfix.fix.transaction.recover", "recover again"),
    ],
)
def test_interrupt_message_fits_the_command(argv, target, says, monkeypatch, capsys, tmp_path):
    """Ctrl-C (or SIGTERM) ends with 130 and one line that is true of the command."""
    import signal

    from guestfix import cli

    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(__import__(module, fromlist=[name]), name, _interrupt)
    # main() installs its own SIGTERM/SIGHUP handlers; put pytest's back.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with pytest.raises(SystemExit) as ended:
            cli.main([a.format(log=tmp_path / "m.log") for a in argv])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    lines = capsys.readouterr().err.strip().splitlines()
    assert ended.value.code == 130
    assert lines == [cli.interrupt_message(argv[0])] and says in lines[0]


def test_every_command_has_an_interrupt_message():
    from guestfix import cli

    assert set(cli.cli.commands) == set(cli.AFTER_INTERRUPT)
