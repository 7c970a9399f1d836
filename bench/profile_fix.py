"""Benchmark 4: the floor under `guestfix fix`. A bare `guestfish --ro -a
IMAGE run` (what any libguestfs tool pays to start), and the guest's own
regeneration run alone in an appliance set up as guestfix sets up its own:
the initrd rebuild and grub.cfg regeneration, with the commands fix runs."""

import guestfs
from lib import build_sample, disk_paths, drop_caches, log, median, timed

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


def run(runs, layouts=("a", "b")):
    results = {}
    for layout in layouts:
        image = disk_paths(build_sample(layout))[0]
        launch, initrd, grub = [], [], []
        for i in range(runs):
            drop_caches()
            launch.append(bare_launch(image))
            drop_caches()
            i_s, g_s, command = lone_regeneration(image)
            initrd.append(i_s)
            grub.append(g_s)
            log(
                f"({layout}) floor run {i + 1}/{runs}: launch {launch[-1]:.1f} s, "
                f"initrd {i_s:.1f} s, grub.cfg {g_s:.1f} s"
            )
        results[layout] = {
            "runs_count": runs,
            "bare_launch_s": launch,
            "initrd_s": initrd,
            "grub_cfg_s": grub,
            "initrd_command": command,
            "floor": median(launch) + median(initrd) + median(grub),
        }
    return results
