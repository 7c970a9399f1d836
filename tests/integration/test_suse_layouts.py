"""File-level SLES 11 (c11) and SLES 15 (c15) guests through the real
appliance: every item of the guide, asserted on the files `fix` leaves and
on the calls the stand-in programs recorded (mkinitrd, dracut, rpm,
grub-install, grub2-*; see test-images/suse.py)."""

import json
import os
import re

import pytest
from conftest import build_sample, checksums, copy_sample, disk_paths, guest_files, guestfix

pytestmark = pytest.mark.slow
STANDIN_LOG = "/var/log/guestfix-standin.log"


def fixed_copy(layout, tmp_path_factory):
    xml = build_sample(layout)
    copy = copy_sample(xml, str(tmp_path_factory.mktemp(layout)))
    return {
        "xml": xml,
        "disks": disk_paths(copy),
        "packages": os.path.join(os.path.dirname(xml), "packages"),
    }


@pytest.fixture(scope="module")
def sles11(tmp_path_factory, state_dir):
    return fixed_copy("c11", tmp_path_factory)


@pytest.fixture(scope="module")
def sles15(tmp_path_factory, state_dir):
    return fixed_copy("c15", tmp_path_factory)


def test_sles11_without_default_kernel_is_refused_unchanged(sles11):
    before = checksums(sles11["disks"])
    r = guestfix("fix", "--yes", *sles11["disks"])
    assert r.returncode == 5, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "only Xen kernels are installed (3.0.101-63-xen)" in last
    assert "kernel-default" in last and "--package" in last
    assert "Traceback" not in r.stderr
    assert checksums(sles11["disks"]) == before


def test_sles11_online_install_failing_leaves_disks_identical(sles11):
    # --online: the guest's own zypper runs with the appliance's network;
    # the stand-in zypper fails as it would with no reachable repository.
    before = checksums(sles11["disks"])
    r = guestfix("fix", "--yes", "--online", *sles11["disks"])
    assert r.returncode == 6, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "`zypper --non-interactive install --no-recommends kernel-default` failed" in last
    assert "no network" in last
    assert checksums(sles11["disks"]) == before


def interactive_fix(disks, answers):
    """`guestfix fix DISK...` as a person at a terminal runs it (stdin a
    pseudo-terminal), answering each question in turn; (exit code, output)."""
    import pty
    import subprocess
    import sys

    from conftest import REPO

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "guestfix.cli", "fix", *disks],
        cwd=REPO,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.close(slave)
    for answer in answers:
        os.write(master, answer.encode() + b"\n")
    out = proc.communicate(timeout=1800)[0].decode()
    os.close(master)
    return proc.returncode, out


def test_sles11_interactive_run_offers_to_fetch_the_missing_kernel(sles11):
    """Asked at a terminal, without --package or --online: declined, the
    refusal stands; accepted, the appliance starts again with network and
    the guest's own zypper runs (the stand-in fails as with no reachable
    repository). The disks are unchanged either way."""
    before = checksums(sles11["disks"])
    code, out = interactive_fix(sles11["disks"], ["n"])
    assert "Let the guest fetch kernel-default from its own repositories now" in out
    assert code == 5 and "the guest needs kernel-default installed" in out
    code, out = interactive_fix(sles11["disks"], ["y"])
    assert "starting the appliance again, with network" in out
    assert (
        code == 6
        and "`zypper --non-interactive install --no-recommends kernel-default` failed" in out
    )
    assert checksums(sles11["disks"]) == before


def test_sles11_fixed_with_kernel_default_package(sles11):
    r = guestfix("fix", "--yes", "--json", "--package", sles11["packages"], *sles11["disks"])
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["committed"]
    v = "3.0.101-63-default"
    files = guest_files(
        sles11["disks"],
        [
            STANDIN_LOG,
            "/etc/sysconfig/kernel",
            "/boot/grub/menu.lst",
            "/etc/fstab",
            "/etc/inittab",
            "/etc/securetty",
            "/boot/grub/device.map",
            f"/boot/initrd-{v}",
            "/etc/sysconfig/bootloader",
            f"/lib/modules/{v}/kernel/drivers/block/virtio_blk.ko",
        ],
        listings=["/var/tmp"],
    )
    calls = files[STANDIN_LOG].splitlines()
    # G3: kernel-default installed with the guest's rpm, offline, and it has virtio
    assert calls[0] == (
        "rpm --upgrade --verbose --hash "
        "/var/tmp/guestfix-packages/kernel-default-3.0.101-63.1.x86_64.rpm"
    )
    assert files[f"/lib/modules/{v}/kernel/drivers/block/virtio_blk.ko"] is not None
    assert files["ls:/var/tmp"] == []  # the upload was removed
    # G1: INITRD_MODULES (and DOMU_INITRD_MODULES) name the virtio drivers
    sysconfig = files["/etc/sysconfig/kernel"]
    assert 'INITRD_MODULES="virtio_blk virtio_pci virtio_net virtio_balloon"' in sysconfig
    assert 'DOMU_INITRD_MODULES="virtio_blk virtio_pci virtio_net virtio_balloon"' in sysconfig
    assert "xenblk" not in sysconfig
    # mkinitrd for the new default kernel only, with the virtio drivers
    assert calls[1] == (
        f"mkinitrd -k vmlinuz-{v} -i initrd-{v} -m virtio_blk virtio_pci virtio_net virtio_balloon"
    )
    assert "virtio_blk.ko" in files[f"/boot/initrd-{v}"]
    # G5 for GRUB legacy: boot code on the first disk
    # the appliance's kernel name of the guest's disk: sda, or sdb when the
    # kernel enumerated the disks the other way (about 1 launch in 8)
    assert re.fullmatch(r"grub-install --no-floppy /dev/sd[ab]", calls[2])
    assert len(calls) == 3
    # G4: fstab
    assert files["/etc/fstab"].startswith("/dev/vda2  /     ext3")
    assert "/dev/vda1  swap" in files["/etc/fstab"] and "xvd" not in files["/etc/fstab"]
    # G6 + menu.lst kernel lines: a default entry for kernel-default, no Xen names
    menu = files["/boot/grub/menu.lst"]
    first = menu.split("title ", 2)[1]
    assert "default 0\n" in menu
    assert f"kernel /boot/vmlinuz-{v} root=/dev/vda2 resume=/dev/vda1" in first
    assert f"initrd /boot/initrd-{v}" in first and "root (hd0,1)" in first
    assert "console=ttyS0" in first
    for bad in ("xvd", "xvc0", "xencons"):
        assert bad not in menu
    # kernels installed later get KVM arguments from perl-Bootloader
    assert (
        'DEFAULT_APPEND="resume=/dev/vda1 splash=silent showopts console=tty0 console=ttyS0"'
    ) in files["/etc/sysconfig/bootloader"]
    # G8 (legacy device.map), G11 and inittab
    assert files["/boot/grub/device.map"] == "(hd0)\t/dev/vda\n"
    assert files["/etc/securetty"] == "console\ntty1\nttyS0\n"
    assert "/sbin/agetty -L 9600 ttyS0 xterm" in files["/etc/inittab"]


def test_sles15_without_grub2_is_refused_unchanged(sles15):
    before = checksums(sles15["disks"])
    r = guestfix("fix", "--yes", *sles15["disks"])
    assert r.returncode == 5, r.stderr
    assert "the guest needs grub2 installed" in r.stderr.strip().splitlines()[-1]
    assert checksums(sles15["disks"]) == before
    # wrong package type for the guest: refused before anything changes
    r = guestfix(
        "fix",
        "--yes",
        "--package",
        os.path.join(os.path.dirname(sles15["packages"]), "xenguest-c15.xml"),
        *sles15["disks"],
    )
    assert r.returncode == 3 and "not a .deb or .rpm file" in r.stderr
    assert checksums(sles15["disks"]) == before


def test_sles15_failing_initrd_rebuild_leaves_disks_identical(tmp_path_factory, state_dir):
    # dracut runs in the background while the boot loader steps run; its
    # failure, found when fix waits for it, must still undo everything
    import guestfs

    guest = fixed_copy("c15", tmp_path_factory)
    g = guestfs.GuestFS(python_return_dict=True)
    g.add_drive_opts(guest["disks"][0], format="raw")
    g.launch()
    g.mount(g.inspect_os()[0], "/")
    g.write("/etc/dracut-standin-fail", b"")
    g.shutdown()
    g.close()
    before = checksums(guest["disks"])
    r = guestfix("fix", "--yes", "--package", guest["packages"], *guest["disks"])
    assert r.returncode == 6, r.stderr
    error = r.stderr.strip().splitlines()[-1]
    assert "regenerate-initrd" in error and "cannot install kernel modules" in error
    assert checksums(guest["disks"]) == before


def test_sles15_fixed_with_grub2_package(sles15):
    r = guestfix("fix", "--yes", "--package", sles15["packages"], *sles15["disks"])
    assert r.returncode == 0, r.stderr
    v = "5.14.21-150500.55.19-default"
    files = guest_files(
        sles15["disks"],
        [
            STANDIN_LOG,
            "/etc/dracut.conf.d/10-xen.conf",
            "/etc/dracut.conf.d/01-dist.conf",
            "/etc/dracut.conf.d/90-guestfix-virtio.conf",
            "/etc/default/grub",
            "/etc/fstab",
            "/boot/grub2/device.map",
            "/boot/grub2-efi/device.map",
            "/boot/grub2/grub.cfg",
            "/boot/grub2/grubenv",
            "/etc/securetty",
            "/.autorelabel",
            f"/boot/initrd-{v}",
        ],
        listings=["/etc/systemd/system/getty.target.wants"],
    )
    calls = [c for c in files[STANDIN_LOG].splitlines() if not c.startswith("lsinitrd")]
    drivers = "virtio_blk virtio_pci virtio_net virtio_balloon virtio_scsi"
    # the appliance's kernel name of the guest's disk: sda, or sdb when the
    # kernel enumerated the disks the other way (about 1 launch in 8)
    calls = [re.sub(r"^(grub2-install --target=i386-pc /dev/)sdb$", r"\1sda", c) for c in calls]
    assert calls == [
        # G5: grub2 installed from the supplied rpm, offline
        "rpm --upgrade --verbose --hash "
        "/var/tmp/guestfix-packages/grub2-2.06-150500.29.8.1.x86_64.rpm",
        # the boot kernel's initrd, with the drivers on dracut's command line
        f"dracut --force --no-hostonly-cmdline --add-drivers {drivers} /boot/initrd-{v} {v}",
        "grub2-install --target=i386-pc /dev/sda",
        # G9
        "grub2-mkconfig -o /boot/grub2/grub.cfg",
        # G6
        "grub2-set-default gnulinux-simple-root",
    ]
    # G2: the Xen driver list replaced in place, and a drop-in for later runs
    assert files["/etc/dracut.conf.d/10-xen.conf"] == (
        '# written on Xen\nadd_drivers+=" virtio_blk virtio_pci virtio_net virtio_balloon "\n'
    )
    assert files["/etc/dracut.conf.d/01-dist.conf"] == '# SUSE defaults\nhostonly="yes"\n'
    assert drivers in files["/etc/dracut.conf.d/90-guestfix-virtio.conf"]
    assert "virtio_blk.ko" in files[f"/boot/initrd-{v}"]
    # G7
    grub = files["/etc/default/grub"]
    assert (
        'GRUB_CMDLINE_LINUX_DEFAULT="root=/dev/vda1 disk=/dev/vda resume=/dev/vda2 '
        'splash=silent quiet showopts console=tty0 console=ttyS0"'
    ) in grub
    assert 'GRUB_CMDLINE_LINUX_RECOVERY="root=/dev/vda1 showopts' in grub
    for bad in ("xvd", "xvc", "xencons"):
        assert bad not in grub
    # G4 (UUID= left alone), G8 in both places, G10, G11
    assert files["/etc/fstab"].startswith("/dev/vda1  /     ext4")
    assert "UUID=0a6c3b2e-6f0c-4a4e-9d59-3c1b3c4d5e6f  swap" in files["/etc/fstab"]
    assert files["/boot/grub2/device.map"] == "(hd0)\t/dev/vda\n"
    assert files["/boot/grub2-efi/device.map"] == "(hd0)\t/dev/vda\n"
    assert files["ls:/etc/systemd/system/getty.target.wants"] == [
        "getty@tty1.service",
        "serial-getty@ttyS0.service",
    ]
    assert files["/etc/securetty"] == "console\nttyS0\n"
    # G9: the regenerated grub.cfg names virtio disks, not the appliance's
    cfg = files["/boot/grub2/grub.cfg"]
    assert f"linux /boot/vmlinuz-{v} root=/dev/vda1" in cfg
    for bad in ("/dev/sda", "xvd", "xvc0"):
        assert bad not in cfg
    assert "saved_entry=gnulinux-simple-root" in files["/boot/grub2/grubenv"]
    # SELinux is enforcing in this guest: relabel at the next boot
    assert files["/.autorelabel"] == ""


def test_sles15_second_fix_changes_nothing(sles15):
    before = checksums(sles15["disks"])
    r = guestfix("fix", "--yes", "--json", *sles15["disks"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["changes"] == []
    assert checksums(sles15["disks"]) == before
