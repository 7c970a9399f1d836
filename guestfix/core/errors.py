"""One exception base, narrow subclasses, and the one table of exit codes.

The CLI prints `str(error)` as a single line and exits with `exit_code`;
tracebacks are only shown with --debug. EXIT_CODES (at the end) gives each
class its code; `guestfix --help` and docs/safety.md's table are made from it.
"""

from collections import namedtuple


class GuestfixError(Exception):
    """Base of every error guestfix reports to the user. Its `exit_code`,
    and each subclass's, comes from EXIT_CODES below."""

    def __init__(self, message, hint=None, quiet=False):
        super().__init__(message)
        self.hint = hint
        self.quiet = quiet  # already reported (e.g. in a JSON report)

    def __str__(self):
        text = super().__str__()
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(GuestfixError):
    """The command line is wrong: an option outside the mode it belongs to."""


class InputError(GuestfixError):
    """A disk, domain XML or option the user gave cannot be used."""


class DiskLockedError(InputError):
    """A disk is in use: held by a running VM (QEMU's image lock) or by
    another guestfix run."""


class DestinationError(InputError):
    """Writing a disk out failed (no room, no permission): the source is
    not to blame."""


class UnsupportedGuestError(GuestfixError):
    """The disks hold no operating system guestfix can handle."""


class MissingPackagesError(UnsupportedGuestError):
    """The guest lacks a kernel or boot loader, and nothing was given to
    install it from (--package, --online). `packages` names them."""

    def __init__(self, message, packages=(), **kw):
        super().__init__(message, **kw)
        self.packages = list(packages)


class StepError(GuestfixError):
    """A fix-up step failed; the transaction was rolled back."""


class StepOrderError(Exception):
    """The steps' declared dependencies name a missing step or form a
    circle: a programming error (not a GuestfixError: the user can do
    nothing about it), found before anything runs."""


class BootCheckFailed(GuestfixError):
    """The guest did not reach its login prompt."""


class PendingTransactionError(GuestfixError):
    """An earlier run was killed while committing changes to these disks."""


class ToolError(GuestfixError):
    """A host program guestfix needs is missing or failed."""


class Aborted(GuestfixError):
    """The user declined, or interrupted the run."""


class LibvirtError(GuestfixError):
    """libvirt refused the request, or could not be reached."""


class BackupMismatch(GuestfixError):
    """A backup copy differs from its source or its manifest."""


class RemoteHostError(GuestfixError):
    """The source host could not be reached over ssh, or stopped answering."""


class CopyIncomplete(GuestfixError):
    """An early-started guest runs, but its disks are not all copied into
    the pool yet (`migrate --resume NAME` finishes)."""


ExitCode = namedtuple("ExitCode", "code meaning error")

# The single table: docs/safety.md's table must match it row for row
# (tests/test_cli_errors.py), and `guestfix --help` prints it.
EXIT_CODES = (
    ExitCode(0, "success", None),
    ExitCode(1, "other error", GuestfixError),
    ExitCode(2, "usage error", UsageError),
    ExitCode(3, "bad input: disk, domain XML or option", InputError),
    ExitCode(4, "a disk is in use by a running VM or another guestfix run", DiskLockedError),
    ExitCode(5, "unsupported or unrecognised guest", UnsupportedGuestError),
    ExitCode(6, "a fix-up step failed (the disks are unchanged)", StepError),
    ExitCode(7, "boot-check: the guest did not reach its login prompt", BootCheckFailed),
    ExitCode(8, "an interrupted commit must be finished or undone first", PendingTransactionError),
    ExitCode(9, "a host tool is missing or failed", ToolError),
    ExitCode(10, "declined at the prompt", Aborted),
    ExitCode(11, "libvirt refused the request or could not be reached", LibvirtError),
    ExitCode(12, "a backup copy does not match its source or manifest", BackupMismatch),
    ExitCode(
        13, "the source host could not be reached over ssh or stopped answering", RemoteHostError
    ),
    ExitCode(
        14,
        "an early-started guest runs but its copy is unfinished (migrate --resume)",
        CopyIncomplete,
    ),
    ExitCode(130, "interrupted (Ctrl-C)", None),
)
INTERRUPTED = 130

for _row in EXIT_CODES:
    if _row.error is not None:
        _row.error.exit_code = _row.code


def help_text():
    """The exit codes as `guestfix --help` shows them (one per line)."""
    return "\n".join(f"{row.code:>3}  {row.meaning}" for row in EXIT_CODES)


def markdown_table():
    """The exit codes as docs/safety.md's table."""
    rows = [f"| {row.code} | {row.meaning} |" for row in EXIT_CODES]
    return "\n".join(["| code | meaning |", "| --- | --- |", *rows])


def first_line(exc):
    """The first non-empty line of an exception's message, for one-line
    errors; the class name when the message is empty."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return exc.__class__.__name__
