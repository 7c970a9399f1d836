"""Red Hat and SUSE family guests whose package tooling is real (layouts r9, s15).

No RHEL or SLES mirror is reachable here, but Debian ships the real rpm
(with rpmbuild), dnf, zypper, createrepo_c and dracut. These layouts take
the Debian tree of the other layouts, install those programs in it, and
turn it into an rpm distribution as the guest's tools see one:

- Debian's kernel and GRUB are repackaged with rpmbuild, inside the guest,
  as the family names them (`kernel` and `grub2-pc` for RHEL 9, or
  `kernel-default` and `grub2` for SLES 15), then purged from dpkg: the
  guest is left as a Xen guest that booted dom0's kernel, with no kernel
  and no boot loader installed.
- The rpm database is the real one at /var/lib/rpm (Debian's rpm keeps
  it in ~/.rpmdb; /etc/rpm/macros.dbpath moves it where RHEL and SLES
  have it). A release package (redhat-release, sles-release) owns
  /etc/os-release and provides what the base system would (/bin/sh for
  scriptlets, system-release(releasever) for dnf).
- The two packages sit in a repository made by createrepo_c in /srv/repo,
  configured for dnf (/etc/yum.repos.d) or zypper (/etc/zypp/repos.d)
  without signature checks (nothing here is signed); they are also left
  next to the images (packages/) for `fix --package`.
- dracut is Debian's, set up as both families ship it (hostonly).

GRUB keeps Debian's scripts, laid out as RHEL and SLES have it: the
package brings grub2-* names for its programs and makes /boot/grub a link
to /boot/grub2. BLS menus (RHEL's default) need a GRUB with the blscfg
command, which Debian's lacks, so GRUB_ENABLE_BLSCFG=false: the RHEL
guest is configured as an upgraded RHEL with a classic grub.cfg.
"""

import os
import shutil
import subprocess

from tree import symlink, write

# per family: the package tool, the release, the kernel and boot loader
# names (as guestfix asks for them), and the repository configuration
FAMILIES = {
    "redhat": {
        "tool": "dnf",
        "release": ("redhat-release", "9.4", "1.el9"),
        "os_release": (
            'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\n'
            'ID_LIKE="fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\n'
            'PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n'
            'CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"\n'
        ),
        "release_files": {
            "/etc/redhat-release": "Red Hat Enterprise Linux release 9.4 (Plow)\n",
            "/etc/issue": "\\S\nKernel \\r on an \\m\n\n",
        },
        "provides": ["system-release = 9.4", "system-release(releasever) = 9"],
        "kernel": "kernel",
        "bootloader": "grub2-pc",
        "kernel_release": "{abi}.el9",
        "grub_version": ("2.06", "77.el9"),
        "repo_file": "/etc/yum.repos.d/rhel-local.repo",
        "repo": "[rhel-local]\nname=RHEL 9 (local test repository)\n"
        "baseurl=file:///srv/repo\nenabled=1\ngpgcheck=0\n",
        "distributor": "Red Hat Enterprise Linux",
        # RHEL 9's, but with classic menu entries (see above)
        "grub_defaults": 'GRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR="Red Hat Enterprise Linux"\n'
        "GRUB_DEFAULT=saved\nGRUB_DISABLE_SUBMENU=true\n"
        'GRUB_TERMINAL_OUTPUT="console"\nGRUB_CMDLINE_LINUX="quiet"\n'
        'GRUB_DISABLE_RECOVERY="true"\nGRUB_ENABLE_BLSCFG=false\n',
    },
    "suse": {
        "tool": "zypper",
        "release": ("sles-release", "15.5", "150500.1.1"),
        "os_release": (
            'NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\n'
            'PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\nID="sles"\n'
            'ID_LIKE="suse"\nCPE_NAME="cpe:/o:suse:sles:15:sp5"\n'
        ),
        "release_files": {"/etc/issue": "Welcome to \\S - Kernel \\r (\\l).\n\n"},
        "provides": ["product(SLES) = 15.5", "distribution-release"],
        "kernel": "kernel-default",
        "bootloader": "grub2",
        "kernel_release": "150500.{abi}.1",
        "grub_version": ("2.06", "150500.29.8.1"),
        "repo_file": "/etc/zypp/repos.d/sles-local.repo",
        "repo": "[sles-local]\nname=SLES 15 SP5 (local test repository)\nenabled=1\n"
        "autorefresh=0\nbaseurl=dir:/srv/repo\ntype=rpm-md\ngpgcheck=0\n",
        "distributor": "SLES15-SP5",
        "grub_defaults": 'GRUB_DISTRIBUTOR="SLES15-SP5"\nGRUB_DEFAULT=saved\n'
        "GRUB_HIDDEN_TIMEOUT=0\nGRUB_HIDDEN_TIMEOUT_QUIET=true\n"
        "GRUB_TIMEOUT=8\n"
        'GRUB_CMDLINE_LINUX_DEFAULT="splash=silent quiet showopts"\n'
        'GRUB_CMDLINE_LINUX=""\nGRUB_TERMINAL="console"\n',
    },
}

DEBIAN_BOOT_LOADER = ["grub-pc", "grub-pc-bin", "grub2-common", "grub-common"]
# the kernel modules the repackaged kernel keeps: enough for a virtio or a
# Xen guest and for dracut; the rest (sound, GPUs, wireless, ...) would only
# make every install and image bigger and slower
KEEP_MODULES = [
    "arch",
    "block",
    "crypto",
    "fs",
    "lib",
    "mm",
    "virt",
    "drivers/block",
    "drivers/virtio",
    "drivers/xen",
    "drivers/md",
    "drivers/ata",
    "drivers/input",
    "drivers/char",
    "drivers/cdrom",
    "drivers/scsi",
    "drivers/net/virtio_net.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/xen-netfront.ko",
    "net/core",
    "net/ipv6",
]
UNWANTED_DOCS = (
    "/usr/share/doc/",
    "/usr/share/man/",
    "/usr/share/info/",
    "/usr/share/locale/",
    "/usr/share/lintian/",
    "/usr/share/bug/",
)
BUILD_DIR = "/var/tmp/guestfix-rpmbuild"  # inside the guest, removed at the end

RPMBUILD_DEFINES = [
    # the files are Debian's, already stripped: no brp-* scripts, no
    # debuginfo; a light gzip keeps rpmbuild and the installs quick
    "--define",
    "__os_install_post %{nil}",
    "--define",
    "debug_package %{nil}",
    "--define",
    "_build_id_links none",
    "--define",
    "_binary_payload w1.gzdio",
]

SPEC = """Name: {name}
Version: {version}
Release: {release}
Summary: {summary}
License: {license}
BuildArch: {arch}
AutoReqProv: no
{provides}
%description
{summary}. Built for a guestfix test guest (test-images/rpmdistro.py).

%install
mkdir -p %{{buildroot}}
{install}

{scripts}
%files
{files}
"""


def make_rpm_distro(root, family, kver, packages_dir, chroot, mounts):
    """Turn the configured Debian tree at `root` into the family's guest
    (see the module's docstring). `chroot(root, argv)` and `mounts(root)`
    are build.py's."""
    fam = FAMILIES[family]
    with mounts(root):
        chroot(
            root,
            [
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "rpm",
                "createrepo-c",
                fam["tool"],
            ],
        )
    write(root, "/etc/rpm/macros.dbpath", "# where RHEL and SLES keep it\n%_dbpath /var/lib/rpm\n")
    build = os.path.join(root, BUILD_DIR.lstrip("/"))
    specs = _stage_packages(root, family, kver, build)
    _purge_debian_kernel_and_boot_loader(root, kver, chroot, mounts)
    rpms = {}
    for key, text in specs.items():
        write(root, f"{BUILD_DIR}/{key}.spec", text)
        with mounts(root):
            chroot(
                root,
                [
                    "rpmbuild",
                    "--quiet",
                    "--define",
                    f"_topdir {BUILD_DIR}/top-{key}",
                    *RPMBUILD_DEFINES,
                    "-bb",
                    f"{BUILD_DIR}/{key}.spec",
                ],
            )
        rpms[key] = _built(build, key)
    # the release package is the base of the database; the other two are
    # what the guest lacks
    os.remove(os.path.join(root, "etc/os-release"))  # Debian's link
    shutil.copy2(rpms.pop("release"), os.path.join(root, "var/tmp/release.rpm"))
    with mounts(root):
        chroot(root, ["rpm", "--initdb"])
        chroot(root, ["rpm", "--install", "--force-debian", "/var/tmp/release.rpm"])
    os.remove(os.path.join(root, "var/tmp/release.rpm"))
    for directory in (os.path.join(root, "srv/repo"), packages_dir):
        os.makedirs(directory, exist_ok=True)
        for path in rpms.values():
            shutil.copy2(path, directory)
    with mounts(root):
        chroot(root, ["createrepo_c", "--quiet", "/srv/repo"])
    write(root, fam["repo_file"], fam["repo"])
    shutil.rmtree(build)


def _stage_packages(root, family, kver, build):
    """Each package's files staged under build/KEY, and its spec."""
    fam = FAMILIES[family]
    release_stage = os.path.join(build, "release")
    write(release_stage, "/etc/os-release", fam["os_release"])
    for path, text in fam["release_files"].items():
        write(release_stage, path, text)
    name, version, release = fam["release"]
    abi = kver.split("-")[1]
    return {
        "release": _spec(
            name,
            version,
            release,
            f"{fam['distributor']} release files",
            "noarch",
            "release",
            list(fam["release_files"]) + ["/etc/os-release"],
            provides=fam["provides"] + ["/bin/sh", "/bin/bash", "/usr/bin/sh"],
        ),
        "kernel": _spec(
            fam["kernel"],
            kver.split("-")[0],
            fam["kernel_release"].format(abi=abi),
            f"The Linux kernel (Debian's {kver}, repackaged)",
            "x86_64",
            "kernel",
            _stage_kernel(root, kver, os.path.join(build, "kernel")),
            license_="GPL-2.0-only",
            post=f"/sbin/depmod -a {kver}\n",
        ),
        "grub": _spec(
            fam["bootloader"],
            *fam["grub_version"],
            "GRUB 2 for BIOS (Debian's, repackaged)",
            "x86_64",
            "grub",
            _stage_boot_loader(root, family, os.path.join(build, "grub")),
            license_="GPL-3.0-or-later",
        ),
    }


def _purge_debian_kernel_and_boot_loader(root, kver, chroot, mounts):
    """The guest booted dom0's kernel: neither is installed, in dpkg's
    eyes or on disk."""
    with mounts(root):
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
        chroot(
            root,
            ["dpkg", "--purge", "linux-image-amd64", f"linux-image-{kver}", *DEBIAN_BOOT_LOADER],
        )
    for leftover in (
        "boot/grub",
        f"usr/lib/modules/{kver}",
        f"boot/initrd.img-{kver}",
        "etc/default/grub",
    ):
        path = os.path.join(root, leftover)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def _built(build, key):
    """The rpm made from the spec `key` (each has a _topdir of its own)."""
    top = os.path.join(build, f"top-{key}/RPMS")
    (arch,) = os.listdir(top)
    (name,) = os.listdir(os.path.join(top, arch))
    return os.path.join(top, arch, name)


def _spec(
    name, version, release, summary, arch, staged, files, provides=(), license_="MIT", post=""
):
    return SPEC.format(
        name=name,
        version=version,
        release=release,
        summary=summary,
        arch=arch,
        license=license_,
        provides="".join(f"Provides: {p}\n" for p in provides),
        install=f"cp -a {BUILD_DIR}/{staged}/. %{{buildroot}}/",
        scripts=f"%post\n{post}" if post else "",
        files="\n".join(_quoted(f) for f in files),
    )


def _quoted(entry):
    # rpm's %files splits a name on white space unless it is quoted
    if entry.startswith("%") or not any(c.isspace() for c in entry):
        return entry
    return f'"{entry}"'


def _copy(src, dest):
    """Copy a file or link, making dest's directories."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy2(src, dest, follow_symlinks=False)


def _stage_kernel(root, kver, stage):
    """The kernel image, its config and map, and the kept modules, with
    modules.dep made for exactly those (depmod on the staged tree)."""
    files = []
    for n in (f"vmlinuz-{kver}", f"config-{kver}", f"System.map-{kver}"):
        _copy(os.path.join(root, "boot", n), os.path.join(stage, "boot", n))
        files.append(f"/boot/{n}")
    # /lib/modules as RHEL's and SLES's kernels name it (the guest's /lib is
    # a link to usr/lib; depmod -b reads BASE/lib/modules)
    src = os.path.join(root, "usr/lib/modules", kver)
    dest = os.path.join(stage, "lib/modules", kver)
    for dirpath, _dirs, names in os.walk(src):
        for n in names:
            path = os.path.relpath(os.path.join(dirpath, n), src)
            if path.startswith("kernel/"):
                inside = path[len("kernel/") :]
                if not any(inside == k or inside.startswith(k + "/") for k in KEEP_MODULES):
                    continue
            elif n.startswith("modules.") and n not in (
                "modules.builtin",
                "modules.order",
                "modules.builtin.modinfo",
            ):
                continue  # made again by depmod below
            _copy(os.path.join(src, path), os.path.join(dest, path))
    subprocess.run(["depmod", "-b", stage, "-a", kver], check=True)
    for dirpath, _dirs, names in os.walk(dest):
        for n in names:
            files.append("/" + os.path.relpath(os.path.join(dirpath, n), stage))
    return sorted(files)


def _stage_boot_loader(root, family, stage):
    """Debian's GRUB files (no documentation) plus the grub2-* names, the
    /boot/grub -> grub2 link of the RHEL/SLES layout, and the family's
    /etc/default/grub (which RHEL's and SLES's GRUB packages own)."""
    listing = subprocess.run(
        ["chroot", root, "dpkg", "-L", *DEBIAN_BOOT_LOADER],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    files = []
    for path in sorted(set(listing.split("\n"))):
        if (
            not path.startswith("/")
            or path.startswith(UNWANTED_DOCS)
            or path == "/etc/default/grub"
        ):
            continue
        full = os.path.join(root, path.lstrip("/"))
        if os.path.islink(full) or os.path.isfile(full):
            # merged /usr: dpkg may name /sbin/x where the file is /usr/sbin/x
            real = path if not os.path.islink(os.path.dirname(full)) else "/usr" + path
            _copy(os.path.join(root, real.lstrip("/")), os.path.join(stage, real.lstrip("/")))
            files.append(real)
    for tool in (
        "install",
        "mkconfig",
        "set-default",
        "editenv",
        "probe",
        "mkimage",
        "reboot",
        "mkrelpath",
        "script-check",
        "file",
    ):
        for d in ("/usr/sbin", "/usr/bin"):
            if os.path.lexists(os.path.join(stage, f"{d}/grub-{tool}".lstrip("/"))):
                symlink(stage, f"grub-{tool}", f"{d}/grub2-{tool}")
                files.append(f"{d}/grub2-{tool}")
    symlink(stage, "grub2", "/boot/grub")
    os.makedirs(os.path.join(stage, "boot/grub2"))
    write(stage, "/etc/default/grub", FAMILIES[family]["grub_defaults"])
    return sorted(set(files)) + [
        "%dir /boot/grub2",
        "/boot/grub",
        "%config(noreplace) /etc/default/grub",
    ]
