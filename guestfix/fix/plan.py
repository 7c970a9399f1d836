"""Changes a step wants made inside the guest, and how they are applied.

The dry-run diff, the JSON report, the interactive confirmation and the
real run all come from these objects, so they cannot disagree.
"""

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.errors import StepError


@dataclass
class Change:
    step: str
    summary: str

    # a command still running in the background (see GuestCommand)
    pending = False

    @property
    def target(self):
        return ""

    def diff(self):
        return ""

    def apply(self, session):
        raise NotImplementedError

    def as_dict(self):
        return {
            "step": self.step,
            "kind": self.kind,
            "target": self.target,
            "summary": self.summary,
            "diff": self.diff(),
        }


@dataclass
class FileEdit(Change):
    path: str = ""
    before: str | None = None  # None: the file is created
    after: str | None = None  # None: the file is removed
    mode: int = 0o644
    kind = "edit"

    @property
    def target(self):
        return self.path

    def diff(self):
        before = [] if self.before is None else self.before.splitlines(keepends=True)
        after = [] if self.after is None else self.after.splitlines(keepends=True)
        lines = difflib.unified_diff(
            before,
            after,
            fromfile="/dev/null" if self.before is None else "a" + self.path,
            tofile="/dev/null" if self.after is None else "b" + self.path,
        )
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )

    def apply(self, session):
        if self.after is None:
            session.remove(self.path)
            return
        parent = self.path.rsplit("/", 1)[0] or "/"
        if not session.exists(parent):
            session.mkdir_p(parent)
        session.write_text(self.path, self.after, self.mode)


@dataclass
class RemoveLink(Change):
    path: str = ""
    points_to: str = ""
    kind = "remove-link"

    @property
    def target(self):
        return self.path

    def diff(self):
        return f"remove symlink {self.path} -> {self.points_to}\n"

    def apply(self, session):
        session.remove(self.path)


@dataclass
class MakeLink(Change):
    path: str = ""
    points_to: str = ""
    kind = "make-link"

    @property
    def target(self):
        return self.path

    def diff(self):
        return f"create symlink {self.path} -> {self.points_to}\n"

    def apply(self, session):
        session.symlink(self.points_to, self.path)


@dataclass
class GuestCommand(Change):
    """A program run inside the guest. `verify`, if given, checks the
    result afterwards and raises StepError when it is not what we need.

    With `background`, apply() only starts it (where the session can) and
    the runner calls finish() once the later steps have run: they overlap
    with it on the appliance's other CPU. Only a command that no later step
    depends on may be marked so."""

    argv: list = field(default_factory=list)
    display: str = ""  # argv as shown to the user
    verify: Callable | None = None
    background: bool = False
    kind = "command"

    def __post_init__(self):
        self.job = None

    @property
    def target(self):
        return self.display or " ".join(self.argv)

    def diff(self):
        return f"run in guest: {self.target}\n"

    def apply(self, session):
        if self.background:
            self.job = session.start(self.argv)
            if self.job is not None:
                return None
        return self._check(session, session.run(self.argv))

    @property
    def pending(self):
        return self.job is not None

    def finish(self, session):
        """Wait for a command started in the background and check it."""
        job, self.job = self.job, None
        return self._check(session, session.wait(job))

    def _check(self, session, result):
        if not result.ok:
            raise StepError(f"{self.step}: `{self.target}` failed: {result.error_lines()}")
        if self.verify:
            self.verify(session)
        return result


def edit(step, summary, path, before, after, mode=0o644):
    """A FileEdit, or None when the text is unchanged."""
    if before == after:
        return None
    return FileEdit(step=step, summary=summary, path=path, before=before, after=after, mode=mode)
