"""What guestfix knows about a guest, read once through the session.

GuestFacts is plain data: steps decide from it (and from file contents)
without touching libguestfs, and `inspect` prints it.
"""

import re
from dataclasses import asdict, dataclass, field

from ..core.devnames import DEVICE_RE
from ..disks import partitions
from . import netconfig
from .guest import has_program

# Upstart jobs (Ubuntu 10.04-14.04) that keep a getty on the Xen console:
# scanned like the files below, and replaced by the console step.
XEN_UPSTART_JOBS = ["/etc/init/hvc0.conf", "/etc/init/xvc0.conf"]
# Files whose Xen references `inspect` reports and the steps fix.
SCANNED_FILES = [
    "/etc/fstab",
    "/etc/crypttab",
    "/etc/default/grub",
    "/etc/default/grub.d/*.cfg",
    "/boot/grub/grub.cfg",
    "/boot/grub/menu.lst",
    "/boot/grub/device.map",
    "/boot/grub2/grub.cfg",
    "/boot/grub2/device.map",
    "/boot/grub2-efi/device.map",
    "/etc/securetty",
    "/etc/inittab",
    "/etc/initramfs-tools/modules",
    "/etc/initramfs-tools/conf.d/*",
    "/etc/modprobe.d/*.conf",
    "/etc/modprobe.conf",
    "/etc/sysconfig/kernel",
    "/etc/dracut.conf",
    "/etc/dracut.conf.d/*.conf",
    "/etc/uswsusp.conf",
    "/etc/sysconfig/bootloader",
    *XEN_UPSTART_JOBS,
]
XEN_DRIVERS = ["xen-blkfront", "xen-netfront", "xen_blkfront", "xen_netfront", "xenblk", "xennet"]
XEN_CONSOLE_RE = re.compile(r"\b(?:xvc\d+|hvc\d+)\b|\bxencons=\S*")
XEN_DRIVER_RE = re.compile(
    r"(?<![\w-])(?:" + "|".join(re.escape(d) for d in XEN_DRIVERS) + r")(?![\w-])"
)
# Where systemd guests enable their gettys, and the links for Xen consoles
# (reported here, removed by the console step).
GETTY_DIRS = [
    "/etc/systemd/system/getty.target.wants",
    "/etc/systemd/system/multi-user.target.wants",
]
XEN_GETTY = re.compile(r"^(?:serial-)?getty@(?:xvc|hvc)\d+\.service$")
BOOT_SIGNATURES = (b"GRUB", b"LILO", b"SYSLINUX", b"EXTLINUX", b"ISOLINUX")
# Which boot loader a guest can install is known from the files its
# packages put there, never from a program's name: GRUB legacy's package
# has a grub-install too, and Debian's xen-tools guests carry GRUB 2's
# grub-common (grub-mkconfig) next to GRUB legacy. GRUB 2 keeps one
# directory of modules per platform (Debian and Red Hat in /usr/lib/grub,
# SUSE in /usr/share/grub2), each with modinfo.sh; GRUB legacy keeps its
# stage files (Debian: /usr/lib/grub/x86_64-pc, SUSE: /usr/lib/grub,
# Red Hat: /usr/share/grub/x86_64-redhat), and grub-install copies them to
# /boot/grub.
GRUB2_LIB_DIRS = ("/usr/lib/grub", "/usr/lib/grub2", "/usr/share/grub2")
GRUB2_PLATFORM_FILE = "modinfo.sh"
GRUB2_BIOS_PLATFORM = "i386-pc"
GRUB2_EFI_PLATFORM = "x86_64-efi"
GRUB_LEGACY_STAGE2 = (
    "/usr/lib/grub/stage2",
    "/usr/lib/grub/*/stage2",
    "/usr/share/grub/*/stage2",
    "/boot/grub/stage2",
)


@dataclass
class Kernel:
    version: str
    vmlinuz: str
    initrd: str
    xen_only: bool
    has_virtio: bool
    # drivers of interest found in the initrd; None when it was not listed
    # (fix lists it only when no rebuild is already certain)
    initrd_drivers: list = field(default_factory=list)

    @property
    def initrd_has_virtio(self):
        return "virtio_blk" in (self.initrd_drivers or ())


@dataclass
class XenReference:
    path: str
    line: int
    text: str
    kind: str  # device, console, driver, getty

    def __str__(self):
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.text}"


@dataclass
class GuestFacts:
    root: str = ""
    os_type: str = ""
    distro: str = ""
    version: str = ""
    product: str = ""
    family: str = ""  # debian, suse, redhat, other
    package_format: str = ""
    arch: str = ""
    hostname: str = ""
    init: str = ""  # systemd or sysvinit
    systemd_version: int = 0
    kernels: list = field(default_factory=list)
    boot_kernel: str = ""  # version of the kernel the fixed guest boots
    bootloader: str = ""  # grub2, grub-legacy or "": what is (to be) configured
    grub_dir: str = ""  # /boot/grub or /boot/grub2
    grub_cfg: str = ""
    grub_installer: str = ""  # the installer of that boot loader, if the guest has it
    legacy_menu: str = ""  # a GRUB legacy menu.lst next to a GRUB 2 to be configured
    grub2_platforms: list = field(default_factory=list)  # installed: i386-pc, x86_64-efi ...
    grub_legacy: bool = False  # GRUB legacy's stage files are installed
    boot_code: bool = False
    partition_table: str = ""  # msdos, gpt, or "" for a partitionless disk
    bios_boot_partition: bool = False
    firmware: str = ""  # what the KVM guest boots with: efi or bios
    esp: str = ""  # the mounted EFI system partition (from fstab, by its type)
    efi_loaders: list = field(default_factory=list)  # \EFI\... files on the ESP
    initrd_tool: str = ""  # initramfs-tools, dracut, mkinitrd
    selinux: str = ""  # enforcing, permissive, disabled or "" (none)
    xen_references: list = field(default_factory=list)
    nic_names: list = field(default_factory=list)
    nic_config: list = field(default_factory=list)  # files naming them
    mountpoints: dict = field(default_factory=dict)
    disks: list = field(default_factory=list)  # [{path, format, target, virtio}]
    appliance_disks: list = field(default_factory=list)  # kernel names in the appliance

    def as_dict(self):
        d = asdict(self)
        d["xen_references"] = [asdict(r) for r in self.xen_references]
        return d

    @property
    def major_version(self):
        """The distribution's major version as a number, 0 when unknown."""
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0

    def kernel(self, version):
        for k in self.kernels:
            if k.version == version:
                return k
        return None


def version_key(version):
    """Natural sort key: 6.1.0-10 sorts after 6.1.0-9."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", version)]


def family_of(distro):
    if distro in ("debian", "ubuntu", "linuxmint", "kalilinux"):
        return "debian"
    if distro in ("sles", "suse-based", "opensuse"):
        return "suse"
    if distro in (
        "rhel",
        "centos",
        "fedora",
        "rocky",
        "almalinux",
        "oraclelinux",
        "scientificlinux",
        "redhat-based",
        "circle",
    ):
        return "redhat"
    return "other"


def scan_references(path, text):
    """Every Xen device, console or driver reference in one file."""
    refs = []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        kinds = []
        if DEVICE_RE.search(line) or (path.endswith("device.map") and "xvd" in line):
            kinds.append("device")
        if XEN_CONSOLE_RE.search(line):
            kinds.append("console")
        if XEN_DRIVER_RE.search(line):
            kinds.append("driver")
        for kind in kinds:
            refs.append(XenReference(path, n, stripped[:200], kind))
    return refs


def has_boot_code(sectors):
    """sectors: the disk's first sector and, if any, the active partition's.
    pygrub guests have an all-zero MBR code area (or a generic one that
    chains to a partition with no loader)."""
    mbr = sectors[0]
    code = mbr[:440]
    if not code.strip(b"\0"):
        return False
    if any(sig in code for sig in BOOT_SIGNATURES):
        return True
    return any(any(sig in s for sig in BOOT_SIGNATURES) for s in sectors[1:])


def collect(session, disks, devmap, list_initrd=True, firmware=""):
    """Gather GuestFacts through a launched GuestSession. `firmware` is
    what the domain boots with (domain/firmware.py); without a domain it
    is read from the guest."""
    f = GuestFacts(root=session.root)
    ins = session.inspect
    f.os_type = ins("type")
    f.distro = ins("distro")
    f.version = f"{ins('major_version')}.{ins('minor_version')}"
    f.product = ins("product_name")
    f.family = family_of(f.distro)
    f.package_format = ins("package_format")
    f.arch = ins("arch")
    f.hostname = ins("hostname")
    f.mountpoints = dict(session.mountpoints)
    f.appliance_disks = session.kernel_devices()
    f.disks = [
        {
            "path": " + ".join(p.path for p in d.parts) if d.parts else d.path,
            "format": d.format,
            "target": d.target,
            "virtio": devmap.disk_map.get(d.target, ""),
        }
        for d in disks
    ]

    _init_system(session, f)
    _kernels(session, f)
    _bootloader(session, f)
    f.firmware = firmware or guest_firmware(f)
    _initrd_tool(session, f)
    f.selinux = selinux_mode(session.read_text("/etc/selinux/config"))
    if f.boot_kernel:
        if list_initrd:
            list_initrd_drivers(session, f, f.kernel(f.boot_kernel))
        else:
            f.kernel(f.boot_kernel).initrd_drivers = None
    _references(session, f)
    files = {p: session.read_text(p) for p in netconfig.config_paths(session)}
    f.nic_names, f.nic_config = netconfig.expected_names(files)
    return f


def _init_system(session, f):
    init = session.readlink("/sbin/init") if session.is_symlink("/sbin/init") else ""
    if (
        "systemd" in init
        or session.exists("/lib/systemd/systemd")
        and not session.is_file("/sbin/init")
    ):
        f.init = "systemd"
    elif session.exists("/etc/inittab"):
        f.init = "sysvinit"
    else:
        f.init = "systemd" if session.exists("/lib/systemd/systemd") else "unknown"
    for lib in ("/lib/systemd/libsystemd-shared-*.so", "/usr/lib/systemd/libsystemd-shared-*.so"):
        for p in session.glob(lib):
            m = re.search(r"libsystemd-shared-(\d+)", p)
            if m:
                f.systemd_version = max(f.systemd_version, int(m.group(1)))


def _kernels(session, f):
    versions = set()
    for moddir in ("/lib/modules", "/usr/lib/modules"):
        for v in session.ls(moddir):
            versions.add(v)
    for v in sorted(versions, key=version_key):
        vmlinuz = next(
            (
                p
                for p in (f"/boot/vmlinuz-{v}", f"/boot/vmlinux-{v}", f"/lib/modules/{v}/vmlinuz")
                if session.is_file(p)
            ),
            "",
        )
        if not vmlinuz:
            continue  # modules without a kernel image: a leftover
        initrd = next(
            (
                p
                for p in (f"/boot/initrd.img-{v}", f"/boot/initrd-{v}", f"/boot/initramfs-{v}.img")
                if session.exists(p)
            ),
            "",
        )
        config = session.read_text(f"/boot/config-{v}") or ""
        xen_only = "-xen" in v or re.search(r"^CONFIG_X86_(64_)?XEN=y", config, re.M) is not None
        mod = f"/lib/modules/{v}"
        has_virtio = bool(
            session.glob(f"{mod}/kernel/drivers/block/virtio_blk.ko*")
        ) or "virtio_blk.ko" in (session.read_text(f"{mod}/modules.builtin") or "")
        f.kernels.append(Kernel(v, vmlinuz, initrd, bool(xen_only), has_virtio))
    usable = [k for k in f.kernels if not k.xen_only and k.has_virtio]
    if usable:
        f.boot_kernel = usable[-1].version


def _bootloader(session, f):
    """Which boot loader the guest has installed and configured.

    GRUB 2 for BIOS installed: it is the boot loader, configured by its
    grub.cfg, or (a pygrub guest) still to be configured, from what a
    menu.lst held. Otherwise GRUB legacy, when its files or a menu.lst are
    there; a grub.cfg alone is a GRUB 2 whose package is missing."""
    f.grub2_platforms = grub2_platforms(session)
    f.grub_legacy = any(
        session.glob(p) if "*" in p else session.is_file(p) for p in GRUB_LEGACY_STAGE2
    )
    installer = next((t for t in ("grub2-install", "grub-install") if has_program(session, t)), "")
    cfg_dir = next(
        (
            d
            for d in ("/boot/grub2", "/boot/grub2-efi", "/boot/grub")
            if session.is_file(f"{d}/grub.cfg")
        ),
        "",
    )
    legacy = next(
        (
            p
            for p in ("/boot/grub/menu.lst", "/boot/grub/grub.conf", "/etc/grub.conf")
            if session.is_file(p)
        ),
        "",
    )
    if GRUB2_BIOS_PLATFORM in f.grub2_platforms:
        d = cfg_dir or ("/boot/grub2" if installer.startswith("grub2") else "/boot/grub")
        f.bootloader, f.grub_dir, f.grub_cfg = "grub2", d, f"{d}/grub.cfg"
        f.grub_installer = installer
        # never configured (pygrub read a menu.lst): grub.cfg is to be generated
        f.legacy_menu = "" if cfg_dir else legacy
    elif f.grub_legacy or legacy:
        f.bootloader, f.grub_dir, f.grub_cfg = (
            "grub-legacy",
            "/boot/grub",
            legacy or "/boot/grub/menu.lst",
        )
        f.grub_installer = installer if f.grub_legacy else ""
    elif cfg_dir:
        f.bootloader, f.grub_dir, f.grub_cfg = "grub2", cfg_dir, f"{cfg_dir}/grub.cfg"
        # a UEFI GRUB: its installer writes to the ESP (uefi_boot.py)
        f.grub_installer = installer if GRUB2_EFI_PLATFORM in f.grub2_platforms else ""
    first = session.appliance_devices()[0]
    f.partition_table, f.bios_boot_partition, f.boot_code, esp_numbers = disk_boot_info(
        session, first
    )
    f.esp = esp_mount_point(f.mountpoints, first, esp_numbers)
    if f.esp:
        f.efi_loaders = efi_loaders(session, f.esp)


def guest_firmware(f):
    """The firmware a guest with no domain to say it was set up for: UEFI
    when it mounts an ESP with a boot loader on it and its disk has no BIOS
    boot code, otherwise BIOS."""
    return "efi" if f.esp and f.efi_loaders and not f.boot_code else "bios"


def esp_mount_point(mountpoints, first_disk, esp_numbers):
    """Where fstab mounts an EFI system partition of the first disk, or ""."""
    devices = {f"{first_disk}{n}" for n in esp_numbers}
    return next((mp for mp, dev in sorted(mountpoints.items()) if dev in devices), "")


def efi_loaders(guest, esp):
    """The boot loaders on the ESP, as paths below it (EFI/debian/grubx64.efi)."""
    found = []
    for vendor in guest.ls(f"{esp}/EFI"):
        for name in guest.ls(f"{esp}/EFI/{vendor}"):
            if name.lower().endswith(".efi"):
                found.append(f"EFI/{vendor}/{name}")
    return sorted(found)


def grub2_platforms(guest):
    """The GRUB 2 platforms whose modules the guest has installed."""
    found = set()
    for base in GRUB2_LIB_DIRS:
        for name in guest.ls(base):
            if guest.is_file(f"{base}/{name}/{GRUB2_PLATFORM_FILE}"):
                found.add(name)
    return sorted(found)


def disk_boot_info(session, device):
    """(partition table, has a BIOS boot partition, has boot code, the EFI
    system partitions' numbers) of a disk."""
    sector_size = session.sector_size(device)
    table = partitions.read_table(
        lambda offset, count: session.pread_device(device, count, offset), sector_size
    )
    sectors = [session.pread_device(device, 512, 0)]
    for p in table.active():
        sectors.append(session.pread_device(device, 512, p.start))
    return table.kind, table.bios_boot_partition, has_boot_code(sectors), table.esp_numbers()


def selinux_mode(config):
    """SELINUX= of /etc/selinux/config, or "" when there is none."""
    for line in (config or "").splitlines():
        m = re.match(r"\s*SELINUX\s*=\s*['\"]?(\w+)", line)
        if m:
            return m.group(1).lower()
    return ""


def _initrd_tool(session, f):
    if has_program(session, "update-initramfs"):
        f.initrd_tool = "initramfs-tools"
    elif has_program(session, "dracut"):
        f.initrd_tool = "dracut"
    elif has_program(session, "mkinitrd"):
        f.initrd_tool = "mkinitrd"


INITRD_LISTERS = {"initramfs-tools": "lsinitramfs", "dracut": "lsinitrd"}
INTERESTING_DRIVERS = [
    "virtio_blk",
    "virtio_pci",
    "virtio_net",
    "virtio_scsi",
    "xen-blkfront",
    "xen-netfront",
]


def list_initrd_drivers(session, f, kernel):
    """Store in kernel.initrd_drivers which block/net drivers its initrd carries."""
    if not kernel or not kernel.initrd:
        return
    kernel.initrd_drivers = read_initrd_drivers(session, f.initrd_tool, kernel)


def read_initrd_drivers(guest, initrd_tool, kernel):
    """The block/net drivers a kernel's initrd carries, by the guest's own
    lister; [] when the guest has none or it fails. Stores nothing."""
    lister = INITRD_LISTERS.get(initrd_tool)
    if not lister:
        return []
    result = guest.run([lister, kernel.initrd])
    return initrd_drivers(result.stdout) if result.ok else []


def initrd_drivers(listing):
    found = []
    for name in INTERESTING_DRIVERS:
        pattern = re.compile(r"/" + re.escape(name).replace("_", "[_-]") + r"\.ko")
        if pattern.search(listing):
            found.append(name)
    return found


def _references(session, f):
    seen = set()
    for pattern in SCANNED_FILES:
        paths = session.glob(pattern) if "*" in pattern else [pattern]
        for path in paths:
            if path in seen or not session.is_file(path):
                continue
            seen.add(path)
            text = session.read_text(path)
            f.xen_references.extend(scan_references(path, text))
    for d in GETTY_DIRS:
        for name in session.ls(d):
            if XEN_GETTY.match(name):
                f.xen_references.append(XenReference(f"{d}/{name}", 0, "getty link", "getty"))
