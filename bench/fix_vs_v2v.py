"""Benchmark 1: `guestfix fix` against `virt-v2v -i libvirtxml -o local` on
fresh copies of the same sample guest, runs interleaved; then whether
each tool's result boots to a login prompt (guestfix boot-check)."""

import json
import os
import shutil

from lib import GUESTFIX, boot_check, build_sample, copy_guest, drop_caches, log, median, timed


def run(workdir, runs, layouts=("a", "b")):
    results = {}
    for layout in layouts:
        xml = build_sample(layout)
        fix_s, v2v_s, reports, v2v_failed = [], [], [], ""
        for i in range(runs):
            fixed = copy_guest(xml, os.path.join(workdir, f"fix-{layout}"))
            drop_caches()
            seconds, proc = timed(GUESTFIX + ["fix", "--yes", "--json", "--domain", fixed])
            fix_s.append(seconds)
            reports.append(json.loads(proc.stdout))
            log(f"({layout}) run {i + 1}/{runs}: guestfix fix {seconds:.1f} s")

            source = copy_guest(xml, os.path.join(workdir, f"v2v-{layout}"))
            out = os.path.join(workdir, f"v2v-{layout}-out")
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            drop_caches()
            seconds, proc = timed(
                ["virt-v2v", "-i", "libvirtxml", source, "-o", "local", "-os", out], check=False
            )
            if proc.returncode != 0:
                v2v_failed = (proc.stderr.strip().splitlines() or ["?"])[-1]
            v2v_s.append(seconds)
            log(f"({layout}) run {i + 1}/{runs}: virt-v2v {seconds:.1f} s")
        v2v_xml = os.path.join(out, os.path.basename(xml))
        fix_boot = boot_check(fixed)
        v2v_boot = boot_check(v2v_xml) if not v2v_failed else (False, "virt-v2v failed")
        log(f"({layout}) boot-check: guestfix {fix_boot}, virt-v2v {v2v_boot}")
        results[layout] = {
            "runs_count": runs,
            "guestfix_s": fix_s,
            "virt_v2v_s": v2v_s,
            "guestfix_median": median(fix_s),
            "virt_v2v_median": median(v2v_s),
            "ratio": median(fix_s) / median(v2v_s),
            "guestfix_boots": fix_boot,
            "virt_v2v_boots": v2v_boot,
            "virt_v2v_error": v2v_failed,
            "fix_reports": [
                {
                    "seconds": r["seconds"],
                    "launch_seconds": r["launch_seconds"],
                    "timings": r["timings"],
                }
                for r in reports
            ],
        }
        shutil.rmtree(os.path.dirname(fixed), ignore_errors=True)
        shutil.rmtree(os.path.dirname(source), ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    return results
