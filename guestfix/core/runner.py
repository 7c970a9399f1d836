"""Run host programs with an argv list (never a shell) and get a result."""

import shutil
import subprocess
from dataclasses import dataclass

from .errors import ToolError


@dataclass
class CommandResult:
    argv: list
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self):
        return self.returncode == 0

    def last_error_line(self):
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {self.returncode}"

    def error_lines(self, count=4):
        """The last few stderr lines joined, for one-line error messages."""
        lines = [line.strip() for line in self.stderr.strip().splitlines() if line.strip()]
        return " / ".join(lines[-count:]) or f"exit status {self.returncode}"


def run(argv, check=True, input=None, timeout=None):
    """Run argv; with check, a non-zero exit raises ToolError naming it."""
    argv = [str(a) for a in argv]
    if shutil.which(argv[0]) is None:
        raise ToolError(f"{argv[0]} is not installed", hint="run `make setup`")
    proc = subprocess.run(
        argv, input=input, capture_output=True, text=True, timeout=timeout, errors="replace"
    )
    result = CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise ToolError(f"{argv[0]} failed: {result.last_error_line()}")
    return result
