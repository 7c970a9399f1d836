"""What steps and fact gathering may do with a guest: read its files and
run its programs.

GuestSession provides it over libguestfs, the tests' MemoryGuest over a
dict of files; both satisfy GuestTree.
"""

from typing import Protocol, runtime_checkable

from ..core.runner import CommandResult

# Where a guest's programs are looked for; on usrmerge guests /sbin and /bin
# are links into /usr, so each program is found either way.
PROGRAM_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


@runtime_checkable
class GuestTree(Protocol):
    """Guest paths in, guest content out; nothing here changes the guest."""

    def read_text(self, path: str) -> str | None:
        """Text of a file, or None when there is none."""

    def exists(self, path: str) -> bool: ...

    def is_file(self, path: str) -> bool:
        """A regular file (a symlink is not)."""

    def is_dir(self, path: str) -> bool: ...

    def is_symlink(self, path: str) -> bool: ...

    def readlink(self, path: str) -> str: ...

    def ls(self, path: str) -> list:
        """Sorted names in a directory; [] when it is not one."""

    def glob(self, pattern: str) -> list: ...

    def run(self, argv: list) -> CommandResult:
        """argv run inside the guest; never raises for a failure."""


def program_path(guest, name):
    """Where the guest has the program `name`, or None."""
    return next((f"{d}/{name}" for d in PROGRAM_DIRS if guest.exists(f"{d}/{name}")), None)


def has_program(guest, name):
    return program_path(guest, name) is not None
