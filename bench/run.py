"""`make bench`: guestfix against virt-v2v and the guide's manual route,
same machine, same images, medians of several runs.

    python bench/run.py [--runs N] [--only backup,remote,xva,migrate,downtime,profile,fix]
                        [--layouts a,b]

Results go to bench/results.json, bench/RESULTS.md and docs/benchmarks.md's
benchmark section. Needs root (page-cache drops, libvirtd) and the
packages `make bench` installs (virt-v2v, nbdkit, nbdcopy)."""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import backup_vs_cp
import downtime
import fix_vs_v2v
import migrate_vs_manual
import profile_fix
import remote_copy
import report
import xva_read
from lib import REPO, BenchError, log, machine_info

PARTS = ("backup", "remote", "xva", "migrate", "downtime", "profile", "fix")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(PARTS))
    ap.add_argument("--layouts", default="a,b", help="sample guests for fix and profile")
    ap.add_argument("--workdir", default="/var/tmp/guestfix-bench")
    ap.add_argument("--out", default=os.path.join(REPO, "bench"))
    ap.add_argument(
        "--readme",
        default=os.path.join(REPO, "docs", "benchmarks.md"),
        help="Markdown file whose benchmark section is replaced ('' for none)",
    )
    args = ap.parse_args()
    parts = [p for p in args.only.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    layouts = tuple(layout for layout in args.layouts.split(",") if layout)
    os.makedirs(args.workdir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    raw = os.path.join(args.out, "results.json")
    data = {}
    if os.path.exists(raw) and (set(parts) != set(PARTS) or args.layouts != "a,b"):
        with open(raw) as f:
            data = json.load(f)  # a partial run updates the earlier one
    data["machine"] = machine_info()
    # cheapest first; the results are saved after each part
    runners = {
        "backup": lambda: backup_vs_cp.run(args.workdir, args.runs),
        "remote": lambda: remote_copy.run(args.workdir, args.runs),
        "xva": lambda: xva_read.run(args.workdir, args.runs),
        "migrate": lambda: migrate_vs_manual.run(args.workdir, args.runs),
        "downtime": lambda: downtime.run(args.workdir, args.runs),
        "profile": lambda: profile_fix.run(args.workdir, args.runs, layouts),
        "fix": lambda: fix_vs_v2v.run(args.workdir, args.runs, layouts),
    }
    keys = {
        "backup": "backup_vs_cp",
        "remote": "remote_copy",
        "xva": "xva_read",
        "migrate": "migrate_vs_manual",
        "downtime": "downtime",
        "profile": "profile",
        "fix": "fix_vs_v2v",
    }
    for part in PARTS:
        if part not in parts:
            continue
        try:
            result = runners[part]()
        except BenchError as e:
            sys.exit(f"bench: {e}")
        if part in ("fix", "profile"):  # per layout
            data.setdefault(keys[part], {}).update(result)
        else:
            data[keys[part]] = result
        # a partial run keeps the other parts' numbers: each says when
        when = f"{data['machine']['date']} at {data['machine']['guestfix']}"
        stamps = data.setdefault("measured", {})
        if part in ("fix", "profile"):
            stamps.update({f"{keys[part]} ({layout})": when for layout in result})
        else:
            stamps[keys[part]] = when
        with open(raw, "w") as f:
            json.dump(data, f, indent=1)
        text = report.write(data, os.path.join(args.out, "RESULTS.md"), args.readme)
    print(text)
    log(
        f"results in {args.out}/RESULTS.md and results.json"
        + (f", and in {args.readme}" if args.readme else "")
    )


if __name__ == "__main__":
    main()
