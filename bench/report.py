"""The benchmark results as Markdown: bench/RESULTS.md and docs/benchmarks.md's
benchmark section (between its bench markers)."""

import os
import re
import statistics

TARGETS = {
    "fix_vs_v2v": 0.5,  # fix takes at most half of virt-v2v's time on (a)
    "fix_vs_floor": 1.05,  # fix within 5% of launch + the guest's own regeneration
    "backup_speedup": 1.5,  # backup at least 1.5x faster than cp + md5sum
}
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _s(seconds):
    return f"{seconds:.1f} s"


def _met(ok, value, target, lower_is_better=True):
    if ok:
        return "met"
    miss = (value / target - 1) if lower_is_better else (1 - value / target)
    return f"missed by {miss:.0%}"


def _boots(result):
    passed, stage = result
    return "pass" if passed else f"FAIL ({stage})"


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def stage_medians(reports):
    """{stage title: median seconds} over the fix runs, in run order."""
    titles = [t["stage"] for t in reports[0]["timings"]]
    out = {
        "appliance launch (part of the first stage)": statistics.median(
            r["launch_seconds"] for r in reports
        )
    }
    for title in titles:
        values = [sum(t["seconds"] for t in r["timings"] if t["stage"] == title) for r in reports]
        out[title] = statistics.median(values)
    out["total of the fix run (without starting Python)"] = statistics.median(
        r["seconds"] for r in reports
    )
    return out


def markdown(data):
    m = data["machine"]
    lines = [
        f"Measured {m['date']} with `make bench` (medians of the runs each table's "
        "`runs` column gives, each run from a cold page cache) on "
        f"{m['cores']} cores of {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"guests under {m['accel']}; guestfix {m['guestfix']}, virt-v2v {m['virt-v2v']}, "
        f"libguestfs {m['libguestfs']}, QEMU {m['qemu']}.",
    ]
    if data.get("measured"):
        lines += [
            "",
            "Each part as last measured (a partial `make bench` run keeps the others): "
            + "; ".join(f"{part} {when}" for part, when in sorted(data["measured"].items()))
            + ".",
        ]
    lines += [
        "",
    ]
    fix = data.get("fix_vs_v2v")
    if fix:
        lines += [
            "**1. `guestfix fix` vs `virt-v2v -i libvirtxml -o local`** (same guest, "
            "fresh copies; boots = `guestfix boot-check` reaches the login prompt)",
            "",
            "| guest | runs | guestfix fix | virt-v2v | ratio | target | guestfix boots | "
            "virt-v2v boots |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for layout, r in fix.items():
            target = TARGETS["fix_vs_v2v"] if layout == "a" else None
            verdict = (
                f"≤ {target} {_met(r['ratio'] <= target, r['ratio'], target)}" if target else "—"
            )
            lines.append(
                f"| ({layout}) | {r['runs_count']} | {_s(r['guestfix_median'])} | "
                f"{_s(r['virt_v2v_median'])}"
                f" | {r['ratio']:.2f} | {verdict} | {_boots(r['guestfix_boots'])} | "
                f"{_boots(r['virt_v2v_boots'])} |"
            )
        lines.append("")
    mig = data.get("migrate_vs_manual")
    if mig:
        lines += [
            "**2. `guestfix migrate` vs the guide's manual route** (`bench/manual-route.sh`: "
            "cp, md5sum of both, guestfish edits, XML edits, virsh define; guest "
            f"({mig['layout']}), {mig['runs_count']} runs)",
            "",
            "| route | time | ratio | boots |",
            "|---|---|---|---|",
            f"| guestfix migrate -o libvirt | {_s(mig['migrate_median'])} | "
            f"{mig['ratio']:.2f} | {_boots(mig['migrate_boots'])} |",
            f"| manual route | {_s(mig['manual_median'])} | 1.00 | "
            f"{_boots(mig['manual_boots'])} |",
            "",
        ]
    bak = data.get("backup_vs_cp")
    if bak:
        size, alloc = bak["size"] / (1 << 30), bak["allocated"] / (1 << 30)
        base = bak["medians"]["cp + md5sum"]
        lines += [
            f"**3. backup of a {size:.0f} GiB sparse image ({alloc:.1f} GiB allocated)** "
            f"vs `cp --sparse=always` + `md5sum` of source and copy ({bak['runs_count']} runs)",
            "",
            "| command | time | throughput (apparent size) | speed-up | target |",
            "|---|---|---|---|---|",
        ]
        for label, seconds in bak["medians"].items():
            speed = base / seconds
            target = TARGETS["backup_speedup"]
            verdict = (
                "—"
                if label == "cp + md5sum"
                else f"≥ {target}× {_met(speed >= target, speed, target, lower_is_better=False)}"
            )
            lines.append(
                f"| {label} | {_s(seconds)} | {bak['size'] / seconds / (1 << 20):.0f} "
                f"MiB/s | {speed:.2f}× | {verdict} |"
            )
        lines.append("")
    rem = data.get("remote_copy")
    if rem:
        lines += [
            "**5. Reading the disks from a Xen host over ssh**: the stream of "
            "`guestfix backup -i xl -ic ssh://HOST` (written sparse, the image's SHA-256 "
            "on the way, the transfer checked against the host's `sha1sum`) vs `ssh HOST "
            f"cat DISK > /dev/null` of the same disk ({rem['runs_count']} runs), with ssh's "
            "default cipher (chacha20-poly1305) and with `-c aes128-gcm@openssh.com`, "
            "which guestfix asks for first where the CPU has AES-NI and the user's ssh "
            "configuration leaves the ciphers at the default. The host is the tests' sshd "
            "on 127.0.0.1: loopback, not a network link, and the host's side (ssh, tar, "
            "sha1sum) shares this machine's cores with guestfix's. Speed: `ssh cat`'s "
            "time over guestfix's (target: block device ≥ 0.9× `ssh cat`).",
            "",
            "| disk | size (data) | guestfix | bytes sent | `ssh cat` | speed | "
            "`ssh -c aes128-gcm cat` | speed |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label, r in rem["disks"].items():
            g, c = r["guestfix_median"], r["cat_median"]
            aes = r.get("cat_aes_gcm_median")
            lines.append(
                f"| {label} ({r['sent_as']}) | {r['size'] / (1 << 30):.0f} GiB "
                f"({r['data'] / (1 << 30):.0f} GiB) | {_s(g)}, "
                f"{r['size'] / g / 1e6:.0f} MB/s | {r['bytes_read'] / 1e6:.0f} MB | "
                f"{_s(c)}, {r['size'] / c / 1e6:.0f} MB/s | {c / g:.2f}× | "
                + (f"{_s(aes)} | {aes / g:.2f}× |" if aes else "— | — |")
            )
        lines.append("")
    xva = data.get("xva_read")
    if xva:
        m = xva["medians"]
        lines += [
            "**7. An XVA read once**: `guestfix migrate -i xva` of guest (a) exported as "
            "`xe vm-export` writes it (`tests/xva_writer.py`, a stand-in for xapi): its "
            "`read` stage (the tar read as a stream, every chunk's SHA-1 checked, the disk "
            "written sparse into its final file) vs `tar -xf` of the same file, which "
            f"writes the chunk files and checks nothing ({xva['runs_count']} runs, cold "
            "page cache each).",
            "",
            "| export | guestfix read | `tar -xf` | ratio | whole migrate |",
            "|---|---|---|---|---|",
            f"| {xva['size'] / (1 << 20):.0f} MiB ({xva['bytes_read'] / (1 << 20):.0f} MiB "
            f"read) | {_s(m['read'])}, {xva['size'] / m['read'] / 1e6:.0f} MB/s | "
            f"{_s(m['tar -xf'])}, {xva['size'] / m['tar -xf'] / 1e6:.0f} MB/s | "
            f"{m['read'] / m['tar -xf']:.2f} | {_s(m['migrate'])} |",
            "",
        ]
    down = data.get("downtime")
    if down:
        lines += [
            "**6. Downtime, with and without `--start-early`**: guest (a) migrated into a "
            "libvirt pool (a type='qemu' domain), from guestfix's start (the Xen guest "
            "is stopped) to the domain started, and to its login prompt on the serial "
            f"console ({down['runs']} run(s) each). Plain: `migrate` then `virsh start`; "
            "early: `migrate --start-early --boot-check`, whose copy runs after the "
            "start and is held back until the login prompt shows. The large disk's "
            "extra data lies past the guest's partitions.",
            "",
            "| disk | plain: to start | plain: to login | early: to start | "
            "early: to login | early: copy done after start |",
            "|---|---|---|---|---|---|",
        ]
        for label, r in down.items():
            if not isinstance(r, dict):
                continue
            copied = median_of(r["early"], "copied_after_start")
            lines.append(
                f"| {label} | {_s(r['plain_median_to_start'])} | "
                f"{_s(r['plain_median_to_login'])} | {_s(r['early_median_to_start'])}"
                f" | {_s(r['early_median_to_login'])} | {_s(copied)} |"
            )
        growth = down["early_growth"] - 1
        lines += [
            "",
            "Growth of the downtime to login from the small disk to the large: "
            f"plain {down['plain_growth'] - 1:+.0%}, early {growth:+.0%} (target: "
            f"early within ±10%, {'met' if abs(growth) <= 0.1 else 'missed'}).",
            "",
        ]
    prof = data.get("profile")
    if prof and any("fix_reports" in p for p in prof.values()):
        layouts = [layout for layout in prof if "fix_reports" in prof[layout]]
        per = {layout: stage_medians(prof[layout]["fix_reports"]) for layout in layouts}
        titles = list(dict.fromkeys(t for layout in layouts for t in per[layout]))
        lines += [
            "**4. Where `fix` spends its time** (median seconds per stage of the fix "
            "runs below; the initrd rebuild runs in the background from its step on, so "
            "its row shows only the wait after the boot loader steps)",
            "",
            "| stage | " + " | ".join(f"({layout})" for layout in layouts) + " |",
            "|---|" + "---|" * len(layouts),
        ]
        for title in titles:
            lines.append(
                f"| {title} | "
                + " | ".join(
                    f"{per[layout][title]:.1f}" if title in per[layout] else "—"
                    for layout in layouts
                )
                + " |"
            )
        lines += [
            "",
            "The floor: a bare `guestfish --ro -a IMAGE run`, and the guest's own "
            "initrd rebuild and `update-grub` run alone in an appliance set up as "
            "guestfix's (same CPUs and memory). Each run measured the floor and then "
            "`guestfix fix` on a fresh copy, back to back.",
            "",
            "| | " + " | ".join(f"({layout})" for layout in layouts) + " |",
            "|---|" + "---|" * len(layouts),
        ]
        rows = [
            ("runs", lambda p: str(p["runs_count"])),
            ("bare launch", lambda p: _s(statistics.median(p["bare_launch_s"]))),
            ("lone initrd rebuild", lambda p: _s(statistics.median(p["initrd_s"]))),
            ("lone grub.cfg regeneration", lambda p: _s(statistics.median(p["grub_cfg_s"]))),
            ("floor (sum)", lambda p: _s(p["floor"])),
            ("guestfix fix", lambda p: _s(p["fix_median"])),
            ("fix / floor", lambda p: f"{p['fix_median'] / p['floor']:.2f}"),
            (
                f"target ≤ {TARGETS['fix_vs_floor']}",
                lambda p: _met(
                    p["fix_median"] / p["floor"] <= TARGETS["fix_vs_floor"],
                    p["fix_median"] / p["floor"],
                    TARGETS["fix_vs_floor"],
                ),
            ),
        ]
        for label, cell in rows:
            lines.append(
                f"| {label} | " + " | ".join(cell(prof[layout]) for layout in layouts) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def write(data, results_md, readme):
    text = markdown(data)
    with open(results_md, "w") as f:
        f.write(
            "# Benchmark results\n\nWritten by `make bench` (bench/run.py); raw numbers in "
            "results.json.\n\n" + text
        )
    if readme and os.path.exists(readme):
        with open(readme) as f:
            current = f.read()
        if START in current and END in current:
            new = re.sub(
                re.escape(START) + ".*?" + re.escape(END),
                lambda _: f"{START}\n{text}\n{END}",
                current,
                flags=re.S,
            )
            with open(readme, "w") as f:
                f.write(new)
    return text
