"""Benchmark 5: reading a guest's disks from a Xen host over ssh.

`guestfix backup -i xl -ic ssh://HOST CFG` (the copy migrate makes: the
disk streamed once, zero blocks not written, checksummed on the way and
against the host's sha1sum) against a plain `ssh HOST cat DISK >
/dev/null` of the same disk, which writes nothing and checks nothing,
with ssh's default cipher (chacha20-poly1305) and with the AES-GCM that
guestfix asks for first on a CPU with AES-NI. The
host is the tests' stand-in (tests/xenhost.py: a real sshd on 127.0.0.1,
the disks in its private tmpfs), so the network is loopback: the numbers
measure guestfix's overhead over ssh itself, not a link.

Disks: a block device (a loop device) and a sparse image file, both
BLOCK_SIZE / FILE_SIZE with DATA bytes of random data spread over them.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time

from lib import GUESTFIX, REPO, drop_caches, log, median, sparse_image, timed

sys.path.insert(0, os.path.join(REPO, "tests"))
from xenhost import XenHost

BLOCK_SIZE = 2 << 30
FILE_SIZE = 8 << 30
DATA = 1 << 30
EXTENT = 8 << 20
# the cipher guestfix asks for first on a CPU with AES-NI (ssh/host.py)
AES_GCM = "aes128-gcm@openssh.com"
DISKS = {"block device": "/srv/xen/vg0/bench-root", "image file": "/srv/xen/images/bench-data.img"}


def run(workdir, runs):
    root = sparse_image(os.path.join(workdir, "remote-root.img"), BLOCK_SIZE, DATA // EXTENT)
    data = sparse_image(os.path.join(workdir, "remote-data.img"), FILE_SIZE, DATA // EXTENT)
    cfg = (
        'name = "bench"\nmemory = 512\n'
        f"disk = [ 'phy:{DISKS['block device']},xvda,w', "
        f"'file:{DISKS['image file']},xvdb,w' ]\n"
    )
    shutil.rmtree(os.path.join(workdir, "xenhost"), ignore_errors=True)
    host = XenHost(os.path.join(workdir, "xenhost")).start(
        files={"bench.cfg": cfg, "images/bench-data.img": data}, block_devices={"bench-root": root}
    )
    results = {
        label: {"guestfix": [], "cat": [], "cat_aes_gcm": [], "bytes_read": None}
        for label in DISKS
    }
    try:
        for i in range(runs):
            dest = os.path.join(workdir, "remote-backup")
            shutil.rmtree(dest, ignore_errors=True)
            drop_caches()
            _, proc = timed(
                host.client_argv(
                    GUESTFIX
                    + [
                        "backup",
                        "-i",
                        "xl",
                        "-ic",
                        host.uri,
                        "/srv/xen/bench.cfg",
                        "--to",
                        dest,
                        "--json",
                    ]
                )
            )
            for entry, label in zip(json.loads(proc.stdout)["disks"], DISKS):
                read = entry["read_from_host"]
                results[label]["guestfix"].append(read["seconds"])
                results[label]["bytes_read"] = read["bytes_read"]
                results[label]["sent_as"] = read["sent_as"]
            shutil.rmtree(dest, ignore_errors=True)
            for label, path in DISKS.items():
                for key, cipher in (("cat", []), ("cat_aes_gcm", ["-c", AES_GCM])):
                    drop_caches()
                    started = time.monotonic()
                    subprocess.run(
                        host.client_argv(
                            ["ssh", "-o", "BatchMode=yes", *cipher, "xenhost"]
                            + [f"cat {shlex.quote(path)}"]
                        ),
                        stdout=subprocess.DEVNULL,
                        check=True,
                    )
                    results[label][key].append(time.monotonic() - started)
            log(
                f"remote run {i + 1}/{runs}: "
                + ", ".join(
                    f"{label}: guestfix {r['guestfix'][-1]:.1f} s, cat {r['cat'][-1]:.1f} s"
                    for label, r in results.items()
                )
            )
    finally:
        host.stop()
    sizes = {"block device": BLOCK_SIZE, "image file": FILE_SIZE}
    for label, r in results.items():
        r.update(
            size=sizes[label],
            data=DATA,
            guestfix_median=median(r["guestfix"]),
            cat_median=median(r["cat"]),
            cat_aes_gcm_median=median(r["cat_aes_gcm"]),
        )
    return {"runs_count": runs, "disks": results}
