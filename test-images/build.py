#!/usr/bin/python3
"""Build the sample Xen PV guests used by the tests and `make demo`.

Every image is a real, bootable Debian bookworm installed with debootstrap
from the mirror this host's apt is configured with, then laid out the way a
paravirtualized guest looks on a Xen host:

* no boot code on the disk (pygrub read grub.cfg from dom0), a grub.cfg
  written on Xen with root=/dev/xvd* and console=hvc0;
* /dev/xvd* names in fstab and /etc/default/grub;
* getty links and securetty entries for hvc0/xvc0;
* an initramfs that carries only the Xen block and network drivers
  (MODULES=list), so it cannot find its root disk on virtio;
* network configuration for the NIC name the guest had on Xen (enX0, the
  name systemd 252 gives a Xen vif).

Layouts:
  a  one disk: xvda1 root (ext4), xvda2 swap.
  b  as a, but dracut instead of initramfs-tools, laid out like SLES 12/15:
     /etc/dracut.conf.d/ lists the Xen drivers with hostonly="yes", and the
     initrd has no virtio driver.
  d  two disks: xvda1 /boot, xvda2 root; xvdb1 swap, xvdb2 an LVM volume
     group holding /srv; root=/dev/xvda2 typed into GRUB_CMDLINE_LINUX and
     GRUB_DISABLE_LINUX_UUID=true, so grub-mkconfig writes device names.
  c11, c15  file-level SLES 11 / SLES 15 guests with stand-in programs
     (see suse.py), and their fake package files in packages/.
  r9, s15  a RHEL 9-like and a SLES 15-like guest whose rpm, dnf or
     zypper, createrepo_c and dracut are the real programs (rpmdistro.py):
     one disk as a, the guest booted dom0's kernel, no kernel or GRUB
     package installed; both packages, built with rpmbuild from Debian's
     kernel and GRUB, are in the guest's own repository (/srv/repo) and in
     packages/.
  xk  laid out as xen-tools' xen-create-image made guests that booted
     dom0's kernel (`kernel`, `ramdisk`, `extra = 'elevator=noop'`): one
     image per partition with no partition table, disk.img (root, ext4)
     exported as xvda2 and swap.img as xvda1, fstab and `root` naming
     /dev/xvda2, an xl.cfg as xen-tools writes it next to the domain XML,
     eth0 in /etc/network/interfaces, a getty on hvc0; no kernel package,
     only a few of that kernel's modules left in /lib/modules, no boot
     loader; the repairing .deb files are left in packages/. An imitation:
     the real xen-create-image (xentools.py) forces pygrub for every Debian
     release since buster, and copies dom0's modules from /lib/modules of
     the running kernel, which on this machine is not a Debian one.
  xt12, xt11, xt12s  made by the real xen-create-image (xentools.py).
  hu, hb  HVM guests with their own boot loader, UEFI and BIOS (hvm.py).

Images are cached outside the repository, keyed by a hash of this file, and
are never modified after they are built: callers copy them.

Usage: build.py LAYOUT [--cache DIR] [--result FILE]
The domain XML's path is written to FILE (or, without --result, printed as
the only line on stdout). Everything else, the output of every tool the
build runs included, goes to stderr: standard output is pointed at stderr
for the whole build, so nothing a tool prints can reach the caller.
"""

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hvm
import rpmdistro
import suse
import xentools
from tree import symlink, write

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CACHE = os.environ.get("GUESTFIX_TEST_CACHE", "/var/cache/guestfix-test")
SUITE = "bookworm"
ROOT_PASSWORD = "guestfix"
PACKAGES = [
    "systemd-sysv",
    "udev",
    "kmod",
    "ifupdown",
    "isc-dhcp-client",
    "iproute2",
    "linux-image-amd64",
    "initramfs-tools",
    "grub-pc",
    "lvm2",
    "procps",
    "e2fsprogs",
]
GIB = 1024**3
MIB = 1024**2

# Per layout: the disks (Xen target, size) and their partitions
# (number, kind, start MiB, end MiB or -1 for the rest, mount point).
LAYOUTS = {
    "a": {
        "disks": [("xvda", 3 * GIB)],
        "parts": {
            "xvda": [(1, "ext4", 1, 2560, "/"), (2, "swap", 2560, -1, None)],
        },
        "lvm": None,
        "mac": "00:16:3e:5a:11:01",
        "uuid": "6c1b0a0a-7e52-4d3a-9b58-0a1f2e3d4c5b",
    },
    "b": {
        "disks": [("xvda", 3 * GIB)],
        "parts": {
            "xvda": [(1, "ext4", 1, 2560, "/"), (2, "swap", 2560, -1, None)],
        },
        "lvm": None,
        "initrd": "dracut",
        "mac": "00:16:3e:5a:11:02",
        "uuid": "6c1b0b0b-7e52-4d3a-9b58-0a1f2e3d4c5b",
    },
    "c11": {
        "disks": [("xvda", 512 * MIB)],
        "parts": {
            "xvda": [(1, "swap", 1, 129, None), (2, "ext3", 129, -1, "/")],
        },
        "lvm": None,
        "file_level": True,
        "mac": "00:16:3e:5a:11:0b",
        "uuid": "6c1b0c11-7e52-4d3a-9b58-0a1f2e3d4c5b",
    },
    "c15": {
        "disks": [("xvda", 512 * MIB)],
        "parts": {
            "xvda": [(1, "ext4", 1, 400, "/"), (2, "swap", 400, -1, None)],
        },
        "lvm": None,
        "file_level": True,
        "mac": "00:16:3e:5a:11:0f",
        "uuid": "6c1b0c15-7e52-4d3a-9b58-0a1f2e3d4c5b",
    },
    "xk": {
        # the order xen-tools writes disk = [...]: the root image first
        "disks": [("xvda2", 2 * GIB), ("xvda1", 256 * MIB)],
        "images": {"xvda2": ("disk.img", "ext4", "/"), "xvda1": ("swap.img", "swap", None)},
        "xen_tools": True,
        "dom0_kernel": True,
        "mac": "00:16:3e:5a:11:0a",
        "uuid": "6c1b0a1a-7e52-4d3a-9b58-0a1f2e3d4c5b",
    },
    # rpm-family guests with real rpm, dnf/zypper, createrepo_c and dracut
    # (rpmdistro.py): booted dom0's kernel, no kernel or GRUB package
    "r9": {
        "disks": [("xvda", 3 * GIB)],
        "parts": {
            "xvda": [(1, "ext4", 1, 2560, "/"), (2, "swap", 2560, -1, None)],
        },
        "lvm": None,
        "initrd": "dracut",
        "rpm_family": "redhat",
        "dom0_kernel": True,
        "mac": "00:16:3e:5a:11:09",
        "uuid": "6c1b0a09-7e52-4d3a-9b58-0a1f2e3d4c5b",
    },
    "s15": {
        "disks": [("xvda", 3 * GIB)],
        "parts": {
            "xvda": [(1, "ext4", 1, 2560, "/"), (2, "swap", 2560, -1, None)],
        },
        "lvm": None,
        "initrd": "dracut",
        "rpm_family": "suse",
        "dom0_kernel": True,
        "mac": "00:16:3e:5a:11:15",
        "uuid": "6c1b0a15-7e52-4d3a-9b58-0a1f2e3d4c5b",
    },
    "d": {
        "disks": [("xvda", 3 * GIB), ("xvdb", 1 * GIB)],
        "parts": {
            "xvda": [(1, "ext4", 1, 301, "/boot"), (2, "ext4", 301, -1, "/")],
            "xvdb": [(1, "swap", 1, 257, None), (2, "lvm", 257, -1, None)],
        },
        # volume group, logical volume, mount point, on which partition
        "lvm": ("datavg", "srv", "/srv", "xvdb2"),
        "mac": "00:16:3e:5a:11:04",
        "uuid": "6c1b0d0d-7e52-4d3a-9b58-0a1f2e3d4c5b",
    },
}


# Every layout this script builds: its own, and those xen-create-image makes.
ALL_LAYOUTS = {
    **LAYOUTS,
    **{name: {"xen_create_image": True} for name in xentools.LAYOUTS},
    **{name: {"hvm": True} for name in hvm.LAYOUTS},
}


def log(msg):
    print(f"build.py: {msg}", file=sys.stderr, flush=True)


def script_hash(name):
    """The cache key: this script and tree.py, and suse.py or rpmdistro.py
    for the layouts they make."""
    h = hashlib.sha256()
    if name in xentools.LAYOUTS:
        # the guest is xen-create-image's: only what drives it counts
        sources = [os.path.join(HERE, "xentools.py")]
    elif name in hvm.LAYOUTS:
        # hvm.py and the debootstrap tree it starts from
        h.update(rootfs_key().encode())
        sources = [os.path.join(HERE, "hvm.py"), os.path.join(HERE, "tree.py")]
    else:
        sources = [os.path.abspath(__file__), os.path.join(HERE, "tree.py")]
    if LAYOUTS.get(name, {}).get("file_level"):
        sources.append(os.path.join(HERE, "suse.py"))
    if LAYOUTS.get(name, {}).get("rpm_family"):
        sources.append(os.path.join(HERE, "rpmdistro.py"))
    for path in sources:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def debian_mirror():
    """The first Debian mirror apt is configured with (never hard-coded)."""
    path = "/etc/apt/sources.list.d/debian.sources"
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip().startswith("URIs:"):
                    return line.split(":", 1)[1].split()[0]
    if os.path.exists("/etc/apt/sources.list"):
        with open("/etc/apt/sources.list") as f:
            for line in f:
                words = line.split()
                if len(words) >= 3 and words[0] == "deb":
                    uris = [w for w in words[1:] if "://" in w]
                    if uris:
                        return uris[0]
    sys.exit("build.py: no Debian mirror found in apt's configuration")


def run(argv, **kw):
    # A tool's own output (debootstrap's progress, update-initramfs') is
    # progress for a person: it goes to stderr, never where the result goes.
    log("$ " + " ".join(argv))
    kw.setdefault("stdout", sys.stderr)
    subprocess.run(argv, check=True, **kw)


def chroot(root, argv, **kw):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LANG="C.UTF-8")
    run(["chroot", root] + argv, env=env, **kw)


class Mounts:
    """proc/sys/dev mounted into a chroot for the duration of a block."""

    def __init__(self, root):
        self.root = root
        self.done = []

    def __enter__(self):
        for fs, args in (
            ("proc", ["-t", "proc", "proc"]),
            ("sys", ["-t", "sysfs", "sys"]),
            ("dev", ["--bind", "/dev"]),
        ):
            target = os.path.join(self.root, fs)
            run(["mount"] + args + [target])
            self.done.append(target)
        return self

    def __exit__(self, *exc):
        for target in reversed(self.done):
            subprocess.run(["umount", "-l", target])


@contextlib.contextmanager
def cache_lock(cache, what):
    """Held while one builder makes (or checks for) `what` in the cache: the
    test suite's workers build images at the same time, and two builders of
    the same layout, or of the debootstrap tarball, would write the same
    files."""
    with open(os.path.join(cache, f".lock-{what}"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def rootfs_key():
    """What the debootstrap tree depends on; editing a layout reuses it."""
    text = "\n".join([SUITE, ROOT_PASSWORD, "rootfs-v1"] + PACKAGES)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def base_tarball(cache):
    """debootstrap once per package set; every layout starts from it."""
    tar = os.path.join(cache, f"rootfs-{rootfs_key()}.tar")
    with cache_lock(cache, "rootfs"):
        if not os.path.exists(tar):
            debootstrap_tarball(cache, tar)
    return tar


def debootstrap_tarball(cache, tar):
    work = tempfile.mkdtemp(prefix="rootfs-", dir=cache)
    try:
        run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(PACKAGES),
                SUITE,
                work,
                debian_mirror(),
            ]
        )
        with Mounts(work):
            chroot(work, ["sh", "-c", f"echo root:{ROOT_PASSWORD} | chpasswd"])
            chroot(work, ["apt-get", "clean"])
        run(["tar", "-C", work, "--numeric-owner", "--xattrs", "-cf", tar + ".tmp", "."])
        os.rename(tar + ".tmp", tar)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def kernel_version(root):
    mods = sorted(os.listdir(os.path.join(root, "lib/modules")))
    return mods[-1]


DOM0_KERNEL_PACKAGES = [
    "linux-image-amd64",
    "linux-image-{kver}",
    "grub-pc",
    "grub-pc-bin",
    "grub2-common",
    "grub-common",
]


def use_dracut(root, kver):
    """Replace initramfs-tools by dracut, configured as SLES 12/15 ship it,
    with an initrd that has only the Xen drivers."""
    with Mounts(root):
        chroot(root, ["apt-get", "install", "-y", "-q", "--no-install-recommends", "dracut"])
    write(root, "/etc/dracut.conf.d/01-dist.conf", '# as SUSE ships it\nhostonly="yes"\n')
    # An uncompressed initrd: gzip -9 costs about a minute per rebuild under
    # TCG and exercises nothing guestfix does (dracut honours the guest's
    # compress= setting either way).
    write(root, "/etc/dracut.conf.d/05-test-speed.conf", 'compress="cat"\n')
    write(
        root,
        "/etc/dracut.conf.d/10-xen.conf",
        '# written on Xen\nadd_drivers+=" xen-blkfront xen-netfront "\n',
    )
    with Mounts(root):
        chroot(
            root,
            [
                "dracut",
                "--force",
                "--no-hostonly-cmdline",
                "--omit-drivers",
                "virtio_blk virtio_net virtio_scsi virtio_pci virtio_balloon",
                f"/boot/initrd.img-{kver}",
                kver,
            ],
        )


def remove_kernel_and_boot_loader(root, kver, packages_dir):
    """The guest booted dom0's kernel: no kernel package, no GRUB. The
    packages that repair it are downloaded first, from the guest's mirror."""
    names = [p.format(kver=kver) for p in DOM0_KERNEL_PACKAGES]
    with Mounts(root):
        os.makedirs(os.path.join(root, "var/tmp/debs"), exist_ok=True)
        chroot(root, ["sh", "-c", "cd /var/tmp/debs && apt-get download " + " ".join(names)])
        # the host may run the same kernel version: do not let the prerm ask
        chroot(
            root,
            [
                "sh",
                "-c",
                "echo 'linux-base linux-base/removing-running-kernel "
                "boolean false' | debconf-set-selections",
            ],
        )
        chroot(root, ["dpkg", "--purge"] + names)
    os.makedirs(packages_dir, exist_ok=True)
    debs = os.path.join(root, "var/tmp/debs")
    for n in os.listdir(debs):
        shutil.move(os.path.join(debs, n), os.path.join(packages_dir, n))
    os.rmdir(debs)
    for leftover in ("boot/grub", "etc/default/grub"):
        path = os.path.join(root, leftover)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


# What xen-tools' modules hook leaves of dom0's kernel in the guest (all of
# /lib/modules/VERSION there; a few directories here keep the image small).
DOM0_MODULE_DIRS = ["kernel/drivers/xen", "kernel/drivers/block", "kernel/drivers/net"]


def configure_xen_tools_guest(root, name, packages_dir):
    """Lay the tree out as xen-create-image left a guest that booted
    dom0's kernel (see LAYOUTS)."""
    kver = kernel_version(root)
    write(
        root,
        "/etc/fstab",
        "# /etc/fstab: static file system information.\n"
        "#\n"
        "# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
        "proc            /proc           proc    defaults        0       0\n"
        "/dev/xvda1 none swap sw 0 0\n"
        "/dev/xvda2 / ext4 noatime,nodiratime,errors=remount-ro 0 1\n",
    )
    write(root, "/etc/hostname", f"xenguest-{name}\n")
    write(root, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\txenguest-{name}\n")
    write(
        root,
        "/etc/network/interfaces",
        "# This file describes the network interfaces available on your system\n"
        "# and how to activate them. For more information, see interfaces(5).\n\n"
        "# The loopback network interface\nauto lo\niface lo inet loopback\n\n"
        "# The primary network interface\nauto eth0\niface eth0 inet dhcp\n",
    )
    symlink(
        root,
        "/lib/systemd/system/serial-getty@.service",
        "/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service",
    )
    xen_only_initramfs(root)
    keep = os.path.join(os.path.dirname(root), "dom0-modules")
    moddir = os.path.join(root, "lib/modules", kver)
    for sub_dir in DOM0_MODULE_DIRS:
        shutil.copytree(os.path.join(moddir, sub_dir), os.path.join(keep, sub_dir))
    for n in os.listdir(moddir):
        if n.startswith("modules."):
            shutil.copy2(os.path.join(moddir, n), os.path.join(keep, n))
    remove_kernel_and_boot_loader(root, kver, packages_dir)
    shutil.copytree(keep, moddir)
    shutil.rmtree(keep)


def configure_xen_guest(root, name, packages_dir):
    """Lay the installed tree out as the guest looked on Xen."""
    spec = LAYOUTS[name]
    if spec.get("xen_tools"):
        configure_xen_tools_guest(root, name, packages_dir)
        return
    kver = kernel_version(root)
    fstab = [
        "# /etc/fstab: static file system information.",
        "#",
        "# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>",
    ]
    root_dev = boot_dev = swap_dev = None
    for disk, parts in spec["parts"].items():
        for num, kind, _s, _e, mnt in parts:
            dev = f"/dev/{disk}{num}"
            if mnt == "/":
                root_dev = dev
            elif mnt == "/boot":
                boot_dev = dev
            if kind == "swap":
                swap_dev = dev
    fstab.append(f"{root_dev}\t/\text4\terrors=remount-ro\t0\t1")
    if boot_dev:
        fstab.append(f"{boot_dev}   /boot   ext4   defaults   0   2")
    if spec["lvm"]:
        vg, lv, mnt, _pv = spec["lvm"]
        fstab.append(f"/dev/mapper/{vg}-{lv}  {mnt}  ext4  defaults  0  2")
    fstab.append(f"{swap_dev}\tnone\tswap\tsw\t0\t0")
    fstab.append("proc  /proc  proc  defaults  0  0")
    write(root, "/etc/fstab", "\n".join(fstab) + "\n")

    write(root, "/etc/hostname", f"xenguest-{name}\n")
    write(root, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\txenguest-{name}\n")

    # The NIC name the guest had on Xen (systemd 252 names a vif enX0).
    write(
        root,
        "/etc/network/interfaces",
        "source /etc/network/interfaces.d/*\n\n"
        "auto lo\niface lo inet loopback\n\n"
        "allow-hotplug enX0\niface enX0 inet dhcp\n",
    )

    # Consoles: Xen's hvc0 (and the older xvc0) everywhere.
    wants = "/etc/systemd/system/getty.target.wants"
    symlink(
        root, "/lib/systemd/system/serial-getty@.service", f"{wants}/serial-getty@hvc0.service"
    )
    symlink(root, "/lib/systemd/system/getty@.service", f"{wants}/getty@xvc0.service")
    write(root, "/etc/securetty", "# Xen consoles\nconsole\nhvc0\nxvc0\ntty1\ntty2\n")
    write(
        root,
        "/etc/modprobe.d/xen.conf",
        "# written on Xen\nalias scsi_hostadapter xen-blkfront\nalias eth0 xen-netfront\n",
    )

    if spec.get("initrd") == "dracut":
        use_dracut(root, kver)
    else:
        xen_only_initramfs(root)
    if spec.get("rpm_family"):
        rpmdistro.make_rpm_distro(root, spec["rpm_family"], kver, packages_dir, chroot, Mounts)
    elif spec.get("dom0_kernel"):
        remove_kernel_and_boot_loader(root, kver, packages_dir)
    else:
        pygrub_boot_files(root, name, kver, root_dev, boot_dev, swap_dev)


def xen_only_initramfs(root):
    """Only the Xen drivers in the initramfs, as a Xen-tuned guest has."""
    conf = os.path.join(root, "etc/initramfs-tools/initramfs.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("MODULES=most", "MODULES=list"))
    write(
        root,
        "/etc/initramfs-tools/modules",
        "# List of modules that you want to include in your initramfs.\n"
        "xen-blkfront\nxen-netfront\next4\n",
    )


def pygrub_boot_files(root, name, kver, root_dev, boot_dev, swap_dev):
    """GRUB settings and the grub.cfg pygrub read; the initrd rebuilt."""
    cmdline_default = "quiet"
    cmdline = "console=hvc0 xencons=tty"
    extra = ""
    if name == "d":
        cmdline = f"root={root_dev} console=hvc0 xencons=tty resume={swap_dev}"
        extra = "GRUB_DISABLE_LINUX_UUID=true\n"
    write(
        root,
        "/etc/default/grub",
        "# written on Xen\n"
        "GRUB_DEFAULT=0\nGRUB_TIMEOUT=2\n"
        "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n"
        f'GRUB_CMDLINE_LINUX_DEFAULT="{cmdline_default}"\n'
        f'GRUB_CMDLINE_LINUX="{cmdline}"\n'
        f"{extra}"
        "#GRUB_TERMINAL=console\n",
    )
    write(root, "/boot/grub/device.map", "(hd0)\t/dev/xvda\n")

    # pygrub-era grub.cfg: what dom0's pygrub read; no boot code is installed.
    grub_root = "(hd0,msdos1)"
    prefix = "/boot"
    if boot_dev:
        prefix = ""
    write(
        root,
        "/boot/grub/grub.cfg",
        "# generated on the Xen host\n"
        "set default=0\nset timeout=2\n"
        "menuentry 'Debian GNU/Linux' {\n"
        "\tinsmod part_msdos\n\tinsmod ext2\n"
        f"\tset root='{grub_root}'\n"
        f"\tlinux {prefix}/vmlinuz-{kver} root={root_dev} ro console=hvc0 xencons=tty quiet\n"
        f"\tinitrd {prefix}/initrd.img-{kver}\n"
        "}\n",
    )
    if os.path.exists(os.path.join(root, "usr/sbin/update-initramfs")):
        with Mounts(root):
            chroot(root, ["update-initramfs", "-u", "-k", kver])


PYGRUB_BOOT = """  <bootloader>/usr/bin/pygrub</bootloader>
  <os>
    <type arch='x86_64' machine='xenpv'>linux</type>
  </os>
"""
DOM0_KERNEL_BOOT = """  <os>
    <type arch='x86_64' machine='xenpv'>linux</type>
    <kernel>/var/lib/xen/boot/vmlinuz-guest</kernel>
    <initrd>/var/lib/xen/boot/initrd-guest</initrd>
    <cmdline>root=/dev/xvda1 ro console=hvc0</cmdline>
  </os>
"""


XEN_TOOLS_KERNEL = "/boot/vmlinuz-6.1.0-xen-host"
XEN_TOOLS_RAMDISK = "/boot/initrd.img-6.1.0-xen-host"


def xen_tools_cfg(name, disk_paths, spec):
    """The xl.cfg xen-create-image writes (its xm.tmpl) for a guest that
    boots dom0's kernel, for these images."""
    boot = (
        "#\n#  Kernel + memory size\n#\n"
        f"kernel      = '{XEN_TOOLS_KERNEL}'\n"
        "extra       = 'elevator=noop'\n"
        f"ramdisk     = '{XEN_TOOLS_RAMDISK}'\n"
    )
    disks = "".join(
        f"                  'file:{path},{target},w',\n"
        for (target, _size), path in zip(spec["disks"], disk_paths)
    )
    return (
        f"#\n# Configuration file for the Xen instance xenguest-{name}, created\n"
        "# by xen-tools 4.9.2 on Sat Nov 28 12:00:00 2026.\n#\n\n"
        f"{boot}\n"
        "vcpus       = '1'\nmemory      = '1024'\n\n"
        "#\n#  Disk device(s).\n#\n"
        "root        = '/dev/xvda2 ro'\n"
        f"disk        = [\n{disks}              ]\n\n"
        f"#\n#  Hostname\n#\nname        = 'xenguest-{name}'\n\n"
        "#\n#  Networking\n#\n"
        f"vif         = [ 'mac={spec['mac']},bridge=br0' ]\n\n"
        "#\n#  Behaviour\n#\n"
        "on_poweroff = 'destroy'\non_reboot   = 'restart'\non_crash    = 'restart'\n"
    )


def domain_xml(name, disk_paths, spec):
    boot = DOM0_KERNEL_BOOT if spec.get("dom0_kernel") else PYGRUB_BOOT
    if spec.get("xen_tools") and spec.get("dom0_kernel"):
        boot = (
            f"  <os>\n    <type arch='x86_64' machine='xenpv'>linux</type>\n"
            f"    <kernel>{XEN_TOOLS_KERNEL}</kernel>\n"
            f"    <initrd>{XEN_TOOLS_RAMDISK}</initrd>\n"
            "    <cmdline>root=/dev/xvda2 ro elevator=noop</cmdline>\n  </os>\n"
        )
    disks = "".join(
        f"""    <disk type='file' device='disk'>
      <driver name='file'/>
      <source file='{path}'/>
      <target dev='{target}' bus='xen'/>
    </disk>
"""
        for (target, _size), path in zip(spec["disks"], disk_paths)
    )
    return f"""<domain type='xen'>
  <name>xenguest-{name}</name>
  <uuid>{spec["uuid"]}</uuid>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>1</vcpu>
{boot}
  <clock offset='utc' adjustment='reset'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>restart</on_crash>
  <devices>
{disks}    <interface type='bridge'>
      <mac address='{spec["mac"]}'/>
      <source bridge='br0'/>
      <script path='vif-bridge'/>
      <target dev='vif1.0'/>
    </interface>
    <console type='pty'>
      <target type='xen' port='0'/>
    </console>
    <input type='mouse' bus='xen'/>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
  </devices>
</domain>
"""


def fits_host_tools(spec):
    """One filesystem (/) and swap, no LVM: the disks can be made on the
    host, without the appliance (LVM needs device-mapper, which this
    kernel lacks, and several filesystems would need the tree split)."""
    if spec.get("xen_tools"):
        return False
    mounts = [mnt for parts in spec["parts"].values() for _n, _k, _s, _e, mnt in parts if mnt]
    return not spec["lvm"] and mounts == ["/"]


def make_disks_on_host(name, tree, out_paths, work):
    """Partition and fill the disks with host tools: mke2fs -d writes the
    tree into a filesystem image as it creates it (no mount, no loop device,
    no appliance), and each partition image is copied to its offset. Under
    TCG this is minutes faster per layout than tar_in through the appliance."""
    spec = LAYOUTS[name]
    for (target, size), path in zip(spec["disks"], out_paths):
        with open(path, "wb") as f:
            f.truncate(size)
        parts = sorted(spec["parts"][target])
        table = ["label: dos"]
        for _num, kind, start, end, _mnt in parts:
            length = (size if end == -1 else end * MIB) - start * MIB
            mbr_type = {"swap": "82", "lvm": "8e"}.get(kind, "83")
            table.append(f"start={start * MIB // 512}, size={length // 512}, type={mbr_type}")
        run(
            ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", path],
            input="\n".join(table) + "\n",
            text=True,
        )
        with open(path, "r+b") as f:
            f.write(b"\0" * 440)  # no boot code: a pygrub guest has none
        for num, kind, start, end, _mnt in parts:
            length = (size if end == -1 else end * MIB) - start * MIB
            image = os.path.join(work, f"{target}{num}.img")
            with open(image, "wb") as f:
                f.truncate(length)
            if kind == "swap":
                os.chmod(image, 0o600)  # mkswap warns about anything wider
                run(["mkswap", image])
            else:
                run([f"mkfs.{kind}", "-q", "-F", "-d", tree, image])
            run(
                [
                    "dd",
                    f"if={image}",
                    f"of={path}",
                    "bs=1M",
                    f"seek={start}",
                    "conv=notrunc,sparse",
                    "status=none",
                ]
            )
            os.unlink(image)


def make_partition_images(name, tree, out_paths):
    """xen-tools' images: each one filesystem (or swap), no partition table."""
    spec = LAYOUTS[name]
    for (target, size), path in zip(spec["disks"], out_paths):
        _image, kind, _mnt = spec["images"][target]
        with open(path, "wb") as f:
            f.truncate(size)
        if kind == "swap":
            os.chmod(path, 0o600)
            run(["mkswap", path])
        else:
            run([f"mkfs.{kind}", "-q", "-F", "-d", tree, path])


def make_disks(name, tree, out_paths):
    """Partition, format and fill the disks with libguestfs (no loop
    devices): the layouts with LVM or several filesystems."""
    import guestfs

    spec = LAYOUTS[name]
    g = guestfs.GuestFS(python_return_dict=True)
    for (_target, size), path in zip(spec["disks"], out_paths):
        with open(path, "wb") as f:
            f.truncate(size)
        g.add_drive_opts(path, format="raw", readonly=False)
    g.launch()
    appliance = {}
    for i, (target, _size) in enumerate(spec["disks"]):
        dev = g.list_devices()[i]
        appliance[target] = dev
        g.part_init(dev, "msdos")
        # parted leaves generic MBR code; a pygrub guest has none at all.
        g.pwrite_device(dev, b"\0" * 440, 0)
        for num, kind, start, end, _mnt in spec["parts"][target]:
            last = -1 if end == -1 else end * MIB // 512 - 1
            g.part_add(dev, "p", start * MIB // 512, last)
            if kind == "swap":
                g.part_set_mbr_id(dev, num, 0x82)
            elif kind == "lvm":
                g.part_set_mbr_id(dev, num, 0x8E)
    mounts = []
    for target, parts in spec["parts"].items():
        for num, kind, _s, _e, mnt in parts:
            part = f"{appliance[target]}{num}"
            if kind in ("ext4", "ext3"):
                g.mkfs(kind, part)
                mounts.append((mnt, part))
            elif kind == "swap":
                g.mkswap(part)
    if spec["lvm"]:
        vg, lv, mnt, pv = spec["lvm"]
        part = appliance[pv[:4]] + pv[4:]
        g.pvcreate(part)
        g.vgcreate(vg, [part])
        g.lvcreate_free(lv, vg, 100)
        g.mkfs("ext4", f"/dev/{vg}/{lv}")
        mounts.append((mnt, f"/dev/{vg}/{lv}"))
    for mnt, dev in sorted(mounts, key=lambda m: len(m[0])):
        if mnt != "/":
            g.mkdir_p(mnt)
        g.mount(dev, mnt)
    g.tar_in(tree, "/", xattrs=True)
    g.umount_all()
    g.shutdown()
    g.close()


def build(name, cache):
    """The layout's description in the cache, built first if need be: its
    domain XML, or for a guest of xen-create-image the xl.cfg it wrote."""
    if name not in ALL_LAYOUTS:
        sys.exit(f"build.py: unknown layout {name!r} (known: {', '.join(ALL_LAYOUTS)})")
    os.makedirs(cache, exist_ok=True)
    outdir = os.path.join(cache, f"{name}-{script_hash(name)}")
    if name in xentools.LAYOUTS:
        result = os.path.join(outdir, f"{xentools.hostname(name)}.cfg")
    elif name in hvm.LAYOUTS:
        result = os.path.join(outdir, f"{hvm.hostname(name)}.cfg")
    else:
        result = os.path.join(outdir, f"xenguest-{name}.xml")
    with cache_lock(cache, name):
        if not os.path.exists(result):
            if name in xentools.LAYOUTS:
                build_with_xen_tools(name, cache, outdir)
            elif name in hvm.LAYOUTS:
                build_hvm(name, cache, outdir)
            else:
                build_into(name, cache, outdir, result)
            prune_stale(cache, name, outdir)
    return result


def build_with_xen_tools(name, cache, outdir):
    """xen-create-image makes the guest (xentools.py); it is kept as made."""
    work = tempfile.mkdtemp(prefix=f"{name}-", dir=cache)
    try:
        staging = os.path.join(work, "out")
        os.mkdir(staging)
        dist = xentools.LAYOUTS[name]["dist"]
        debs = os.path.join(cache, f"xen-tools-debs-{dist}")
        os.makedirs(debs, exist_ok=True)
        # builders of one release share its .deb cache, which xen-tools
        # copies into the guest and back
        with cache_lock(cache, f"xen-tools-debs-{dist}"):
            xentools.build(
                name, os.path.join(work, "xen"), staging, outdir, debian_mirror(), debs, run
            )
        for n in os.listdir(staging):
            if n.endswith(".img"):
                os.chmod(os.path.join(staging, n), 0o444)
        os.rename(staging, outdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_hvm(name, cache, outdir):
    """An HVM guest with its own boot loader (hvm.py), from the debootstrap tree."""
    work = tempfile.mkdtemp(prefix=f"{name}-", dir=cache)
    try:
        staging = os.path.join(work, "out")
        os.mkdir(staging)
        tree = os.path.join(work, "tree")
        os.mkdir(tree)
        run(["tar", "-C", tree, "--numeric-owner", "--xattrs", "-xf", base_tarball(cache)])
        hvm.build(name, tree, work, staging, outdir, run, chroot, Mounts)
        os.rename(staging, outdir)
    finally:
        # never delete through a mount left behind (/dev is bound into it)
        with open("/proc/mounts") as f:
            busy = [line.split()[1] for line in f if line.split()[1].startswith(work + "/")]
        if busy:
            log(f"left {work} in place: still mounted: {', '.join(busy)}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def build_into(name, cache, outdir, xml_path):
    spec = LAYOUTS[name]
    work = tempfile.mkdtemp(prefix=f"{name}-", dir=cache)
    try:
        staging = os.path.join(work, "out")
        os.mkdir(staging)
        tree = os.path.join(work, "tree")
        os.mkdir(tree)
        if spec.get("file_level"):
            suse.make_tree(name, tree)
            suse.make_packages(name, os.path.join(staging, "packages"))
        else:
            run(["tar", "-C", tree, "--numeric-owner", "--xattrs", "-xf", base_tarball(cache)])
            configure_xen_guest(tree, name, os.path.join(staging, "packages"))
        names = [
            spec["images"][target][0] if spec.get("xen_tools") else f"xenguest-{name}-{target}.img"
            for target, _ in spec["disks"]
        ]
        paths = [os.path.join(staging, n) for n in names]
        if spec.get("xen_tools"):
            make_partition_images(name, tree, paths)
            with open(os.path.join(staging, f"xenguest-{name}.cfg"), "w") as f:
                f.write(xen_tools_cfg(name, [os.path.join(outdir, n) for n in names], spec))
        elif fits_host_tools(spec):
            make_disks_on_host(name, tree, paths, work)
        else:
            tree_tar = os.path.join(work, "tree.tar")
            run(["tar", "-C", tree, "--numeric-owner", "--xattrs", "-cf", tree_tar, "."])
            shutil.rmtree(tree)
            make_disks(name, tree_tar, paths)
        with open(os.path.join(staging, os.path.basename(xml_path)), "w") as f:
            f.write(domain_xml(name, [os.path.join(outdir, n) for n in names], spec))
        for n in names:
            os.chmod(os.path.join(staging, n), 0o444)
        os.rename(staging, outdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prune_stale(cache, name, current):
    """Remove this layout's images built by older versions of the scripts."""
    stale = re.compile(re.escape(name) + r"-[0-9a-f]{16}$")
    for entry in os.listdir(cache):
        path = os.path.join(cache, entry)
        if stale.match(entry) and path != current and os.path.isdir(path):
            log(f"removing stale {path}")
            shutil.rmtree(path, ignore_errors=True)


def write_result(path, result_file):
    """The one channel a caller reads: written once, whole, at the end."""
    tmp = result_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(path + "\n")
    os.replace(tmp, result_file)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("layout", choices=sorted(ALL_LAYOUTS))
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument(
        "--result", metavar="FILE", help="write the domain XML's path here instead of stdout"
    )
    args = ap.parse_args()
    os.environ.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    # Keep the real stdout for the result alone; during the build, fd 1 (of
    # this process and every child) is stderr.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    path = build(args.layout, args.cache)
    sys.stdout.flush()
    if args.result:
        write_result(path, args.result)
    else:
        os.write(result_fd, (path + "\n").encode())
    os.close(result_fd)


if __name__ == "__main__":
    main()
