"""Each step's plan on an in-memory guest tree: what it changes, what it
leaves alone, missing files, and that a second plan is empty."""

import pytest
from helpers import Link, MemoryGuest, debian_facts

from guestfix.core.devnames import DeviceMap
from guestfix.core.errors import StepError
from guestfix.fix.facts import Kernel
from guestfix.fix.plan import GuestCommand
from guestfix.fix.steps import (
    StepContext,
    boot_code,
    check_grub_cfg,
    console,
    device_names,
    nic_names,
    regenerate_grub_cfg,
    regenerate_initrd,
    registry,
)

XEN_GUEST = {
    "/etc/fstab": "/dev/xvda1 / ext4 defaults 0 1\n/dev/xvda2 none swap sw 0 0\n",
    "/etc/default/grub": 'GRUB_CMDLINE_LINUX="console=hvc0 xencons=tty"\n',
    "/etc/initramfs-tools/modules": "xen-blkfront\nxen-netfront\n",
    "/etc/securetty": "console\nhvc0\nxvc0\n",
    "/boot/grub/grub.cfg": "linux /vmlinuz root=/dev/xvda1 console=hvc0\n",
    "/boot/grub/device.map": "(hd0) /dev/xvda\n",
    "/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service": Link(
        "/lib/systemd/system/serial-getty@.service"
    ),
    "/etc/systemd/system/getty.target.wants/getty@tty1.service": Link(
        "/lib/systemd/system/getty@.service"
    ),
    "/lib/systemd/system/serial-getty@.service": "[Unit]\n",
    "/lib/systemd/system/getty@.service": "[Unit]\n",
    "/etc/network/interfaces": (
        "auto lo\niface lo inet loopback\nallow-hotplug enX0\niface enX0 inet dhcp\n"
    ),
    "/usr/sbin/update-grub": "#!/bin/sh\n",
}


MKCONFIG_OUTPUT = (
    "menuentry 'Debian GNU/Linux' $menuentry_id_option 'gnulinux-simple-x' {{\n"
    "\tlinux /boot/vmlinuz-6.1.0-50-amd64 root=/dev/{disk}1 console=ttyS0\n"
    "}}\n"
)


def facts_for_guest(**kw):
    kernel = Kernel(
        "6.1.0-50-amd64",
        "/boot/vmlinuz-6.1.0-50-amd64",
        "/boot/initrd.img-6.1.0-50-amd64",
        False,
        True,
        ["xen-blkfront"],
    )
    defaults = dict(
        kernels=[kernel],
        boot_kernel=kernel.version,
        nic_names=["enX0"],
        grub_installer="grub-install",
        partition_table="msdos",
    )
    defaults.update(kw)
    return debian_facts(**defaults)


def plan_all(files, facts=None, macs=()):
    """Plan every applicable step in order, applying edits to the tree the
    way the runner does; returns (changes, notes, guest)."""
    guest = MemoryGuest(files)
    facts = facts or facts_for_guest()
    changes, notes = [], []
    ctx = StepContext(
        facts=facts,
        devmap=DeviceMap.default(2),
        guest=guest,
        macs=list(macs),
        earlier=changes,
        notes=notes,
    )
    for step in registry():
        if step.applies(facts):
            new = step.plan(ctx)
            guest.apply(new)
            changes.extend(new)
            if step is regenerate_grub_cfg.STEP and new:
                # stand-in for update-grub in the appliance, UUID disabled
                guest.files["/boot/grub/grub.cfg"] = MKCONFIG_OUTPUT.format(disk="sda")
    return changes, notes, guest


def test_full_plan_order_and_content():
    changes, notes, guest = plan_all(XEN_GUEST)
    steps = [c.step for c in changes]
    assert steps == sorted(steps, key=[s.name for s in registry()].index)
    assert guest.files["/etc/fstab"].startswith("/dev/vda1 / ext4")
    assert "virtio_blk" in guest.files["/etc/initramfs-tools/modules"]
    assert "xen-blkfront" not in guest.files["/etc/initramfs-tools/modules"]
    assert "/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service" not in guest.files
    assert isinstance(
        guest.files["/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"], Link
    )
    assert "getty@tty1.service" in guest.ls("/etc/systemd/system/getty.target.wants")
    assert guest.files["/etc/securetty"] == "console\nttyS0\n"
    assert "Name=enX0" in guest.files["/etc/systemd/network/10-guestfix-enX0.link"]
    commands = [c.argv[0] for c in changes if isinstance(c, GuestCommand)]
    assert commands == ["update-initramfs", "grub-install", "update-grub"]
    # the appliance's /dev/sda1 written by grub-mkconfig became /dev/vda1
    assert guest.files["/boot/grub/grub.cfg"] == MKCONFIG_OUTPUT.format(disk="vda")
    assert notes == []


def test_second_plan_is_empty():
    _changes, _notes, guest = plan_all(XEN_GUEST)
    kernel = Kernel(
        "6.1.0-50-amd64",
        "/boot/vmlinuz-6.1.0-50-amd64",
        "/boot/initrd.img-6.1.0-50-amd64",
        False,
        True,
        ["virtio_blk"],
    )
    again, _, _ = plan_all(guest.files, facts_for_guest(kernels=[kernel], boot_code=True))
    assert again == []


def test_missing_files_are_not_created_except_nic_link():
    changes, notes, guest = plan_all(
        {"/etc/network/interfaces": "iface eth0 inet dhcp\n"},
        facts_for_guest(bootloader="", boot_code=True, nic_names=["eth0"]),
    )
    assert {c.target for c in changes if c.kind == "edit"} == {
        "/etc/initramfs-tools/modules",
        "/etc/systemd/network/10-guestfix-eth0.link",
    }


def test_nic_names_by_mac_when_domain_known():
    facts = facts_for_guest(nic_names=["eth0", "eth1"])
    guest = MemoryGuest({})
    ctx = StepContext(
        facts=facts,
        devmap=DeviceMap.default(1),
        guest=guest,
        macs=["00:16:3e:00:00:01", "00:16:3e:00:00:02"],
    )
    out = nic_names.STEP.plan(ctx)
    assert [c.path for c in out] == [
        "/etc/systemd/network/10-guestfix-eth0.link",
        "/etc/systemd/network/10-guestfix-eth1.link",
    ]
    assert "MACAddress=00:16:3e:00:00:02" in out[1].after


def test_nic_names_several_without_macs_is_a_note():
    ctx = StepContext(
        facts=facts_for_guest(nic_names=["eth0", "eth1"]),
        devmap=DeviceMap.default(1),
        guest=MemoryGuest({}),
    )
    assert nic_names.STEP.plan(ctx) == []
    assert "pass --domain" in ctx.notes[0]


def test_sysvinit_guest_gets_udev_rule():
    ctx = StepContext(
        facts=facts_for_guest(init="sysvinit", nic_names=["eth0"]),
        devmap=DeviceMap.default(1),
        guest=MemoryGuest({}),
    )
    (change,) = nic_names.STEP.plan(ctx)
    assert change.path == nic_names.UDEV_RULES
    assert 'NAME="eth0"' in change.after


def test_unknown_xen_disk_is_reported_and_kept():
    guest = MemoryGuest({"/etc/fstab": "/dev/xvdq1 /x ext4 defaults 0 0\n"})
    ctx = StepContext(facts=facts_for_guest(), devmap=DeviceMap.default(1), guest=guest)
    assert device_names.STEP.plan(ctx) == []
    assert "xvdq1" in ctx.notes[0]


def test_boot_code_partitionless_offers_direct_kernel_boot():
    ctx = StepContext(
        facts=facts_for_guest(partition_table=""),
        devmap=DeviceMap.default(1),
        guest=MemoryGuest({}),
    )
    assert boot_code.STEP.plan(ctx) == []
    assert "direct kernel boot" in ctx.notes[0]
    assert "/boot/vmlinuz-6.1.0-50-amd64" in ctx.notes[0]


def test_boot_code_gpt_without_bios_boot_partition():
    ctx = StepContext(
        facts=facts_for_guest(partition_table="gpt"),
        devmap=DeviceMap.default(1),
        guest=MemoryGuest({}),
    )
    assert boot_code.STEP.plan(ctx) == []
    assert "BIOS boot partition" in ctx.notes[0]


def test_initrd_rebuilt_only_when_needed():
    kernel = Kernel(
        "6.1", "/boot/vmlinuz-6.1", "/boot/initrd.img-6.1", False, True, ["virtio_blk"]
    )
    ctx = StepContext(
        facts=facts_for_guest(kernels=[kernel], boot_kernel="6.1"),
        devmap=DeviceMap.default(1),
        guest=MemoryGuest({}),
    )
    assert regenerate_initrd.STEP.plan(ctx) == []
    kernel.initrd_drivers = ["xen-blkfront"]
    (cmd,) = regenerate_initrd.STEP.plan(ctx)
    assert cmd.argv == ["update-initramfs", "-u", "-k", "6.1"]


def test_grub_cfg_check_refuses_leftover_xen_names():
    guest = MemoryGuest({"/boot/grub/grub.cfg": "linux /vmlinuz root=/dev/xvda1\n"})
    earlier = [GuestCommand(step="regenerate-grub-cfg", summary="", argv=["update-grub"])]
    ctx = StepContext(
        facts=facts_for_guest(), devmap=DeviceMap.default(1), guest=guest, earlier=earlier
    )
    with pytest.raises(StepError, match="xvda1"):
        check_grub_cfg.STEP.plan(ctx)


def test_appliance_names_follow_disk_order():
    text = "linux /v root=/dev/sdb2 resume=/dev/sda3\nsearch /dev/sdab\n"
    assert (
        check_grub_cfg.appliance_to_virtio(text, ["/dev/sda", "/dev/sdb"])
        == "linux /v root=/dev/vdb2 resume=/dev/vda3\nsearch /dev/sdab\n"
    )


def test_console_keeps_existing_serial_getty():
    files = dict(XEN_GUEST)
    files["/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"] = Link(
        "/lib/systemd/system/serial-getty@.service"
    )
    ctx = StepContext(
        facts=facts_for_guest(), devmap=DeviceMap.default(1), guest=MemoryGuest(files)
    )
    kinds = [c.kind for c in console.STEP.plan(ctx)]
    assert "make-link" not in kinds and "remove-link" in kinds


UPSTART_HVC0 = (
    "# hvc0 - getty\n\nstart on stopped rc RUNLEVEL=[2345]\n"
    "stop on runlevel [!2345]\n\nrespawn\nexec /sbin/getty -8 38400 hvc0\n"
)


def plan_console(files):
    guest = MemoryGuest(files)
    ctx = StepContext(
        facts=facts_for_guest(init="unknown"), devmap=DeviceMap.default(1), guest=guest
    )
    changes = console.STEP.plan(ctx)
    guest.apply(changes)
    return changes, guest, ctx


def test_console_upstart_job_moves_to_ttys0():
    changes, guest, ctx = plan_console(
        {
            "/etc/init/hvc0.conf": UPSTART_HVC0,
            "/etc/init/tty1.conf": "exec /sbin/getty 38400 tty1\n",
        }
    )
    assert [(c.path, c.before is None, c.after is None) for c in changes] == [
        ("/etc/init/hvc0.conf", False, True),
        ("/etc/init/ttyS0.conf", True, False),
    ]
    assert "/etc/init/hvc0.conf" not in guest.files
    assert guest.files["/etc/init/ttyS0.conf"] == UPSTART_HVC0.replace("hvc0", "ttyS0")
    assert guest.files["/etc/init/tty1.conf"] == "exec /sbin/getty 38400 tty1\n"
    assert console.STEP.plan(ctx) == []


def test_console_upstart_keeps_existing_ttys0_job_and_other_jobs():
    own = "exec /sbin/getty -L 115200 ttyS0 vt102\n"
    xvc0 = UPSTART_HVC0.replace("hvc0", "xvc0")
    changes, guest, _ctx = plan_console(
        {
            "/etc/init/xvc0.conf": xvc0,
            "/etc/init/hvc0.conf": UPSTART_HVC0,
            "/etc/init/ttyS0.conf": own,
        }
    )
    assert sorted(c.path for c in changes) == ["/etc/init/hvc0.conf", "/etc/init/xvc0.conf"]
    assert guest.files["/etc/init/ttyS0.conf"] == own
    # a job named after the console that runs no getty is not ours to remove
    changes, guest, _ctx = plan_console({"/etc/init/hvc0.conf": "exec /usr/bin/logger hvc0\n"})
    assert changes == [] and "/etc/init/hvc0.conf" in guest.files


def test_inspect_reports_upstart_xen_console_job():
    from guestfix.fix.facts import _references

    facts = facts_for_guest()
    _references(MemoryGuest({"/etc/init/hvc0.conf": UPSTART_HVC0}), facts)
    assert [(r.path, r.kind) for r in facts.xen_references] == [("/etc/init/hvc0.conf", "console")]


def test_dracut_guest_lists_and_dropin():
    from guestfix.fix.steps import initrd_modules

    files = {"/etc/dracut.conf.d/10-xen.conf": 'add_drivers+=" xenblk xennet "\nhostonly="yes"\n'}
    guest = MemoryGuest(files)
    ctx = StepContext(
        facts=facts_for_guest(initrd_tool="dracut"), devmap=DeviceMap.default(1), guest=guest
    )
    changes = initrd_modules.STEP.plan(ctx)
    guest.apply(changes)
    assert guest.files["/etc/dracut.conf.d/10-xen.conf"].startswith(
        'add_drivers+=" virtio_blk virtio_pci virtio_net virtio_balloon "'
    )
    assert "virtio_blk" in guest.files[initrd_modules.DRACUT_DROPIN]
    assert initrd_modules.STEP.plan(ctx) == []
