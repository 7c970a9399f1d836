"""`qemu-img convert` with its progress shown through a monitor."""

import os
import re
import subprocess

from ..core import faults
from ..core.errors import ToolError
from ..core.faults import fault_point
from ..core.runner import run

_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


def convert(src, src_format, dst, dst_format, monitor, size, preallocate=False, create=True):
    """Copy image `src` (with its backing chain) into `dst`. With `create`,
    qemu-img makes dst; otherwise dst exists (a pool volume) and is
    written over (-n). An interrupted copy kills qemu-img before returning,
    so the caller can remove the partial output."""
    argv = ["qemu-img", "convert", "-p", "-f", src_format, "-O", dst_format]
    if preallocate and create:
        argv += ["-o", "preallocation=falloc"]
    if not create:
        argv.append("-n")
    argv += [src, dst]
    with monitor.transfer(f"copying to {os.path.basename(dst)}", size) as advance:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            done, buf = 0.0, b""
            fault_point(faults.COPYING)
            while True:
                chunk = proc.stdout.read1(256)
                if not chunk:
                    break
                buf = (buf + chunk)[-256:]
                found = _PROGRESS.findall(buf)
                if found:
                    pct = float(found[-1])
                    if pct > done:
                        advance(int((pct - done) / 100 * size))
                        done = pct
        except BaseException:
            proc.kill()  # stop writing before the partial output is removed
            proc.wait()
            raise
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        if proc.wait() != 0:
            raise ToolError(
                f"qemu-img convert to {dst} failed: "
                f"{err.splitlines()[-1] if err else proc.returncode}"
            )


def commit_into(overlay, base, base_format):
    """Write the clusters of the qcow2 `overlay` into `base`, a verified
    copy of the image the overlay was made over. Rebasing with -u only
    rewrites the overlay's header, which is right because the data under
    it is the same (the copy's checksum matched the original's)."""
    run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-F", base_format, "-b", base, overlay])
    run(["qemu-img", "commit", "-q", "-f", "qcow2", "-d", overlay])
