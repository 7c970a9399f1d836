"""One exception base, narrow subclasses, each with its documented exit code.

The CLI prints `str(error)` as a single line and exits with `exit_code`;
tracebacks are only shown with --debug.
"""


class GuestfixError(Exception):
    """Base of every error guestfix reports to the user."""

    exit_code = 1

    def __init__(self, message, hint=None, quiet=False):
        super().__init__(message)
        self.hint = hint
        self.quiet = quiet      # already reported (e.g. in a JSON report)

    def __str__(self):
        text = super().__str__()
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(GuestfixError):
    """The command line is wrong: an option outside the mode it belongs to."""

    exit_code = 2


class InputError(GuestfixError):
    """A disk, domain XML or option the user gave cannot be used."""

    exit_code = 3


class DiskLockedError(InputError):
    """A disk is held by a running virtual machine (QEMU's image lock)."""

    exit_code = 4


class UnsupportedGuestError(GuestfixError):
    """The disks hold no operating system guestfix can handle."""

    exit_code = 5


class StepError(GuestfixError):
    """A fix-up step failed; the transaction was rolled back."""

    exit_code = 6


class StepOrderError(GuestfixError):
    """The steps' declared dependencies name a missing step or form a
    circle: a programming error, found before anything runs."""

    exit_code = 1


class BootCheckFailed(GuestfixError):
    """The guest did not reach its login prompt."""

    exit_code = 7


class PendingTransactionError(GuestfixError):
    """An earlier run was killed while committing changes to these disks."""

    exit_code = 8


class ToolError(GuestfixError):
    """A host program guestfix needs is missing or failed."""

    exit_code = 9


class Aborted(GuestfixError):
    """The user declined, or interrupted the run."""

    exit_code = 10
