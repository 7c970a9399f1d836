"""The reliability corpus: hostile and broken inputs, one row each.

Every case builds its inputs in an empty directory and names the command
line to run, the exit code it must end with and words its one-line error
must contain. tests/corpus/test_corpus.py runs every row and also checks
that nothing in the directory changed (checksums before and after), that
there is no traceback, and that no marker file appeared where input tried
to run shell code.

    python tests/corpus/cases.py    rewrites docs/reliability.md from this table

Rows marked `appliance` launch libguestfs once each; their disks come from
small images the test builds in one appliance session (hostile_images).
"""

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass

MARKER = "/tmp/guestfix-corpus-pwned"  # must never exist after a run


@dataclass
class Case:
    name: str
    area: str
    command: str  # as shown in the table
    code: int
    words: tuple
    build: object  # build(dir, images) -> argv list (or a generator yielding it)
    appliance: bool = False
    # a row that ends well (exit 0): strings its output file must not hold
    absent: tuple = ()


CASES = []


def case(name, area, command, code, *words, appliance=False, absent=()):
    def register(build):
        CASES.append(Case(name, area, command, code, words, build, appliance, absent))
        return build

    return register


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def raw_disk(d, name="disk.img", size=1 << 20):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(b"\0" * size)
    return path


def qemu_img(*args):
    subprocess.run(["qemu-img", *args], check=True, stdout=subprocess.DEVNULL)


def domain(disks):
    """A Xen domain XML around raw <disk> elements."""
    return f"<domain type='xen'><name>x</name><devices>{disks}</devices></domain>"


def file_disk(path, target="xvda"):
    return (
        f"<disk type='file' device='disk'><source file='{path}'/><target dev='{target}'/></disk>"
    )


# -- domain XML and xl.cfg ------------------------------------------------------
def xml_case(name, text, code, *words, command="fix --domain", absent=()):
    @case(name, "domain XML", command, code, *words, absent=absent)
    def build(d, _images):
        xml = write(d, "dom.xml", text.format(dir=d) if "{dir}" in text else text)
        if command == "xml":
            return ["xml", xml, "--out", os.path.join(d, "out.xml")]
        return ["fix", "--yes", "--domain", xml]


xml_case("xml-not-xml", "this is not xml", 3, "not well-formed")
xml_case("xml-empty", "", 3, "is empty")
xml_case("xml-truncated", "<domain type='xen'><name>x</name><devices>", 3, "not well-formed")
xml_case(
    "xml-entity-expansion",
    '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;">]><domain>&c;</domain>',
    3,
    "DTD or entities",
)
xml_case(
    "xml-external-entity",
    '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]><domain type="xen">&x;</domain>',
    3,
    "DTD or entities",
)
xml_case(
    "xml-external-dtd",
    '<?xml version="1.0"?><!DOCTYPE domain SYSTEM "http://127.0.0.1:9/x.dtd"><domain/>',
    3,
    "DTD or entities",
    command="xml",
)
xml_case("xml-not-a-domain", "<network><name>x</name></network>", 3, "not a libvirt domain")
xml_case(
    "xml-kvm-domain",
    "<domain type='kvm'><name>g</name><devices/></domain>",
    3,
    "not a Xen domain",
    command="xml",
)
xml_case(
    "xml-no-name", "<domain type='xen'><devices/></domain>", 3, "has no <name>", command="xml"
)
xml_case("xml-no-disks", domain(""), 3, "has no disks")
xml_case(
    "xml-network-disk",
    domain(
        "<disk type='network' device='disk'><source protocol='nbd' name='x'/>"
        "<target dev='xvda'/></disk>"
    ),
    3,
    "network disk",
)
xml_case(
    "xml-block-disk-missing",
    domain(
        "<disk type='block' device='disk'><source dev='/dev/nonexistent-vg/lv'/>"
        "<target dev='xvda'/></disk>"
    ),
    3,
    "no such disk image",
)
xml_case(
    "xml-duplicate-targets",
    domain(file_disk("a.img") + file_disk("b.img")),
    3,
    "two disks have the target xvda",
)
xml_case("xml-missing-disk-file", domain(file_disk("/nonexistent/x.img")), 3, "no such disk image")


@case("xml-disk-dangling-symlink", "domain XML", "fix --domain", 3, "No such file")
def _dangling(d, _images):
    os.symlink("/nonexistent/target.img", os.path.join(d, "disk.img"))
    return ["fix", "--yes", "--domain", write(d, "dom.xml", domain(file_disk(f"{d}/disk.img")))]


@case(
    "xen-tools-partition-images",
    "domain XML",
    "fix --domain",
    3,
    "disks xvda1, xvda2 are partition images",
    "cannot add",
)
def _partition_images(d, _images):
    """xen-create-image's layout: each image a bare filesystem, exported as
    a partition (swap.img as xvda1, disk.img as xvda2)."""
    disks = file_disk(raw_disk(d, "swap.img"), "xvda1") + file_disk(
        raw_disk(d, "disk.img"), "xvda2"
    )
    return ["fix", "--yes", "--domain", write(d, "dom.xml", domain(disks))]


# The LV does not exist: the refusal comes before any disk is opened.
xml_case(
    "xen-tools-partition-lv",
    domain(
        "<disk type='block' device='disk'><source dev='/dev/nonexistent-vg/host-disk'/>"
        "<target dev='xvda2'/></disk>"
    ),
    3,
    "disk xvda2 is a partition image",
    "partition table",
)


def _migrate_argv(d, disks_xml):
    os.makedirs(os.path.join(d, "out"), exist_ok=True)
    return [
        "migrate",
        write(d, "dom.xml", domain(disks_xml)),
        "-o",
        "local",
        "-os",
        os.path.join(d, "out"),
        "--json",
    ]


@case(
    "xen-tools-qcow2-partition-image",
    "domain XML",
    "migrate (partition images)",
    3,
    "xvda2 is qcow2",
    "qemu-img convert",
)
def _qcow2_partition(d, _images):
    qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "disk.qcow2"), "8M")
    return _migrate_argv(
        d, file_disk(f"{d}/disk.qcow2", "xvda2") + file_disk(raw_disk(d, "swap.img"), "xvda1")
    )


@case(
    "xen-tools-partition-on-block-device",
    "domain XML",
    "migrate (partition images)",
    5,
    "no Linux operating system found",
    appliance=True,
)
def _block_partition(d, _images):
    """phy:/dev/vg/host-disk as xvda2, an empty volume: assembled and read
    like an image file, and found to hold no operating system."""
    loop = subprocess.run(
        ["losetup", "--find", "--show", "--read-only", raw_disk(d, "lv.img", 8 << 20)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        yield _migrate_argv(
            d,
            f"<disk type='block' device='disk'><source dev='{loop}'/><target dev='xvda2'/></disk>",
        )
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)


@case(
    "xen-tools-disk-and-its-partition",
    "domain XML",
    "migrate (partition images)",
    3,
    "both the disk xvda and its partition xvda1",
)
def _disk_and_partition(d, _images):
    return _migrate_argv(
        d, file_disk(raw_disk(d, "a.img"), "xvda") + file_disk(raw_disk(d, "b.img"), "xvda1")
    )


@case(
    "xen-tools-partition-129", "domain XML", "migrate (partition images)", 3, "partitions 1 to 128"
)
def _partition_129(d, _images):
    return _migrate_argv(d, file_disk(raw_disk(d, "a.img"), "xvda129"))


@case(
    "bare-filesystem-fix-in-place",
    "disk image",
    "fix DISK",
    3,
    "bare ext filesystem",
    "guestfix migrate",
)
def _bare_fs(d, _images):
    path = raw_disk(d, "root.img", 8 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", path], check=True)
    return ["fix", "--yes", path]


@case("xml-huge", "domain XML", "xml", 3, "too large")
def _huge(d, _images):
    xml = write(
        d,
        "dom.xml",
        "<domain type='xen'><name>x</name><description>"
        + "x" * (11 << 20)
        + "</description><devices/></domain>",
    )
    return ["xml", xml]


@case("xl-python-code", "xl.cfg", "xml -i xl", 3, "cannot parse")
def _xl_code(d, _images):
    cfg = write(
        d,
        "evil.cfg",
        f"name='x'\nimport os\nos.system('touch {MARKER}')\ndisk=['file:{d}/a.img,xvda,w']\n",
    )
    return ["xml", "-i", "xl", cfg]


@case("xl-garbage", "xl.cfg", "xml -i xl", 3, "cannot parse")
def _xl_garbage(d, _images):
    return ["xml", "-i", "xl", write(d, "bad.cfg", "name = 'x\ndisk = [ \n")]


@case("xl-shell-in-disk-path", "xl.cfg", "xml -i xl", 3, "no such disk image")
def _xl_shell(d, _images):
    cfg = write(d, "x.cfg", f"name='x'\ndisk=['file:/tmp/$(touch {MARKER}).img,xvda,w']\n")
    return ["xml", "-i", "xl", cfg]


# -- disk images ------------------------------------------------------------------
@case("disk-missing", "disk image", "inspect", 3, "no such disk image")
def _missing(d, _images):
    return ["inspect", "--json", os.path.join(d, "nope.img")]


@case("disk-none-given", "disk image", "inspect", 3, "no disk given")
def _none(d, _images):
    return ["inspect"]


@case("disk-empty", "disk image", "fix", 3, "is empty")
def _empty(d, _images):
    return ["fix", "--yes", write(d, "empty.img", "")]


@case("disk-directory", "disk image", "inspect", 3, "is a directory")
def _directory(d, _images):
    os.mkdir(os.path.join(d, "dir.img"))
    return ["inspect", os.path.join(d, "dir.img")]


@case("disk-read-only", "disk image", "fix", 3, "read-only")
def _read_only(d, _images):
    disk = raw_disk(d)
    os.chmod(disk, 0o444)
    immutable = os.access(disk, os.W_OK)  # root ignores mode bits
    if immutable:
        subprocess.run(["chattr", "+i", disk], check=True)
    try:
        yield ["fix", "--yes", disk]
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", disk], check=False)


@case("qcow2-backing-file", "disk image", "inspect", 3, "backing file", "--allow-backing")
def _backing(d, _images):
    base = raw_disk(d, "base.img")
    qemu_img("create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, f"{d}/top.qcow2")
    return ["inspect", f"{d}/top.qcow2"]


@case("qcow2-backing-host-file", "disk image", "fix", 3, "backing file (/etc/shadow)")
def _backing_host(d, _images):
    qemu_img(
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        "/etc/shadow",
        "-u",
        f"{d}/evil.qcow2",
        "1M",
    )
    return ["fix", "--yes", f"{d}/evil.qcow2"]


@case("qcow2-declared-raw", "disk image", "inspect --format raw", 3, "qcow2 header")
def _declared_raw(d, _images):
    qemu_img("create", "-q", "-f", "qcow2", f"{d}/d.qcow2", "1M")
    return ["inspect", "--format", "raw", f"{d}/d.qcow2"]


@case("qcow2-truncated", "disk image", "inspect", 3, "truncated qcow2")
def _truncated(d, _images):
    qemu_img("create", "-q", "-f", "qcow2", f"{d}/full.qcow2", "10M")
    with open(f"{d}/full.qcow2", "rb") as f:
        head = f.read(1000)
    os.remove(f"{d}/full.qcow2")
    with open(f"{d}/cut.qcow2", "wb") as f:
        f.write(head)
    return ["inspect", f"{d}/cut.qcow2"]


@case("vmdk-image", "disk image", "inspect", 3, "vmdk", "qemu-img convert")
def _vmdk(d, _images):
    qemu_img("create", "-q", "-f", "vmdk", f"{d}/d.vmdk", "1M")
    return ["inspect", f"{d}/d.vmdk"]


@case("disk-given-twice", "disk image", "inspect", 3, "given twice")
def _twice(d, _images):
    disk = raw_disk(d)
    return ["inspect", disk, disk]


@case("disk-held-by-qemu", "disk image", "fix", 4, "in use by a running virtual machine")
def _held(d, _images):
    import time

    from guestfix.disks.image import held_by_qemu

    disk = raw_disk(d, "busy.img")
    qemu = subprocess.Popen(
        [
            "qemu-system-x86_64",
            "-machine",
            "pc,accel=tcg",
            "-S",
            "-nodefaults",
            "-display",
            "none",
            "-drive",
            f"file={disk},format=raw,if=virtio",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if held_by_qemu(disk):
                break
            time.sleep(0.1)
        yield ["fix", "--yes", disk]
    finally:
        qemu.kill()
        qemu.wait()


def image_case(name, image, code, *words):
    @case(name, "disk image", "fix", code, *words, appliance=True)
    def build(d, images):
        path = os.path.join(d, os.path.basename(images[image]))
        subprocess.run(["cp", "--sparse=always", images[image], path], check=True)
        return ["fix", "--yes", "--json", path]


image_case(
    "disk-random-bytes", "random", 5, "no Linux operating system found", "no filesystem at all"
)
image_case("disk-no-os", "blank-ext4", 5, "no Linux operating system found", "filesystems: ext4")
image_case("disk-ntfs", "ntfs", 5, "no Linux operating system found", "ntfs")
image_case("disk-luks-root", "luks", 5, "LUKS-encrypted")
image_case("disk-two-linux-roots", "two-roots", 5, "several operating systems", "--root")


# -- options and environment --------------------------------------------------------
@case("package-path-missing", "options", "fix --package", 3, "no such file or directory")
def _pkg_missing(d, _images):
    return ["fix", "--yes", "--package", os.path.join(d, "nope"), raw_disk(d)]


@case("package-not-a-package", "options", "fix --package", 3, "not a .deb or .rpm file")
def _pkg_wrong(d, _images):
    return ["fix", "--yes", "--package", write(d, "kernel.txt", "x"), raw_disk(d)]


@case("package-empty-dir", "options", "migrate --package", 3, "holds no .deb or .rpm")
def _pkg_empty(d, _images):
    os.mkdir(os.path.join(d, "pkgs"))
    xml = write(d, "dom.xml", domain(file_disk(raw_disk(d))))
    return [
        "migrate",
        xml,
        "--package",
        os.path.join(d, "pkgs"),
        "-o",
        "local",
        "-os",
        os.path.join(d, "out"),
        "--json",
    ]


@case("fix-without-terminal", "options", "fix (no --yes, no tty)", 2, "--yes")
def _no_tty(d, _images):
    return ["fix", raw_disk(d)]


@case("backup-without-destination", "options", "backup (no --to)", 2, "--to DIR")
def _backup_no_to(d, _images):
    return ["backup", raw_disk(d)]


@case("direct-boot-not-json", "options", "xml --direct-boot", 3, "not a direct-boot description")
def _direct_boot_bad(d, _images):
    xml = write(d, "dom.xml", domain(file_disk(raw_disk(d))))
    return [
        "xml",
        xml,
        "--direct-boot",
        write(d, "boot.json", "{not json"),
        "--out",
        os.path.join(d, "out.xml"),
    ]


@case(
    "direct-boot-kernel-missing",
    "options",
    "xml --direct-boot",
    3,
    "the kernel file it names is missing",
)
def _direct_boot_missing(d, _images):
    xml = write(d, "dom.xml", domain(file_disk(raw_disk(d))))
    info = write(d, "boot.json", f'{{"kernel": "{d}/vmlinuz", "initrd": "{d}/initrd"}}')
    return ["xml", xml, "--direct-boot", info, "--out", os.path.join(d, "out.xml")]


@case("libvirt-unreachable", "environment", "define -oc", 11, "cannot connect", "libvirtd")
def _libvirt_down(d, _images):
    xml = write(d, "kvm.xml", "<domain type='kvm'><name>x</name><devices/></domain>")
    return ["define", xml, "-oc", f"qemu+unix:///system?socket={d}/no-libvirt-sock"]


@case("define-missing-file", "environment", "define", 3, "no-such.xml")
def _define_missing(d, _images):
    return ["define", os.path.join(d, "no-such.xml")]


@case(
    "backup-no-space",
    "environment",
    "backup --to (full)",
    3,
    "MiB free",
    "choose another destination",
)
def _backup_full(d, _images):
    with small_destination(d) as (dest, disk):
        yield ["backup", disk, "--to", dest]


@contextlib.contextmanager
def small_destination(d):
    """A 1 MiB tmpfs to copy into, and a disk with 4 MiB of data."""
    dest = os.path.join(d, "small")
    os.mkdir(dest)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dest], check=True)
    try:
        disk = os.path.join(d, "data.img")
        with open(disk, "wb") as f:
            f.write(os.urandom(4 << 20))
        yield dest, disk
    finally:
        subprocess.run(["umount", dest], check=False)


@case("migrate-no-space", "environment", "migrate -o local -os (full)", 3, "MiB free")
def _migrate_full(d, _images):
    with small_destination(d) as (dest, disk):
        yield [
            "migrate",
            write(d, "dom.xml", domain(file_disk(disk))),
            "-o",
            "local",
            "-os",
            dest,
            "--json",
        ]


@case("backup-verify-missing", "environment", "backup --verify", 3, "manifest")
def _verify_missing(d, _images):
    return ["backup", "--verify", d]


@case("migrate-source-missing", "options", "migrate", 3, "no-such.xml")
def _migrate_missing(d, _images):
    return ["migrate", os.path.join(d, "no-such.xml"), "-o", "local", "-os", d, "--json"]


@case("migrate-duplicate-bridge-map", "options", "migrate -b br0:a -b br0:b", 3, "br0")
def _dup_map(d, _images):
    xml = write(d, "dom.xml", domain(file_disk(raw_disk(d))))
    return [
        "migrate",
        xml,
        "-b",
        "br0:a",
        "-b",
        "br0:b",
        "-o",
        "local",
        "-os",
        os.path.join(d, "out"),
        "--json",
    ]


@case("recover-nothing-pending", "options", "recover --finish", 3, "no interrupted")
def _recover(d, _images):
    return ["recover", "--finish", raw_disk(d)]


@case(
    "remote-host-unreachable",
    "remote source",
    "migrate -i xl -ic ssh://HOST",
    13,
    "the ssh connection failed",
    "Connection refused",
)
def _remote_unreachable(d, _images):
    # port 1 on loopback: nothing listens, the refusal is immediate
    return [
        "migrate",
        "-i",
        "xl",
        "-ic",
        "ssh://root@127.0.0.1:1",
        "/etc/xen/web.cfg",
        "-o",
        "local",
        "-os",
        d,
        "--json",
    ]


@case(
    "remote-uri-for-the-wrong-mode",
    "remote source",
    "migrate -i xl -ic xen+ssh://",
    2,
    "use ssh://",
)
def _remote_wrong_scheme(d, _images):
    return [
        "migrate",
        "-i",
        "xl",
        "-ic",
        "xen+ssh://root@xenhost/",
        "/etc/xen/web.cfg",
        "-o",
        "local",
        "-os",
        d,
        "--json",
    ]


@case(
    "remote-uri-with-a-path",
    "remote source",
    "backup -i xl -ic ssh://HOST/PATH",
    3,
    "the configuration's path is the argument",
)
def _remote_uri_path(d, _images):
    return [
        "backup",
        "-i",
        "xl",
        "-ic",
        "ssh://root@xenhost/etc/xen/web.cfg",
        "/etc/xen/web.cfg",
        "--to",
        os.path.join(d, "b"),
    ]


@case(
    "start-early-into-a-directory",
    "early start",
    "migrate -o local --start-early",
    2,
    "--start-early applies only with -o libvirt",
)
def _start_early_local(d, _images):
    xml = write(d, "web.xml", "<domain type='xen'><name>web</name><devices/></domain>")
    return ["migrate", xml, "-o", "local", "-os", d, "--start-early", "--json"]


@case(
    "resume-with-nothing-to-resume",
    "early start",
    "migrate --resume NAME",
    3,
    "no unfinished early start of never-started",
)
def _resume_nothing(d, _images):
    return ["migrate", "--resume", "never-started", "--json"]


@case(
    "migrated-before-from-a-changed-source",
    "many guests",
    "migrate --skip-migrated (the source changed since)",
    3,
    "was migrated from",
    "the source's disks changed since (xvda)",
)
def _migrated_source_changed(d, _images):
    from guestfix.domain import marker
    from guestfix.domain.model import Domain

    disk = raw_disk(d)
    xml = write(
        d,
        "web.xml",
        "<domain type='xen'><name>web</name><devices>" + file_disk(disk) + "</devices></domain>",
    )
    out = os.path.join(d, "kvm")
    os.mkdir(out)
    done = Domain.from_string("<domain type='kvm'><name>web</name><devices/></domain>")
    marker.stamp(
        done,
        marker.MigrationRecord(
            source=xml,
            input="libvirtxml",
            migrated="2026-01-01T00:00:00Z",
            disks=[
                {"target": "xvda", "path": disk, "size": 1 << 20, "mtime": 1.0, "sha256": None}
            ],
        ),
    )
    write(out, "web.xml", done.to_string())
    return ["migrate", xml, "-o", "local", "-os", out, "--skip-migrated", "--json"]


@case("max-parallel-of-zero", "many guests", "migrate --max-parallel 0", 2, "--max-parallel")
def _max_parallel_zero(d, _images):
    xml = write(d, "web.xml", "<domain type='xen'><name>web</name><devices/></domain>")
    return ["migrate", xml, "-o", "local", "-os", d, "--max-parallel", "0", "--json"]


# -- the table as documentation ---------------------------------------------------------


# -- trust boundaries: the Xen side reaches nothing of the KVM host ---------------
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
HOSTDEV = (
    "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000'"
    " bus='0x00' slot='0x1f' function='0x3'/></source></hostdev>"
)
HOST_ROOT = (
    "<filesystem type='mount' accessmode='passthrough'><source dir='/'/>"
    "<target dir='hostroot'/></filesystem>"
)
ROM_FILE = (
    "<interface type='bridge'><mac address='00:16:3e:00:00:01'/><source bridge='br0'/>"
    "<rom file='/etc/shadow'/></interface>"
)
QEMU_ARGS = (
    f"<qemu:commandline xmlns:qemu='{QEMU_NS}'><qemu:arg value='-drive'/>"
    "<qemu:arg value='file=/dev/sda,if=virtio'/></qemu:commandline>"
)


def _xen_domain(d, devices="", extra="", name="x"):
    disk = raw_disk(d, "disk.img")
    return write(
        d,
        "dom.xml",
        f"<domain type='xen'><name>{name}</name><os><type>linux</type></os>"
        f"<devices>{file_disk(disk)}{devices}</devices>{extra}</domain>",
    )


def _converted(d, devices="", extra=""):
    return ["xml", _xen_domain(d, devices, extra), "--out", os.path.join(d, "out.xml")]


@case(
    "domain-pci-hostdev",
    "domain XML",
    "xml",
    0,
    "dropped: hostdev pci 0000:00:1f.3",
    absent=("<hostdev",),
)
def _hostdev(d, _images):
    return _converted(d, HOSTDEV)


@case(
    "domain-host-root-filesystem",
    "domain XML",
    "xml",
    0,
    "dropped: filesystem / -> hostroot",
    absent=("<filesystem",),
)
def _host_root(d, _images):
    return _converted(d, HOST_ROOT)


@case(
    "domain-qemu-commandline",
    "domain XML",
    "xml",
    0,
    "dropped: qemu:commandline",
    absent=("/dev/sda", "commandline"),
)
def _qemu_args(d, _images):
    return _converted(d, extra=QEMU_ARGS)


@case("domain-nic-rom-file", "domain XML", "xml", 0, "dropped: rom", absent=("/etc/shadow",))
def _rom_file(d, _images):
    return _converted(d, ROM_FILE)


@case("domain-mac-with-properties", "domain XML", "xml", 3, "is not a MAC address")
def _mac_comma(d, _images):
    return _converted(
        d,
        "<interface type='bridge'><mac address='00:16:3e:00:00:01,"
        "romfile=/etc/shadow'/><source bridge='br0'/></interface>",
    )


@case("xl-name-climbs-out", "xl.cfg", "backup -i xl", 3, "'../../x' cannot be used")
def _name_climbs(d, _images):
    disk = raw_disk(d, "disk.img")
    cfg = write(d, "g.cfg", f"name = '../../x'\ndisk = ['file:{disk},xvda,w']\n")
    return ["backup", "-i", "xl", cfg, "--to", os.path.join(d, "a", "b")]


@case("xl-mac-with-properties", "xl.cfg", "migrate -i xl", 3, "is not a MAC address")
def _xl_mac_comma(d, _images):
    disk = raw_disk(d, "disk.img")
    cfg = write(
        d,
        "g.cfg",
        f"name = 'g'\ndisk = ['file:{disk},xvda,w']\n"
        "vif = [ 'mac=00:16:3e:00:00:01;romfile=/etc/shadow' ]\n",
    )
    os.makedirs(os.path.join(d, "out"))
    return ["migrate", "-i", "xl", cfg, "-o", "local", "-os", os.path.join(d, "out"), "--json"]


@case("option-bridge-with-space", "options", "xml --bridge", 3, "is not an interface name")
def _bridge_space(d, _images):
    return [*_converted(d, ROM_FILE), "--bridge", "br0 x"]


@case("disk-path-says-lock", "disk image", "fix", 3, "not a valid qcow2 image")
def _lock_in_path(d, _images):
    """A broken image in a directory whose name holds "block": bad input
    (3), not a disk held by another run (4)."""
    os.makedirs(os.path.join(d, "blocklock"))
    path = os.path.join(d, "blocklock", "disk.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", path, "8M")
    with open(path, "r+b") as f:
        f.seek(4)
        f.write((99).to_bytes(4, "big"))  # a qcow2 version QEMU does not know
    return ["fix", "--yes", path]


@case("disk-seven-bytes", "disk image", "fix", 3, "is 7 bytes", "512-byte sectors")
def _seven_bytes(d, _images):
    return ["fix", "--yes", write(d, "tiny.img", "hello!\n")]


HEADER = """# Reliability: hostile and broken inputs

Generated from `tests/corpus/cases.py` by `python tests/corpus/cases.py`;
`make test` runs every row (tests/corpus/test_corpus.py) and checks the exit
code, that the error is one line containing the words shown, that there is
no traceback, that every input file is byte-identical afterwards, and that
no shell code in the input ran. A row that ends well (exit 0) says what it
left out, and its output must not hold it. What it is to be safe from the
Xen side is in [safety.md](safety.md).

{counts}

| case | input | command | exit | the error (or stderr) says |
| --- | --- | --- | --- | --- |
"""

# A backslash ending a line continues the row: the text has no line break there.
ELSEWHERE = """
Covered by other tests, because they need a whole guest or libvirtd:

| case | test | exit |
| --- | --- | --- |
| killed at every fix step and during the commit (SIGTERM, Ctrl-C) | \
tests/integration/test_sample_a.py | 130, then 8 until `recover` |
| a step failing inside the guest | tests/integration/test_sample_a.py | 6 |
| migrate killed at source, backup, fix, upload, xml | tests/integration/test_migrate.py | 130 |
| a domain with that name or UUID already defined | tests/domain/test_define.py | 11 |
| package install failing inside the guest (no network for zypper) | \
tests/integration/test_suse_layouts.py | 6 |
| guest lacking the default kernel or boot loader, no packages given | \
tests/integration/test_suse_layouts.py | 5 |
| fstab with tabs, comments and odd spacing; non-UTF-8 bytes; missing files | \
tests/steps (golden files) | 0 |
| a backup copy differing from its manifest | tests/test_backup.py | 12 |
| remote source: the host key does not match known_hosts | tests/test_remote.py | 13 |
| remote source: a disk missing on the host | tests/test_remote.py | 3 |
| remote source: no room at the destination (migrate and backup) | tests/test_remote.py | 3 |
| remote source: the connection dropped mid-copy | tests/test_remote.py | 13 |
| remote source: Ctrl-C while a disk is read from the host | tests/test_remote.py | 130 |
| remote source: disk paths with spaces and shell syntax (run as data only) | \
tests/test_remote.py | 0 |
| early start: killed before the domain starts (everything undone) | \
tests/integration/test_early_start.py | 130 |
| early start: killed during the copy (the guest runs on its overlays; `--resume`) | \
tests/integration/test_early_start.py | killed, then 0 |
| many guests: a guest with no operating system in an Ansible play (its task fails alone, \
guestfix's one-line error; nothing left) | tests/integration/test_ansible.py | \
5 (ansible-playbook 2) |
| many guests: a second run of the same play (every guest already migrated: `changed=0`) | \
tests/integration/test_ansible.py | 0 |
| early start: killed after the pivot, before the clean-up (`--resume` cleans up) | \
tests/integration/test_early_start.py | killed, then 0 |
| a NIC's bridge or network missing on the KVM host (refused at the first stage) | \
tests/integration/test_destination_checks.py | 11 |
| a slot file replaced by a symbolic link (not written through) | \
tests/test_marker_and_slots.py | 1 |
| a block device on the Xen host written since the migration (the host hashes it) | \
tests/test_marker_and_slots.py, tests/test_remote.py | 3 |
| appliance launches cut by SIGTERM, Ctrl-C or the watchdog at random moments | \
tests/launch_cuts.py (make stress: 50 under load) | 130 or 9, never an abort |
| arbitrary xl.cfg, domain XML, migration records, tar streams, probe reports | \
tests/test_fuzz.py (make fuzz: 10,000 each) | an input error or a value |
"""


def table():
    rows = [
        f"| {c.name} | {c.area} | `{c.command}` | {c.code} | "
        + ", ".join(f"`{w}`" for w in c.words)
        + " |"
        for c in CASES
    ]
    elsewhere = ELSEWHERE.count("\n| ") - 1  # less the header row
    counts = f"{len(CASES)} rows here; {elsewhere} more kinds covered by other tests (below)."
    return HEADER.format(counts=counts) + "\n".join(rows) + "\n" + ELSEWHERE


if __name__ == "__main__":
    out = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "reliability.md"
    )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(table())
    print(f"{len(CASES)} cases -> {os.path.normpath(out)}", file=sys.stderr)
