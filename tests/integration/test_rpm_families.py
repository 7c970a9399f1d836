"""A RHEL 9-like (r9) and a SLES 15-like (s15) guest whose rpm, dnf, zypper,
createrepo_c and dracut are the real programs (test-images/rpmdistro.py).

Both booted dom0's kernel on Xen: neither a kernel nor a GRUB package is
installed. guestfix installs them with the guest's own tools: r9 from its
configured repository with dnf (`fix --online`), s15 once from its
repository with zypper and once from the package files with rpm (`fix
--package`). dracut then builds the initrd, grub2-mkconfig the menu and
grub2-install the boot code, all of them the real programs; the fixed r9
boots to its login prompt on the kernel dnf installed.
"""

import json
import os

import pytest
from conftest import boot_checked, build_sample, copy_sample, disk_paths, guestfix

pytestmark = pytest.mark.slow


PACKAGES = object()  # in fixed_copy's options: the layout's packages/ directory


def fixed_copy(layout, tmp_path_factory, *options):
    """A copy of the layout, fixed with `options`."""
    xml = build_sample(layout)
    packages = os.path.join(os.path.dirname(xml), "packages")
    copy = copy_sample(xml, str(tmp_path_factory.mktemp(layout)))
    argv = [packages if o is PACKAGES else o for o in options]
    r = guestfix("fix", "--yes", "--json", *argv, "--domain", copy)
    assert r.returncode == 0, r.stderr[-3000:]
    return {
        "xml": copy,
        "disks": disk_paths(copy),
        "report": json.loads(r.stdout),
        "packages": sorted(os.listdir(packages)),
    }


@pytest.fixture(scope="module")
def r9(tmp_path_factory, state_dir):
    return fixed_copy("r9", tmp_path_factory, "--online")


@pytest.fixture(scope="module")
def s15_online(tmp_path_factory, state_dir):
    return fixed_copy("s15", tmp_path_factory, "--online")


@pytest.fixture(scope="module")
def s15_files(tmp_path_factory, state_dir):
    return fixed_copy("s15", tmp_path_factory, "--package", PACKAGES)


GUEST_FILES = [
    "/boot/grub2/grub.cfg",
    "/etc/fstab",
    "/etc/dracut.conf.d/10-xen.conf",
    "/etc/dracut.conf.d/01-dist.conf",
    "/etc/dracut.conf.d/90-guestfix-virtio.conf",
]


@pytest.fixture(scope="module")
def inside(r9, s15_online, s15_files):
    """Each fixed guest as its own rpm shows it, with its files and its
    disk's boot code: all three read in one read-only launch."""
    import guestfs

    runs = {
        "r9": (r9, ["kernel", "grub2-pc"]),
        "s15_online": (s15_online, ["kernel-default", "grub2"]),
        "s15_files": (s15_files, ["kernel-default", "grub2"]),
    }
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        for run, _packages in runs.values():
            g.add_drive_opts(run["disks"][0], readonly=True, format="raw")
        g.launch()
        out = {}
        for root in g.inspect_os():
            disk = g.part_to_dev(root)
            name = list(runs)[g.device_index(disk)]
            g.mount_ro(root, "/")
            # the read-only rpmdb can be read because rpm keeps its -shm/-wal
            query = g.command(
                [
                    "rpm",
                    "--query",
                    "--queryformat",
                    "%{NAME}-%{VERSION}-%{RELEASE}\n",
                    *runs[name][1],
                ]
            )
            files = {
                p: g.read_file(p).decode("utf-8", "replace") if g.is_file(p) else None
                for p in GUEST_FILES
            }
            files.update(
                {
                    "rpm": query.splitlines(),
                    "ls:/boot": sorted(g.ls("/boot")),
                    "ls:/var/tmp": sorted(g.ls("/var/tmp")),
                    "mbr": g.pread_device(disk, 440, 0),
                }
            )
            out[name] = files
            g.umount_all()
        return out
    finally:
        g.close()


def boot_kernel(report):
    guest = report["guest"]
    return next(k for k in guest["kernels"] if k["version"] == guest["boot_kernel"])


def commands(report):
    return [c["target"] for c in report["changes"] if c["kind"] == "command"]


def check_rpm_guest(run, files, family, kernel_package, grub_package, initrd):
    """What every fixed guest of the two layouts has; `files` is what
    `inside` read of it, `initrd` the family's initrd path for the
    installed kernel."""
    report = run["report"]
    guest = report["guest"]
    assert guest["family"] == family and guest["package_format"] == "rpm"
    kver = guest["boot_kernel"]
    kernel = boot_kernel(report)
    assert kernel["initrd"] == initrd.format(kver=kver)
    # the initrd dracut built, as the real lsinitrd lists it
    assert "virtio_blk" in kernel["initrd_drivers"]
    assert "xen-blkfront" not in kernel["initrd_drivers"]
    # after the install: dracut, the boot code, the menu (in this order)
    assert [c.split()[0] for c in commands(report)[1:]] == [
        "dracut",
        "grub2-install",
        "grub2-mkconfig",
    ]
    assert commands(report)[1].endswith(f" {kernel['initrd']} {kver}")
    query = files["rpm"]
    # installed by rpm into its own database, under the family's names
    assert [q.rsplit("-", 2)[0] for q in query] == [kernel_package, grub_package]
    assert query[0].startswith(f"{kernel_package}-{kver.split('-')[0]}-")
    # GRUB's boot code in the MBR, and a menu for the installed kernel
    assert b"GRUB" in files["mbr"]
    cfg = files["/boot/grub2/grub.cfg"]
    assert f"linux\t/boot/vmlinuz-{kver} root=UUID=" in cfg
    assert f"initrd\t{kernel['initrd']}" in cfg
    assert "console=ttyS0" in cfg and "xvd" not in cfg and "hvc0" not in cfg
    assert "grub2" in files["ls:/boot"] and "grub" in files["ls:/boot"]
    assert files["/etc/fstab"].startswith("# /etc/fstab") and "/dev/vda1\t/" in files["/etc/fstab"]
    # dracut's own configuration names the virtio drivers; hostonly stays
    assert files["/etc/dracut.conf.d/10-xen.conf"] == (
        '# written on Xen\nadd_drivers+=" virtio_blk virtio_pci virtio_net virtio_balloon "\n'
    )
    assert 'hostonly="yes"' in files["/etc/dracut.conf.d/01-dist.conf"]
    assert "virtio_blk" in files["/etc/dracut.conf.d/90-guestfix-virtio.conf"]
    return kver


def test_rhel_guest_gets_kernel_and_grub_from_its_repository_with_dnf(r9, inside):
    report = r9["report"]
    assert report["committed"]
    assert report["guest"]["distro"] == "rhel"
    install = report["changes"][0]
    assert install["step"] == "install-packages"
    assert install["target"] == "dnf --assumeyes install kernel grub2-pc"
    check_rpm_guest(r9, inside["r9"], "redhat", "kernel", "grub2-pc", "/boot/initramfs-{kver}.img")


def test_rhel_guest_boots_the_kernel_dnf_installed(r9, tmp_path):
    kver = r9["report"]["guest"]["boot_kernel"]
    console_log = tmp_path / "console.log"
    _, probe, mounts = boot_checked(r9["xml"], console_log=console_log)
    assert mounts["/"] == "/dev/vda1"
    assert probe["swap"] == ["/dev/vda2"]
    assert probe["failed"] == []
    assert f"BOOT_IMAGE=/boot/vmlinuz-{kver}" in probe["cmdline"].split()
    assert "console=ttyS0" in probe["cmdline"].split()
    assert [n["name"] for n in probe["nics"] if n["name"] != "lo"] == ["enX0"]
    # the banner of the release package's /etc/issue, which the getty
    # printed before its login prompt
    assert "Red Hat Enterprise Linux 9.4 (Plow)" in console_log.read_text()


def test_sles_guest_gets_kernel_default_and_grub2_from_its_repository_with_zypper(
    s15_online, inside
):
    report = s15_online["report"]
    assert report["guest"]["distro"] == "sles"
    assert (
        report["changes"][0]["target"]
        == "zypper --non-interactive install --no-recommends kernel-default grub2"
    )
    check_rpm_guest(
        s15_online, inside["s15_online"], "suse", "kernel-default", "grub2", "/boot/initrd-{kver}"
    )


def test_sles_guest_gets_them_from_package_files_with_rpm(s15_files, inside):
    report = s15_files["report"]
    assert [n.split("-2.06")[0].split("-6.")[0] for n in s15_files["packages"]] == [
        "grub2",
        "kernel-default",
    ]
    # the files were put in the guest's /var/tmp for its rpm, and removed after
    assert report["changes"][0]["target"] == "rpm --upgrade --verbose --hash " + " ".join(
        s15_files["packages"]
    )
    assert inside["s15_files"]["ls:/var/tmp"] == []
    check_rpm_guest(
        s15_files, inside["s15_files"], "suse", "kernel-default", "grub2", "/boot/initrd-{kver}"
    )
