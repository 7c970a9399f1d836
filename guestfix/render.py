"""Human-readable output (rich) for the commands' results."""

import os

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from .domain import convert

console = Console()


def inspection(r):
    t = Table(title="guest", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("OS", f"{r['product']} ({r['distro']} {r['version']}, {r['arch']})")
    t.add_row("family / packages", f"{r['family']} / {r['package_format']}")
    t.add_row(
        "init",
        f"{r['init']}" + (f" (systemd {r['systemd_version']})" if r["systemd_version"] else ""),
    )
    t.add_row("root", r["root"])
    t.add_row("mounts", ", ".join(f"{mp} {dev}" for mp, dev in sorted(r["mountpoints"].items())))
    t.add_row(
        "disks",
        ", ".join(
            f"{d['target']} -> {d['virtio']} {d['path']} ({d['format']})" for d in r["disks"]
        ),
    )
    for k in r["kernels"]:
        flags = [
            "Xen-only" if k["xen_only"] else "",
            "virtio" if k["has_virtio"] else "no virtio",
            ("initrd: " + " ".join(k["initrd_drivers"])) if k["initrd_drivers"] else "",
        ]
        mark = " (boot)" if k["version"] == r["boot_kernel"] else ""
        t.add_row(f"kernel{mark}", f"{k['version']}  " + ", ".join(f for f in flags if f))
    boot = r["bootloader"] or "none found"
    if r["grub_cfg"]:
        boot += f" ({r['grub_cfg']})"
    t.add_row("boot loader", boot)
    installed = [f"GRUB 2 for {', '.join(r['grub2_platforms'])}"] if r["grub2_platforms"] else []
    installed += ["GRUB legacy"] if r["grub_legacy"] else []
    t.add_row("boot loaders installed", ", ".join(installed) or "none")
    t.add_row("boot code on disk", "yes" if r["boot_code"] else "no (pygrub-style)")
    t.add_row("partition table", r["partition_table"] or "none (partitionless)")
    t.add_row("initrd tool", r["initrd_tool"] or "unknown")
    t.add_row("NIC names expected", ", ".join(r["nic_names"]) or "-")
    if r.get("selinux"):
        t.add_row("SELinux", r["selinux"])
    for p in r.get("missing_packages", []):
        t.add_row(
            f"needs {p['role']}",
            f"[bold red]{p['name']}[/bold red]: {p['why']} (fix --package FILE|DIR, or --online)",
        )
    console.print(t)
    refs = Table(title=f"Xen references ({len(r['xen_references'])})", title_justify="left")
    refs.add_column("where")
    refs.add_column("kind")
    refs.add_column("text", overflow="fold")
    for ref in r["xen_references"]:
        where = f"{ref['path']}:{ref['line']}" if ref["line"] else ref["path"]
        refs.add_row(where, ref["kind"], ref["text"])
    console.print(refs)
    fx = Table(title="fix-ups `guestfix fix` would apply", title_justify="left")
    fx.add_column("step")
    fx.add_column("changes", overflow="fold")
    for f in r["fixups"]:
        fx.add_row(f["title"], "\n".join(f["changes"]))
    console.print(fx)
    for n in r["notes"]:
        console.print(f"[yellow]note:[/yellow] {n}", highlight=False)


def changes(report, diffs=True):
    for c in report.changes:
        console.print(f"[bold]{c.step}[/bold]: {c.summary}", highlight=False)
        if diffs:
            console.print(Syntax(c.diff(), "diff", theme="ansi_dark", word_wrap=True))


def fix_report(report, diffs=False):
    if diffs:
        changes(report, diffs=True)
    if not report.changes:
        console.print("[green]Nothing to change:[/green] the guest is already fixed for KVM.")
    elif report.dry_run:
        console.print(
            f"[yellow]dry run:[/yellow] {len(report.changes)} change(s) shown; "
            "the disks were not changed."
        )
    elif report.committed:
        console.print(
            f"[green]Fixed:[/green] {len(report.changes)} change(s) written to "
            + ", ".join(d.path for d in report.disks)
        )
    for n in report.notes:
        console.print(f"[yellow]note:[/yellow] {n}", highlight=False)
    if report.direct_boot:
        console.print(
            "Direct kernel boot files: "
            + ", ".join(f"{k} {v}" for k, v in report.direct_boot.items()),
            highlight=False,
        )


def boot_result(result):
    colour = "green" if result.passed else "red"
    console.print(
        f"[{colour}]{'PASS' if result.passed else 'FAIL'}[/{colour}] "
        f"boot-check: reached {result.stage} in {result.seconds:.0f}s",
        highlight=False,
    )
    if result.probe:
        t = Table(show_header=False)
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        p = result.probe
        t.add_row(
            "mounts",
            "\n".join(
                f"{m['target']} {m['source']} ({m['fstype']})"
                for m in p.get("mounts", [])
                if m["source"].startswith("/dev/")
            ),
        )
        t.add_row("swap", ", ".join(p.get("swap", [])) or "none")
        t.add_row("failed units", ", ".join(p.get("failed", [])) or "none")
        t.add_row("NICs", ", ".join(f"{n['name']} {n['mac']}" for n in p.get("nics", [])))
        t.add_row(
            "IPv4",
            ", ".join(f"{a['nic']} {a['address']}" for a in p.get("addresses", [])) or "none",
        )
        t.add_row("firmware", result.firmware_kind)
        t.add_row("system state", p.get("state", ""))
        t.add_row("kernel command line", p.get("cmdline", ""))
        console.print(t)
    if not result.passed:
        console.print("[bold]console tail:[/bold]")
        console.print(
            result.tail or "(nothing on the serial console)", markup=False, highlight=False
        )


def migrate_report(r, log_file):
    if r.already_migrated:
        m = r.already_migrated
        console.print(
            f"[green]Already migrated:[/green] {r.name} was migrated from "
            f"{m['source']} on {m['migrated']} (guestfix {m['version']}); "
            "nothing was done.",
            highlight=False,
        )
        return
    if r.dry_run:
        migrate_dry_run(r)
        return
    t = Table(title=f"migrated: {r.name}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for d in r.disks:
        t.add_row(f"disk {d.target}", f"{d.path} ({d.format}) from {d.source}")
    if r.fix_read_from_host:
        t.add_row(
            "read by the fix",
            f"{sum(x['bytes_read'] for x in r.fix_read_from_host) / 1e6:.0f}"
            f" MB in {sum(x['requests'] for x in r.fix_read_from_host)} "
            "ranges over ssh",
        )
    for read in r.read_from_host:
        t.add_row(
            "read from the host",
            f"{read['bytes_read'] / 1e6:.0f} MB in {read['seconds']}s "
            f"({read['mb_per_s']} MB/s, {read['sent_as']})",
        )
    t.add_row("changes in the guest", str(len(r.fix.changes)) if r.fix else "0")
    t.add_row("domain", r.domain_xml)
    if r.firmware:
        t.add_row("firmware", r.firmware)
    t.add_row("stages", ", ".join(f"{s.name} {s.seconds}s" for s in r.stages))
    if r.early:
        t.add_row("downtime", f"{r.downtime_seconds:.0f}s (source handed over -> guest started)")
        for d in r.early["disks"]:
            t.add_row(
                f"copied {d['target']}",
                f"on its volume {d['finished_seconds']:.0f}s after the start",
            )
    if r.boot:
        t.add_row(
            "boot-check",
            f"{'PASS' if r.boot.passed else 'FAIL'} ({r.boot.stage}, {r.boot.seconds:.0f}s)",
        )
    t.add_row("log", log_file)
    console.print(t)
    if r.early:
        console.print(f"{r.name} is running on its pool volumes.", highlight=False)
    elif r.defined:
        console.print(f"Start it with: virsh start {r.name}", highlight=False)
    else:
        console.print(f"Define it with: guestfix define {r.domain_xml}", highlight=False)
    for n in r.fix.notes if r.fix else []:
        console.print(f"[yellow]note:[/yellow] {n}", highlight=False)


def migrate_dry_run(r):
    if r.fix:
        changes(r.fix, diffs=True)
    diff = convert.unified_diff(r.domain_before, r.domain_after, f"{r.name}.xml")
    console.print(Syntax(diff, "diff", theme="ansi_dark", word_wrap=True))
    console.print(
        f"[yellow]dry run:[/yellow] {len(r.fix.changes) if r.fix else 0} change(s) "
        f"in the guest and the KVM domain above; nothing was written."
    )


def resumed(result):
    for d in result["disks"]:
        console.print(
            f"{d['target']}: on {d['volume']} ({d['finished']:.0f}s after the start)",
            highlight=False,
        )
    console.print(
        f"{result['name']} is running on its pool volumes; its overlays were removed.",
        highlight=False,
    )


def backup_report(report):
    """`guestfix backup`: each copy with its checksums, then where the manifest is."""
    for d in report.disks:
        console.print(
            f"{d.source} -> {os.path.join(report.directory, d.file)}  sha256 {d.sha256}"
            + (f"  md5 {d.md5}" if d.md5 else ""),
            highlight=False,
            soft_wrap=True,
        )
        if d.read_from_host:
            r = d.read_from_host
            console.print(
                f"  read {r['bytes_read']} bytes from the host in {r['seconds']} s "
                f"({r['mb_per_s']} MB/s, {r['sent_as']})",
                highlight=False,
            )
    console.print(
        f"backup verified in {report.seconds:.1f}s: {report.directory}/manifest.json",
        highlight=False,
        soft_wrap=True,
    )
