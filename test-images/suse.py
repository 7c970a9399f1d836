"""File-level SLES 11 and SLES 15 guests for build.py (layouts c11, c15).

SUSE binaries cannot run here, so these trees hold the real configuration
files of a SLES Xen PV guest laid out as the guide describes, a busybox for
/bin/sh, and stand-in programs (mkinitrd, dracut, lsinitrd, rpm, zypper,
grub-install, grub2-*) that append the command line they were called with
to /var/log/guestfix-standin.log and leave the files the real program would
(an initrd listing its modules, a grub.cfg, grubenv). Package files are tar
archives named like rpms, which the stand-in rpm unpacks. perl-Bootloader
(update-bootloader) has no stand-in: guestfix never runs it, it edits the
files perl-Bootloader reads (/etc/sysconfig/bootloader, menu.lst).
The real rpm, zypper and dracut run on the rpm-family layouts instead
(rpmdistro.py: r9, s15).

  c11  SLES 11 SP4: sysvinit, GRUB legacy menu.lst, mkinitrd with
       INITRD_MODULES="xenblk xennet", only kernel-xen installed (the
       default kernel comes as packages/kernel-default-*.rpm).
  c15  SLES 15 SP5: systemd, dracut.conf.d with the Xen drivers and
       hostonly="yes", kernel-default installed, GRUB 2 settings and a
       pygrub-era grub.cfg but no grub2 package (packages/grub2-*.rpm).
"""

import io
import os
import shutil
import subprocess
import tarfile

from tree import symlink, write

STANDIN_LOG = "/var/log/guestfix-standin.log"
BUSYBOX_APPLETS = [
    "sh",
    "cat",
    "mkdir",
    "tar",
    "sed",
    "sort",
    "ls",
    "basename",
    "grep",
    "cp",
    "rm",
    "mv",
    "ln",
    "touch",
    "head",
    "tail",
    "tr",
    "cut",
    "awk",
    "uname",
    "readlink",
    "dirname",
    "echo",
    "true",
    "false",
    "test",
    "sync",
    "dd",
    "printf",
    "stat",
]
SLES11_XEN = "3.0.101-63-xen"
SLES11_DEFAULT = "3.0.101-63-default"
SLES15_DEFAULT = "5.14.21-150500.55.19-default"
MODULE_DIRS = {
    "virtio_blk": "drivers/block",
    "virtio_net": "drivers/net",
    "virtio_pci": "drivers/virtio",
    "virtio_balloon": "drivers/virtio",
    "virtio_scsi": "drivers/scsi",
    "xenblk": "drivers/xen/blkfront",
    "xennet": "drivers/xen/netfront",
}

RECORD = f'echo "$(basename "$0") $*" >> {STANDIN_LOG}\n'

MKINITRD = (
    "#!/bin/sh\n# stand-in for SUSE mkinitrd: records its call, writes a listing\n"
    + RECORD
    + r"""
. /etc/sysconfig/kernel
kernel=vmlinuz; initrd=initrd; extra=""
while [ $# -gt 0 ]; do
  case "$1" in -k) kernel=$2; shift;; -i) initrd=$2; shift;; -m) extra=$2; shift;; esac
  shift
done
version=${kernel#vmlinuz-}
{ echo "# stand-in initrd for $version"
  for m in $INITRD_MODULES $extra; do echo "lib/modules/$version/kernel/$m.ko"; done
} > /boot/$initrd
"""
)

DRACUT = (
    "#!/bin/sh\n# stand-in for dracut: records its call, writes a listing\n" + RECORD + r"""
# a test makes it fail (as a real dracut can) by creating this file first
if [ -e /etc/dracut-standin-fail ]; then """
    r"""echo "dracut: cannot install kernel modules" >&2; exit 1; fi
drivers=""; out=""; version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --add-drivers) drivers="$drivers $2"; shift;;
    -*) ;;
    *) if [ -z "$out" ]; then out=$1; else version=$1; fi;;
  esac
  shift
done
conf=$(cat /etc/dracut.conf.d/*.conf | grep -E '^ *(add_drivers|force_drivers)' \
       | sed -e 's/^[^=]*=//' -e 's/"//g')
{ echo "# stand-in initrd for $version"
  for m in $drivers $conf; do echo "usr/lib/modules/$version/kernel/$m.ko"; done
} > "$out"
"""
)

LSINITRD = (
    "#!/bin/sh\n# stand-in for lsinitrd: the stand-in initrd is its own listing\n"
    + RECORD
    + 'cat "$1"\n'
)

RPM = (
    "#!/bin/sh\n# stand-in for rpm: packages are tar archives\n"
    + RECORD
    + r"""
case "$1" in
  -q) shift
      for p in "$@"; do
        if [ -e "/var/lib/standin-rpm/$p" ]; then echo "$p-1.0-1"; else
          echo "package $p is not installed"; exit 1; fi
      done;;
  -U*|-i*|--upgrade|--install)
      for f in "$@"; do
        case "$f" in -*) ;; *) tar -xf "$f" -C / || exit 1;; esac
      done;;
  *) echo "rpm stand-in: unsupported $1" >&2; exit 1;;
esac
"""
)

ZYPPER = (
    "#!/bin/sh\n# stand-in for zypper: no repositories are reachable here\n"
    + RECORD
    + "echo \"Repository 'SLES' is invalid: no network\" >&2\nexit 104\n"
)

# Boot code the way guestfix recognises it: "GRUB" in the MBR's code area
# (the partition table, from byte 446, is left alone).
WRITE_MBR = (
    "for dev; do :; done\n"
    'printf "GRUB stand-in boot code" | dd of="$dev" bs=1 conv=notrunc 2>/dev/null\n'
)

GRUB_LEGACY_INSTALL = (
    "#!/bin/sh\n# stand-in for GRUB legacy grub-install\n"
    + RECORD
    + WRITE_MBR
    + 'echo "installed on $*" > /boot/grub/stage1.standin\n'
)

GRUB2_INSTALL = (
    "#!/bin/sh\n# stand-in for grub2-install\n"
    + RECORD
    + WRITE_MBR
    + 'mkdir -p /boot/grub2/i386-pc\necho "installed on $*" > /boot/grub2/i386-pc/core.img\n'
)

GRUB2_SET_DEFAULT = (
    "#!/bin/sh\n# stand-in for grub2-set-default\n"
    + RECORD
    + 'printf "# GRUB Environment Block\\nsaved_entry=%s\\n" "$1" > /boot/grub2/grubenv\n'
)

# Like grub2-mkconfig in the libguestfs appliance: grub-probe names the
# appliance's device of / (sda1, or sdb1 when the appliance's kernel
# enumerated its disks the other way), so root= names it unless a setting
# says otherwise.
GRUB2_MKCONFIG = (
    "#!/bin/sh\n# stand-in for grub2-mkconfig\n" + RECORD + r"""
out=/dev/stdout
dev=$(stat -c %d /)
root=/dev/$(basename "$(readlink "/sys/dev/block/$((dev >> 8)):$((dev & 255))")")
while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift;; esac; shift; done
. /etc/default/grub
{
  echo "# stand-in grub.cfg"
  echo 'set default="${saved_entry}"'
  first=1
  for k in $(ls /boot/vmlinuz-* | sort -r); do
    v=${k#/boot/vmlinuz-}
    if [ $first = 1 ]; then
      echo "menuentry 'SLES 15-SP5' --class sles \$menuentry_id_option 'gnulinux-simple-root' {"
      echo "	linux $k root=$root $GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT"
      echo "	initrd /boot/initrd-$v"
      echo "}"
      echo "submenu 'Advanced options for SLES 15-SP5' """
    r"""\$menuentry_id_option 'gnulinux-advanced-root' {"
      first=0
    fi
    echo "	menuentry 'SLES 15-SP5, with Linux $v' """
    r"""\$menuentry_id_option 'gnulinux-$v-advanced-root' {"
    echo "		linux $k root=$root $GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT"
    echo "	}"
  done
  [ $first = 0 ] && echo "}"
} > "$out"
"""
)


def install_busybox(root):
    """/bin/sh and the few tools the stand-ins use, with busybox's libraries."""
    busybox = shutil.which("busybox")
    write(root, "/bin/.keep", "")
    shutil.copy2(busybox, os.path.join(root, "bin/busybox"))
    ldd = subprocess.run(["ldd", busybox], capture_output=True, text=True, check=True).stdout
    for line in ldd.splitlines():
        path = line.split("=>")[-1].split("(")[0].strip()
        if path.startswith("/"):
            dest = os.path.join(root, path.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.realpath(path), dest)
    for applet in BUSYBOX_APPLETS:
        symlink(root, "busybox", f"/bin/{applet}")
    symlink(root, "busybox", "/bin/bash")


def kernel_files(root, version, modules, xen=False):
    write(root, f"/boot/vmlinuz-{version}", f"stand-in kernel image {version}\n")
    write(root, f"/boot/System.map-{version}", "")
    write(
        root,
        f"/boot/config-{version}",
        "CONFIG_X86_64=y\n" + ("CONFIG_X86_64_XEN=y\n" if xen else "CONFIG_VIRTIO_BLK=m\n"),
    )
    for m in modules:
        write(root, f"/lib/modules/{version}/kernel/{MODULE_DIRS[m]}/{m}.ko", "")
    write(root, f"/lib/modules/{version}/modules.builtin", "")


def common(root, hostname):
    install_busybox(root)
    for d in ("/proc", "/sys", "/dev", "/tmp", "/var/tmp", "/var/log", "/root", "/run"):
        os.makedirs(os.path.join(root, d.lstrip("/")), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    write(root, "/etc/HOSTNAME", f"{hostname}\n")
    write(root, "/etc/hosts", f"127.0.0.1 localhost\n127.0.0.2 {hostname}\n")
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    write(root, STANDIN_LOG, "")
    write(root, "/bin/rpm", RPM, 0o755)
    write(root, "/usr/bin/zypper", ZYPPER, 0o755)
    write(root, "/etc/modprobe.d/50-xen.conf", "alias eth0 xennet\n")


def sles11(root):
    common(root, "sles11-xen")
    write(
        root,
        "/etc/SuSE-release",
        "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n",
    )
    write(
        root,
        "/etc/fstab",
        "/dev/xvda2  /     ext3  acl,user_xattr  1 1\n"
        "/dev/xvda1  swap  swap  defaults        0 0\n"
        "proc        /proc proc  defaults        0 0\n",
    )
    write(
        root,
        "/etc/sysconfig/kernel",
        "## Type: string\n"
        "# modules loaded by the initrd\n"
        'INITRD_MODULES="xenblk xennet"\n'
        "\n"
        "## Type: string\n"
        'DOMU_INITRD_MODULES="xennet xenblk"\n'
        'MODULES_LOADED_ON_BOOT=""\n',
    )
    write(
        root,
        "/etc/inittab",
        "id:3:initdefault:\n"
        "si::bootwait:/etc/init.d/boot\n"
        "1:2345:respawn:/sbin/mingetty --noclear tty1\n"
        "x0:12345:respawn:/sbin/agetty -L 9600 xvc0 xterm\n",
    )
    write(root, "/etc/securetty", "console\ntty1\nxvc0\n")
    write(root, "/boot/grub/device.map", "(hd0)\t/dev/xvda\n")
    write(
        root,
        "/etc/sysconfig/bootloader",
        'LOADER_TYPE="grub"\n'
        'DEFAULT_APPEND="resume=/dev/xvda1 splash=silent showopts console=xvc0 xencons=xvc"\n'
        'FAILSAFE_APPEND="showopts ide=nodma apm=off noresume x11failsafe"\n'
        'XEN_KERNEL_APPEND="resume=/dev/xvda1 splash=silent showopts console=xvc0"\n',
    )
    write(
        root,
        "/boot/grub/menu.lst",
        "# Modified by YaST2. Last modification on Tue Mar  3 10:12:01 UTC 2015\n"
        "default 0\n"
        "timeout 8\n"
        "\n"
        f"title SUSE Linux Enterprise Server 11 SP4 - {SLES11_XEN}\n"
        "    root (hd0,1)\n"
        f"    kernel /boot/vmlinuz-{SLES11_XEN} root=/dev/xvda2 resume=/dev/xvda1 "
        "splash=silent showopts console=xvc0 xencons=xvc\n"
        f"    initrd /boot/initrd-{SLES11_XEN}\n",
    )
    kernel_files(root, SLES11_XEN, ["xenblk", "xennet"], xen=True)
    write(root, f"/boot/initrd-{SLES11_XEN}", "lib/modules/xenblk.ko\nlib/modules/xennet.ko\n")
    write(root, "/var/lib/standin-rpm/kernel-xen", "")
    write(root, "/sbin/mkinitrd", MKINITRD, 0o755)
    write(root, "/usr/sbin/grub-install", GRUB_LEGACY_INSTALL, 0o755)
    # GRUB legacy's stage files, where SLES 11's grub package has them
    # (guestfix knows the boot loader by its files, not its installer's name)
    write(root, "/usr/lib/grub/stage1", "stand-in GRUB legacy stage1\n")
    write(root, "/usr/lib/grub/stage2", "stand-in GRUB legacy stage2\n")


def sles15(root):
    common(root, "sles15-xen")
    write(
        root,
        "/etc/os-release",
        'NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\n'
        'PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\nID="sles"\n'
        'ID_LIKE="suse"\nCPE_NAME="cpe:/o:suse:sles:15:sp5"\n',
    )
    write(
        root,
        "/etc/fstab",
        "/dev/xvda1  /     ext4  defaults  0 1\n"
        "UUID=0a6c3b2e-6f0c-4a4e-9d59-3c1b3c4d5e6f  swap  swap  defaults  0 0\n",
    )
    write(root, "/etc/dracut.conf.d/01-dist.conf", '# SUSE defaults\nhostonly="yes"\n')
    write(
        root,
        "/etc/dracut.conf.d/10-xen.conf",
        '# written on Xen\nadd_drivers+=" xenblk xennet "\n',
    )
    write(
        root,
        "/etc/default/grub",
        'GRUB_DISTRIBUTOR="SLES15-SP5"\n'
        "GRUB_DEFAULT=saved\n"
        "GRUB_TIMEOUT=8\n"
        'GRUB_CMDLINE_LINUX_DEFAULT="root=/dev/xvda1 disk=/dev/xvda resume=/dev/xvda2 '
        'splash=silent quiet showopts console=xvc0 xencons=xvc"\n'
        'GRUB_CMDLINE_LINUX_RECOVERY="root=/dev/xvda1 console=xvc0 showopts apm=off '
        "noresume edd=off powersaved=off nohz=off highres=off processor.max_cstate=1 "
        'nomodeset x11failsafe"\n'
        'GRUB_CMDLINE_LINUX=""\n'
        "GRUB_TERMINAL=console\n",
    )
    write(root, "/boot/grub2/device.map", "(hd0)\t/dev/xvda\n")
    write(root, "/boot/grub2-efi/device.map", "(hd0)\t/dev/xvda\n")
    write(
        root,
        "/boot/grub2/grubenv",
        "# GRUB Environment Block\nsaved_entry=SLES 15-SP5, with Xen hypervisor\n",
    )
    write(
        root,
        "/boot/grub2/grub.cfg",
        "# written on the Xen host, read by pygrub\n"
        "menuentry 'SLES 15-SP5, with Xen hypervisor' {\n"
        f"\tlinux /boot/vmlinuz-{SLES15_DEFAULT} root=/dev/xvda1 console=xvc0\n"
        f"\tinitrd /boot/initrd-{SLES15_DEFAULT}\n"
        "}\n",
    )
    write(root, "/etc/securetty", "console\nxvc0\nhvc0\n")
    write(root, "/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    symlink(root, "/usr/lib/systemd/systemd", "/sbin/init")
    write(root, "/usr/lib/systemd/systemd", "", 0o755)
    write(root, "/usr/lib/systemd/system/getty@.service", "[Unit]\n")
    write(root, "/usr/lib/systemd/system/serial-getty@.service", "[Unit]\n")
    symlink(
        root,
        "/usr/lib/systemd/system/getty@.service",
        "/etc/systemd/system/getty.target.wants/getty@xvc0.service",
    )
    symlink(
        root,
        "/usr/lib/systemd/system/getty@.service",
        "/etc/systemd/system/getty.target.wants/getty@tty1.service",
    )
    kernel_files(
        root,
        SLES15_DEFAULT,
        ["virtio_blk", "virtio_net", "virtio_pci", "virtio_balloon", "virtio_scsi"],
    )
    write(root, f"/boot/initrd-{SLES15_DEFAULT}", "usr/lib/modules/xenblk.ko\n")
    write(root, "/var/lib/standin-rpm/kernel-default", "")
    write(root, "/usr/bin/dracut", DRACUT, 0o755)
    write(root, "/usr/bin/lsinitrd", LSINITRD, 0o755)


TREES = {"c11": sles11, "c15": sles15}


def _package(path, files):
    """A tar archive (the stand-in rpm unpacks it) holding `files`."""
    with tarfile.open(path, "w") as tar:
        for name, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))


def make_packages(name, directory):
    """The package files the administrator would supply with --package."""
    os.makedirs(directory, exist_ok=True)
    if name == "c11":
        v = SLES11_DEFAULT
        files = {
            f"/boot/vmlinuz-{v}": (f"stand-in kernel image {v}\n", 0o644),
            f"/boot/config-{v}": ("CONFIG_X86_64=y\nCONFIG_VIRTIO_BLK=m\n", 0o644),
            f"/lib/modules/{v}/modules.builtin": ("", 0o644),
            "/var/lib/standin-rpm/kernel-default": ("", 0o644),
        }
        for m in ("virtio_blk", "virtio_net", "virtio_pci", "virtio_balloon"):
            files[f"/lib/modules/{v}/kernel/{MODULE_DIRS[m]}/{m}.ko"] = ("", 0o644)
        _package(os.path.join(directory, "kernel-default-3.0.101-63.1.x86_64.rpm"), files)
    elif name == "c15":
        _package(
            os.path.join(directory, "grub2-2.06-150500.29.8.1.x86_64.rpm"),
            {
                "/usr/sbin/grub2-install": (GRUB2_INSTALL, 0o755),
                "/usr/sbin/grub2-mkconfig": (GRUB2_MKCONFIG, 0o755),
                "/usr/sbin/grub2-set-default": (GRUB2_SET_DEFAULT, 0o755),
                # SLES's GRUB 2 for BIOS keeps its modules here (grub2-i386-pc)
                "/usr/share/grub2/i386-pc/modinfo.sh": ("# stand-in modinfo.sh\n", 0o644),
                "/var/lib/standin-rpm/grub2": ("", 0o644),
            },
        )


def make_tree(name, root):
    TREES[name](root)
