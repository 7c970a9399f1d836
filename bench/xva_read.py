"""Benchmark 7: an XVA read once. `guestfix migrate -i xva` of guest (a)
exported as `xe vm-export` writes it (tests/xva_writer.py, a stand-in for
xapi): its `read` stage (the tar read as a stream, every chunk's SHA-1
checked, the disk written sparse into its final file) against `tar -xf`
of the same file (which writes the chunk files and checks nothing), each
from a cold page cache; the whole migrate's time beside it."""

import json
import os
import shutil
import sys

from lib import GUESTFIX, REPO, build_sample, drop_caches, log, median, timed

sys.path.insert(0, os.path.join(REPO, "tests"))
from xva_writer import pv_vm, write_xva


def export_of_a(workdir):
    """(a) as an XVA (kept between runs, as the image cache keeps (a))."""
    xva = os.path.join(workdir, "a.xva")
    if not os.path.exists(xva):
        disk = os.path.join(os.path.dirname(build_sample("a")), "xenguest-a-xvda.img")
        disks = [{"path": disk, "size": os.path.getsize(disk), "device": "xvda", "userdevice": 0}]
        nics = [{"mac": "00:16:3e:5a:11:01", "device": 0, "bridge": "xenbr0"}]
        write_xva(xva + ".part", pv_vm(name="xva-a"), disks, nics)
        os.replace(xva + ".part", xva)
    return xva


def run(workdir, runs):
    xva = export_of_a(workdir)
    out = os.path.join(workdir, "xva-out")
    times = {"read": [], "migrate": [], "tar -xf": []}
    for i in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        drop_caches()
        seconds, proc = timed(
            GUESTFIX + ["migrate", "-i", "xva", xva, "-o", "local", "-os", out, "--yes", "--json"]
        )
        report = json.loads(proc.stdout)
        times["read"].append(next(s["seconds"] for s in report["stages"] if s["name"] == "read"))
        times["migrate"].append(seconds)
        bytes_read = report["read_from_export"]["bytes_read"]
        shutil.rmtree(out)
        os.makedirs(out)
        drop_caches()
        seconds, _ = timed(["tar", "-xf", xva, "-C", out])
        times["tar -xf"].append(seconds)
        shutil.rmtree(out)
        log(
            f"xva run {i + 1}/{runs}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items())
        )
    return {
        "runs_count": runs,
        "size": os.path.getsize(xva),
        "bytes_read": bytes_read,
        "runs": times,
        "medians": {k: median(v) for k, v in times.items()},
    }
