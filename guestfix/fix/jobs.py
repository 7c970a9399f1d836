"""Commands left running inside the guest while the next steps run.

A job is started with a shell that detaches the command and returns at
once; the command's exit status and output land in a directory of the
guest's /tmp, which `wait` polls. Used through GuestSession.start/wait.
"""

import time
from dataclasses import dataclass

from ..core.runner import CommandResult

# The shell sees only this constant text; the directory and the job's argv
# (which may hold guest-derived words such as a kernel version) arrive as
# positional parameters and are never parsed as shell code.
#
# libguestfs bind-mounts /dev, /proc and /sys into the guest for each
# command and unmounts them when the command returns. The descriptors
# opened first, inherited by the job, keep those mounts busy so they stay
# while the job runs; `umount_all` at the end removes them.
BACKGROUND_SCRIPT = (
    "dir=$1; shift\n"
    "exec 7</dev/null 8</proc/self/stat 9</sys/kernel/uevent_seqnum\n"
    '( "$@" >"$dir/output" 2>&1; echo $? >"$dir/status.new"; mv "$dir/status.new" "$dir/status" )'
    " </dev/null >/dev/null 2>&1 &\n"
)

# the end of the output is what an error message needs; all of it could
# exceed what one libguestfs message carries
OUTPUT_LINES = 40


@dataclass
class Job:
    argv: list
    directory: str


class BackgroundJobs:
    """The jobs started in one session, through its file and command
    primitives."""

    def __init__(self, session):
        self.session = session
        self.running = []

    def start(self, argv):
        """Start argv and return at once with a Job; None when the guest has
        no /tmp for the job's status (the caller runs it normally)."""
        s = self.session
        base = next((d for d in ("/tmp", "/var/tmp") if s.is_dir(d)), None)
        if base is None:
            return None
        job = Job(
            argv=[str(a) for a in argv], directory=s.make_temp_dir(f"{base}/guestfix-XXXXXX")
        )
        started = s.run(["sh", "-c", BACKGROUND_SCRIPT, "guestfix-job", job.directory] + job.argv)
        if not started.ok:
            raise RuntimeError(started.stderr)  # as libguestfs reports it
        self.running.append(job)
        return job

    def wait(self, job, poll=0.5):
        """Wait for a started job; its CommandResult (output as stderr)."""
        s = self.session
        status = f"{job.directory}/status"
        while not s.exists(status):
            time.sleep(poll)
        code = int((s.read_text(status) or "").strip() or 1)
        output = "\n".join(s.tail(f"{job.directory}/output", OUTPUT_LINES))
        s.remove_tree(job.directory)
        self.running.remove(job)
        return CommandResult(job.argv, code, output if code == 0 else "", output)

    def wait_all(self):
        for job in list(self.running):
            self.wait(job)

    def forget(self):
        """The session is gone, and the jobs with it."""
        self.running = []
