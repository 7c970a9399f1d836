"""Benchmark 4: `guestfix fix` against its floor. The floor: a bare
`guestfish --ro -a IMAGE run` (what any libguestfs tool pays to start), and
the guest's own regeneration run alone in an appliance set up as guestfix
sets up its own: the initrd rebuild and grub.cfg regeneration, with the
commands fix runs. Each run measures the floor and then `guestfix fix` on
a fresh copy, back to back, so that both see the machine as it is then
(under TCG on a shared host, a run's speed drifts by 10-20% over minutes)."""

import json
import os

import guestfs
from lib import GUESTFIX, build_sample, copy_guest, disk_paths, drop_caches, log, median, timed

from guestfix.fix.facts import Kernel
from guestfix.fix.session import tcg_requested, vcpus
from guestfix.fix.steps.regenerate_initrd import rebuild_argv


def bare_launch(image):
    seconds, _ = timed(["guestfish", "--ro", "-a", image, "run"])
    return seconds


def lone_regeneration(image):
    """Seconds of (initrd rebuild, grub.cfg regeneration) in one appliance."""
    import time

    g = guestfs.GuestFS(python_return_dict=True)
    if tcg_requested():
        g.set_backend_settings(list(g.get_backend_settings()) + ["force_tcg"])
    g.set_smp(vcpus(tcg_requested()))  # as guestfix's session does
    g.set_memsize(2048)
    g.add_drive_opts(image, format="raw", readonly=True)  # writes go to a throwaway overlay
    g.launch()
    try:
        root = g.inspect_os()[0]
        for mp, dev in sorted(g.inspect_get_mountpoints(root).items(), key=lambda m: len(m[0])):
            g.mount(dev, mp)
        version = sorted(g.ls("/lib/modules"))[-1]
        initrd = f"/boot/initrd.img-{version}"
        tool = "dracut" if g.exists("/usr/bin/dracut") else "initramfs-tools"
        argv = rebuild_argv(
            tool, Kernel(version, f"/boot/vmlinuz-{version}", initrd, False, True), initrd
        )
        started = time.monotonic()
        g.command(argv)
        initrd_s = time.monotonic() - started
        started = time.monotonic()
        g.command(["update-grub"])
        grub_s = time.monotonic() - started
        return initrd_s, grub_s, " ".join(argv)
    finally:
        g.close()


def run(workdir, runs, layouts=("a", "b")):
    results = {}
    for layout in layouts:
        xml = build_sample(layout)
        image = disk_paths(xml)[0]
        launch, initrd, grub, fix_s, reports = [], [], [], [], []
        for i in range(runs):
            drop_caches()
            launch.append(bare_launch(image))
            drop_caches()
            i_s, g_s, command = lone_regeneration(image)
            initrd.append(i_s)
            grub.append(g_s)
            fixed = copy_guest(xml, os.path.join(workdir, f"floor-fix-{layout}"))
            drop_caches()
            seconds, proc = timed(GUESTFIX + ["fix", "--yes", "--json", "--domain", fixed])
            fix_s.append(seconds)
            reports.append(json.loads(proc.stdout))
            log(
                f"({layout}) floor run {i + 1}/{runs}: launch {launch[-1]:.1f} s, "
                f"initrd {i_s:.1f} s, grub.cfg {g_s:.1f} s; guestfix fix {seconds:.1f} s"
            )
        results[layout] = {
            "runs_count": runs,
            "bare_launch_s": launch,
            "initrd_s": initrd,
            "grub_cfg_s": grub,
            "initrd_command": command,
            "floor": median(launch) + median(initrd) + median(grub),
            "fix_s": fix_s,
            "fix_median": median(fix_s),
            "fix_reports": reports,
        }
    return results
