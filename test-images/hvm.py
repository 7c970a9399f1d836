"""Xen HVM guests as an installer leaves them: their own boot loader on
their own disk, started by Xen's firmware, not by pygrub.

  hu  UEFI (xl.cfg `bios = 'ovmf'`): GPT with an EFI system partition
      (vfat, /boot/efi), root (ext4) and swap, all by UUID in fstab as the
      Debian installer writes them; grub-efi-amd64 installed by the real
      grub-install into \\EFI\\debian\\ only (Debian's default: no
      \\EFI\\BOOT\\BOOTX64.EFI, the boot entry lived in Xen's NVRAM);
      the NIC configured as enX0 (bookworm's name for a netfront NIC) by
      systemd-networkd; the kernel's console on ttyS0 (xl `serial='pty'`).
  hb  BIOS (SeaBIOS under qemu-xen): MBR, root and swap, /dev/xvda names
      in fstab, grub-pc's boot code in the MBR written by the real
      grub-install, the disk given to Xen as `hda` (emulated IDE, unplugged
      for the PV driver, so the guest saw xvda), an emulated e1000 NIC
      next to it, configured as eth0 by ifupdown, and console=hvc0 on the
      kernel command line (Xen's PV console, which HVM guests have too).

Both start from build.py's debootstrap tree. The initramfs lists Xen's
drivers (MODULES=list): what the installer's targeted initramfs
(MODULES=dep) holds on Xen, written as a list because MODULES=dep would
read this build host's devices.

The disks are made on the host: partition table by sfdisk, each
partition a loop device at its offset (this machine's loop devices do not
scan partitions), mkfs.ext4 -d fills root, and the guest's own
update-initramfs runs in a chroot of it. The guest's grub-install and
update-grub run in libguestfs' appliance (install_boot_loader).
"""

import contextlib
import json
import os
import subprocess

from tree import write

MIB = 1024**2
GIB = 1024**3
SIZE = 3 * GIB
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
SWAP_TYPE = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"

LAYOUTS = {
    "hu": {
        "firmware": "efi",
        "mac": "00:16:3e:5a:11:e1",
        "uuid": "6c1b0e01-7e52-4d3a-9b58-0a1f2e3d4c5b",
        "vdev": "xvda",
        "nic": "enX0",
        # (number, kind, start MiB, end MiB or -1, mount point, filesystem UUID)
        "parts": [
            (1, "esp", 1, 129, "/boot/efi", "5A1E-0E01"),
            (2, "ext4", 129, 2689, "/", "0e1e0e01-2c3d-4e5f-8a9b-0c1d2e3f4a5b"),
            (3, "swap", 2689, -1, None, "0e1e0e03-2c3d-4e5f-8a9b-0c1d2e3f4a5b"),
        ],
    },
    "hb": {
        "firmware": "bios",
        "mac": "00:16:3e:5a:11:e2",
        "uuid": "6c1b0e02-7e52-4d3a-9b58-0a1f2e3d4c5b",
        "vdev": "hda",
        "nic": "eth0",
        "nic_model": "e1000",
        "parts": [
            (1, "ext4", 1, 2560, "/", "0e1e0b01-2c3d-4e5f-8a9b-0c1d2e3f4a5b"),
            (2, "swap", 2560, -1, None, "0e1e0b02-2c3d-4e5f-8a9b-0c1d2e3f4a5b"),
        ],
    },
}
KERNEL_ARGS = {"hu": "console=tty0 console=ttyS0,115200", "hb": "console=hvc0"}


def hostname(name):
    return f"xenhvm-{name}"


def build(name, tree, work, staging, outdir, run, chroot, mounts):
    """The guest from a debootstrap `tree` (extracted, writable): its disk
    and xl.cfg written into `staging`, their paths naming `outdir` (where
    the caller moves staging once it is complete); `work` is scratch."""
    spec = LAYOUTS[name]
    with mounts(tree):
        chroot(tree, ["apt-get", "update"])
        if spec["firmware"] == "efi":
            # replaces grub-pc (they conflict), as the installer's choice would
            chroot(tree, ["apt-get", "install", "-y", "grub-efi-amd64", "dosfstools"])
        chroot(tree, ["apt-get", "clean"])
    configure(name, tree)
    image = os.path.join(staging, f"{hostname(name)}-disk.img")
    make_disk(name, tree, image, os.path.join(work, "mnt"), run, chroot, mounts)
    os.chmod(image, 0o444)
    with open(os.path.join(staging, f"{hostname(name)}.cfg"), "w") as f:
        f.write(xl_cfg(name, os.path.join(outdir, os.path.basename(image))))


def configure(name, tree):
    spec = LAYOUTS[name]
    host = hostname(name)
    write(tree, "/etc/hostname", f"{host}\n")
    write(tree, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{host}\n")
    os.makedirs(os.path.join(tree, "boot/efi"), exist_ok=True)
    fstab = ["# /etc/fstab: static file system information."]
    for num, kind, _s, _e, mnt, fs_uuid in spec["parts"]:
        source = f"UUID={fs_uuid}" if spec["firmware"] == "efi" else f"/dev/xvda{num}"
        if kind == "esp":
            fstab.append(f"{source}  {mnt}  vfat  umask=0077  0  1")
        elif kind == "swap":
            fstab.append(f"{source}  none  swap  sw  0  0")
        else:
            fstab.append(f"{source}  {mnt}  {kind}  errors=remount-ro  0  1")
    write(tree, "/etc/fstab", "\n".join(fstab) + "\n")
    nic = spec["nic"]
    if spec["firmware"] == "efi":
        write(
            tree,
            f"/etc/systemd/network/50-{nic}.network",
            f"[Match]\nName={nic}\n\n[Network]\nDHCP=yes\n",
        )
        for unit, wants in (
            ("systemd-networkd.service", "multi-user.target.wants"),
            ("systemd-networkd.socket", "sockets.target.wants"),
        ):
            link = os.path.join(tree, "etc/systemd/system", wants, unit)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if not os.path.lexists(link):
                os.symlink(f"/lib/systemd/system/{unit}", link)
    else:
        write(
            tree,
            "/etc/network/interfaces",
            "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
            f"allow-hotplug {nic}\niface {nic} inet dhcp\n",
        )
    conf = os.path.join(tree, "etc/initramfs-tools/initramfs.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("MODULES=most", "MODULES=list"))
    drivers = "xen-blkfront\nxen-netfront\next4\n" + (
        "vfat\n" if spec["firmware"] == "efi" else ""
    )
    write(tree, "/etc/initramfs-tools/modules", "# written on Xen\n" + drivers)
    grub = os.path.join(tree, "etc/default/grub")
    with open(grub) as f:
        text = f.read()
    text = text.replace(
        'GRUB_CMDLINE_LINUX=""', f'GRUB_CMDLINE_LINUX="{KERNEL_ARGS[name]}"'
    ).replace("GRUB_TIMEOUT=5", "GRUB_TIMEOUT=1")
    text += (
        'GRUB_TERMINAL="console serial"\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n'
    )
    with open(grub, "w") as f:
        f.write(text)


def partition_table(name):
    spec = LAYOUTS[name]
    if spec["firmware"] == "efi":
        types = {"esp": ESP_TYPE, "swap": SWAP_TYPE}
        lines = ["label: gpt"]
    else:
        types = {"swap": "82"}
        lines = ["label: dos"]
    for _num, kind, start, end, _mnt, _uuid in spec["parts"]:
        size = f", size={(end - start) * MIB // 512}" if end != -1 else ""
        default = LINUX_TYPE if spec["firmware"] == "efi" else "83"
        lines.append(f"start={start * MIB // 512}{size}, type={types.get(kind, default)}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def loop_device(image, offset=0, size=0):
    argv = ["losetup", "--find", "--show"]
    if offset:
        argv += ["--offset", str(offset)]
    if size:
        argv += ["--sizelimit", str(size)]
    dev = subprocess.run(argv + [image], check=True, capture_output=True, text=True).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev])


@contextlib.contextmanager
def mounted(dev, target, run, *options):
    os.makedirs(target, exist_ok=True)
    run(["mount", *options, dev, target])
    try:
        yield target
    finally:
        subprocess.run(["umount", target], check=True)


def make_disk(name, tree, image, mnt, run, chroot, mounts):
    spec = LAYOUTS[name]
    with open(image, "wb") as f:
        f.truncate(SIZE)
    run(
        ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", image],
        input=partition_table(name),
        text=True,
    )
    # the partitions as sfdisk made them: on GPT the last one ends before
    # the backup table, not at the end of the disk
    table = json.loads(
        subprocess.run(["sfdisk", "--json", image], check=True, capture_output=True).stdout
    )["partitiontable"]
    extents = {
        int(p["node"][len(image) :]): (p["start"] * 512, p["size"] * 512)
        for p in table["partitions"]
    }
    with contextlib.ExitStack() as stack:
        for num, kind, _start, _end, where, fs_uuid in spec["parts"]:
            dev = stack.enter_context(loop_device(image, *extents[num]))
            if kind == "esp":
                run(["mkfs.vfat", "-F", "32", "-n", "EFI", "-i", fs_uuid.replace("-", ""), dev])
            elif kind == "swap":
                run(["mkswap", "-U", fs_uuid, dev])
            else:
                run(["mkfs.ext4", "-q", "-F", "-U", fs_uuid, "-d", tree, dev])
            if where == "/":
                root = dev
        # the initramfs needs no disk of its own: built here, in a chroot
        with mounted(root, mnt, run), mounts(mnt):
            chroot(mnt, ["update-initramfs", "-u", "-k", "all"])
    install_boot_loader(name, image)


def install_boot_loader(name, image):
    """grub-install and update-grub as the guest's installer runs them, on
    the guest's partitions as a kernel sees them: in libguestfs' appliance,
    whose kernel reads the partition table (this host's loop devices do not)
    and mounts the ESP's vfat (this host's kernel has no vfat)."""
    import guestfs

    spec = LAYOUTS[name]
    g = guestfs.GuestFS(python_return_dict=True)
    g.add_drive_opts(image, format="raw", readonly=False)
    g.launch()
    try:
        disk = g.list_devices()[0]
        mounts = sorted((p[4], f"{disk}{p[0]}") for p in spec["parts"] if p[4])
        for where, dev in mounts:
            g.mount(dev, where)
        if spec["firmware"] == "efi":
            g.command(
                ["grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi", "--no-nvram"]
            )
        else:
            g.command(["grub-install", "--target=i386-pc", disk])
        g.command(["update-grub"])
        g.umount_all()
        g.shutdown()
    finally:
        g.close()


def xl_cfg(name, image):
    spec = LAYOUTS[name]
    model = f", model={spec['nic_model']}" if spec.get("nic_model") else ""
    firmware = "bios = 'ovmf'\n" if spec["firmware"] == "efi" else ""
    return (
        f"# /etc/xen/{hostname(name)}.cfg: an HVM guest with its own boot loader\n"
        f"name = '{hostname(name)}'\n"
        f"uuid = '{spec['uuid']}'\n"
        "type = 'hvm'\n"
        f"{firmware}"
        "memory = 1024\n"
        "vcpus = 1\n"
        f"disk = [ 'format=raw, vdev={spec['vdev']}, access=rw, target={image}' ]\n"
        f"vif = [ 'mac={spec['mac']}, bridge=xenbr0{model}' ]\n"
        "serial = 'pty'\n"
    )
