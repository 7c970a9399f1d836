"""Benchmark 3: `guestfix backup` against the guide's B2, `cp
--sparse=always` then `md5sum` of source and copy, on a multi-GB sparse
image, each run from a cold page cache."""

import os
import shutil

from lib import GUESTFIX, drop_caches, log, median, sparse_image, timed

SIZE = 8 << 30  # apparent size
DATA_EXTENTS = 128  # 8 MiB of random data each: 1 GiB allocated
EXTENT = 8 << 20


def run(workdir, runs):
    image = sparse_image(os.path.join(workdir, "sparse-8g.img"), SIZE, DATA_EXTENTS, EXTENT)
    times = {"guestfix backup": [], "guestfix backup --md5": [], "cp + md5sum": []}
    for i in range(runs):
        for label, extra in (("guestfix backup", []), ("guestfix backup --md5", ["--md5"])):
            dest = os.path.join(workdir, "backup")
            shutil.rmtree(dest, ignore_errors=True)
            drop_caches()
            seconds, _ = timed(GUESTFIX + ["backup", image, "--to", dest, "--json"] + extra)
            times[label].append(seconds)
            shutil.rmtree(dest, ignore_errors=True)
        copy = os.path.join(workdir, "cp-copy.img")
        drop_caches()
        seconds, proc = timed(
            [
                "bash",
                "-c",
                'cp --sparse=always "$1" "$2" && md5sum "$1" "$2"',
                "cp-md5",
                image,
                copy,
            ]
        )
        sums = {line.split()[0] for line in proc.stdout.splitlines()}
        assert len(sums) == 1, "cp made a different copy"
        times["cp + md5sum"].append(seconds)
        os.unlink(copy)
        log(
            f"backup run {i + 1}/{runs}: "
            + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items())
        )
    allocated = os.stat(image).st_blocks * 512
    baseline = median(times["cp + md5sum"])
    return {
        "runs_count": runs,
        "size": SIZE,
        "allocated": allocated,
        "runs": times,
        "medians": {k: median(v) for k, v in times.items()},
        "speedup": {k: baseline / median(v) for k, v in times.items() if k != "cp + md5sum"},
    }
