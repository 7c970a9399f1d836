"""SUSE, Red Hat and dracut guests, and guests lacking a kernel or boot
loader: the steps' plans on in-memory trees."""

import pytest
from helpers import Link, MemoryGuest, debian_facts

from guestfix.core.devnames import DeviceMap
from guestfix.core.errors import InputError, UnsupportedGuestError
from guestfix.fix import packages
from guestfix.fix.facts import Kernel, selinux_mode
from guestfix.fix.plan import GuestCommand
from guestfix.fix.steps import (
    StepContext,
    cleanup,
    default_kernel,
    install_packages,
    kernel_arguments,
    regenerate_initrd,
)

XEN_KERNEL = Kernel(
    "3.0.101-63-xen", "/boot/vmlinuz-3.0.101-63-xen", "/boot/initrd-3.0.101-63-xen", True, False
)
DEFAULT_KERNEL = Kernel("3.0.101-63-default", "/boot/vmlinuz-3.0.101-63-default", "", False, True)


def suse_facts(**kw):
    defaults = dict(
        distro="sles",
        family="suse",
        package_format="rpm",
        init="sysvinit",
        initrd_tool="mkinitrd",
        bootloader="grub-legacy",
        grub_dir="/boot/grub",
        grub_cfg="/boot/grub/menu.lst",
        grub_installer="grub-install",
        product="SUSE Linux Enterprise Server 11",
        version="11.4",
        grub2_platforms=[],
        grub_legacy=True,
        kernels=[XEN_KERNEL],
        boot_kernel="",
        partition_table="msdos",
    )
    defaults.update(kw)
    return debian_facts(**defaults)


def ctx_for(facts, files, **kw):
    return StepContext(facts=facts, devmap=DeviceMap.default(2), guest=MemoryGuest(files), **kw)


# -- what is missing, and the refusal before any change -------------------------
def test_xen_only_kernel_needs_kernel_default():
    wanted = packages.needed(suse_facts())
    assert [(p.role, p.name) for p in wanted] == [("kernel", "kernel-default")]
    assert "3.0.101-63-xen" in wanted[0].why
    with pytest.raises(UnsupportedGuestError) as e:
        packages.PackageSource().check_usable(suse_facts(), wanted)
    assert "kernel-default" in str(e.value) and "--package" in e.value.hint


def test_dom0_kernel_guest_needs_kernel_and_boot_loader():
    facts = debian_facts(
        kernels=[], boot_kernel="", grub_installer="", bootloader="", grub2_platforms=[]
    )
    assert [p.name for p in packages.needed(facts)] == ["linux-image-amd64", "grub-pc"]
    # direct kernel boot needs no boot loader
    assert [p.name for p in packages.needed(facts, direct_boot=True)] == ["linux-image-amd64"]
    with pytest.raises(UnsupportedGuestError) as e:
        packages.PackageSource().check_usable(facts, packages.needed(facts))
    assert str(e.value).startswith(
        "no kernel is installed (it was booted from dom0); "
        "the guest needs linux-image-amd64 and grub-pc installed"
    )
    ubuntu = debian_facts(
        distro="ubuntu", kernels=[], boot_kernel="", grub_installer="", grub2_platforms=[]
    )
    assert [p.name for p in packages.needed(ubuntu)] == ["linux-image-generic", "grub-pc"]


def test_sles15_without_grub2_needs_grub2():
    facts = suse_facts(
        kernels=[DEFAULT_KERNEL],
        boot_kernel=DEFAULT_KERNEL.version,
        bootloader="grub2",
        grub_installer="",
        initrd_tool="dracut",
        version="15.5",
        grub_legacy=False,
    )
    assert [p.name for p in packages.needed(facts)] == ["grub2"]


def test_grub_legacy_only_debian_guest_needs_grub_pc():
    """xen-tools' pygrub guests: GRUB legacy's grub-install and GRUB 2's
    grub-mkconfig (grub-common), but no GRUB 2 platform. Debian moves from
    GRUB legacy to GRUB 2; the refusal names the package and both ways."""
    facts = debian_facts(
        bootloader="grub-legacy",
        grub_cfg="/boot/grub/menu.lst",
        grub_installer="grub-install",
        grub_legacy=True,
        grub2_platforms=[],
        kernels=[DEFAULT_KERNEL],
        boot_kernel=DEFAULT_KERNEL.version,
    )
    wanted = packages.needed(facts)
    assert [(p.role, p.name) for p in wanted] == [("bootloader", "grub-pc")]
    with pytest.raises(UnsupportedGuestError) as e:
        packages.PackageSource().check_usable(facts, wanted)
    message = str(e.value)
    assert "only GRUB legacy" in message and "grub-pc" in message
    assert "--package" in message and "--online" in message
    assert "\n" not in message
    # with its boot code on the disk, GRUB legacy keeps booting it: nothing needed
    facts.boot_code = True
    assert packages.needed(facts) == []


def test_grub_legacy_is_sles11s_own_boot_loader():
    facts = suse_facts(kernels=[DEFAULT_KERNEL], boot_kernel=DEFAULT_KERNEL.version)
    assert packages.needed(facts) == []
    assert [
        p.name
        for p in packages.needed(
            suse_facts(
                kernels=[DEFAULT_KERNEL],
                boot_kernel=DEFAULT_KERNEL.version,
                grub_installer="",
                grub_legacy=False,
            )
        )
    ] == ["grub"]


def test_package_files_checked_on_the_host(tmp_path):
    (tmp_path / "kernel-default-1.rpm").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    source = packages.PackageSource.from_options([str(tmp_path)])
    assert [p.rsplit("/", 1)[1] for p in source.files] == ["kernel-default-1.rpm"]
    with pytest.raises(InputError, match="installs .deb"):
        source.check_usable(
            debian_facts(package_format="deb"),
            packages.needed(debian_facts(kernels=[], boot_kernel="")),
        )
    with pytest.raises(InputError, match="no such file"):
        packages.PackageSource.from_options([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .deb or .rpm"):
        packages.PackageSource.from_options([str(tmp_path / "empty")])


def test_install_commands_per_family():
    wanted = packages.needed(suse_facts())
    deb = packages.install_commands(debian_facts(package_format="deb"), wanted, ["/x/a.deb"])
    assert deb[0][:3] == ["env", "DEBIAN_FRONTEND=noninteractive", "INITRD=No"]
    assert "dpkg" in deb[0] and deb[0][-1] == "/x/a.deb"
    assert packages.install_commands(suse_facts(), wanted, ["/x/k.rpm"])[0][0] == "rpm"
    online = packages.install_commands(suse_facts(), wanted, [])
    assert online == [
        ["zypper", "--non-interactive", "install", "--no-recommends", "kernel-default"]
    ]
    rhel = debian_facts(family="redhat", package_format="rpm")
    assert packages.install_commands(rhel, wanted, [], lambda t: False)[0][0] == "yum"


def test_install_step_plans_upload_and_install():
    source = packages.PackageSource(files=["/host/kernel-default-1.rpm"])
    ctx = ctx_for(suse_facts(), {}, packages=source)
    (change,) = install_packages.STEP.plan(ctx)
    assert change.host_files == ["/host/kernel-default-1.rpm"]
    assert change.commands == [
        ["rpm", "--upgrade", "--verbose", "--hash", f"{packages.GUEST_DIR}/kernel-default-1.rpm"]
    ]
    assert "copy into guest: /host/kernel-default-1.rpm" in change.diff()
    # nothing missing: nothing installed, even with packages supplied
    done = suse_facts(kernels=[DEFAULT_KERNEL], boot_kernel=DEFAULT_KERNEL.version)
    assert install_packages.STEP.plan(ctx_for(done, {}, packages=source)) == []


# -- initrd regeneration per tool ---------------------------------------------
@pytest.mark.parametrize(
    "tool,family,expected",
    [
        (
            "mkinitrd",
            "suse",
            [
                "mkinitrd",
                "-k",
                "vmlinuz-3.0.101-63-default",
                "-i",
                "initrd-3.0.101-63-default",
                "-m",
                "virtio_blk virtio_pci virtio_net virtio_balloon",
            ],
        ),
        (
            "dracut",
            "suse",
            [
                "dracut",
                "--force",
                "--no-hostonly-cmdline",
                "--add-drivers",
                "virtio_blk virtio_pci virtio_net virtio_balloon virtio_scsi",
                "/boot/initrd-3.0.101-63-default",
                "3.0.101-63-default",
            ],
        ),
        (
            "dracut",
            "redhat",
            [
                "dracut",
                "--force",
                "--no-hostonly-cmdline",
                "--add-drivers",
                "virtio_blk virtio_pci virtio_net virtio_balloon virtio_scsi",
                "/boot/initramfs-3.0.101-63-default.img",
                "3.0.101-63-default",
            ],
        ),
    ],
)
def test_initrd_rebuild_per_tool(tool, family, expected):
    facts = suse_facts(
        initrd_tool=tool,
        family=family,
        kernels=[DEFAULT_KERNEL],
        boot_kernel=DEFAULT_KERNEL.version,
    )
    (cmd,) = regenerate_initrd.STEP.plan(ctx_for(facts, {}))
    assert cmd.argv == expected


# -- the default entry ---------------------------------------------------------
SLES11_MENU = """# Modified by YaST2.
default 0
timeout 8

title Xen -- SUSE Linux Enterprise Server 11 SP4 - 3.0.101-63
    root (hd0,1)
    kernel /boot/xen.gz
    module /boot/vmlinuz-3.0.101-63-xen root=/dev/vda2 resume=/dev/vda1 splash=silent showopts \
console=tty0 console=ttyS0
    module /boot/initrd-3.0.101-63-xen

title Failsafe -- SUSE Linux Enterprise Server 11 SP4 - 3.0.101-63
    root (hd0,1)
    kernel /boot/vmlinuz-3.0.101-63-xen root=/dev/vda2 showopts ide=nodma
    initrd /boot/initrd-3.0.101-63-xen
"""


def test_menu_lst_gets_an_entry_for_the_new_default_kernel():
    kernel = Kernel(
        "3.0.101-63-default",
        "/boot/vmlinuz-3.0.101-63-default",
        "/boot/initrd-3.0.101-63-default",
        False,
        True,
    )
    facts = suse_facts(kernels=[XEN_KERNEL, kernel], boot_kernel=kernel.version)
    ctx = ctx_for(facts, {"/boot/grub/menu.lst": SLES11_MENU})
    (change,) = default_kernel.STEP.plan(ctx)
    entries = default_kernel.menu_lst_entries(change.after)
    assert entries[0][2]["kernel"].startswith(
        "/boot/vmlinuz-3.0.101-63-default root=/dev/vda2 resume=/dev/vda1"
    )
    assert entries[0][2]["initrd"] == "/boot/initrd-3.0.101-63-default"
    assert entries[0][2]["root"] == "(hd0,1)"
    assert "default 0" in change.after and len(entries) == 3
    # planned again on the result: nothing left to do
    ctx.guest.apply([change])
    assert default_kernel.STEP.plan(ctx) == []


def test_menu_lst_default_moves_to_the_existing_entry():
    text = (
        "default 0\ntitle xen\n kernel /boot/vmlinuz-3.0.101-63-xen root=/dev/vda2\n"
        "title default\n kernel /boot/vmlinuz-3.0.101-63-default root=/dev/vda2\n"
    )
    out = default_kernel.fix_menu_lst_default(text, DEFAULT_KERNEL, "SLES", DeviceMap.default(1))
    assert out.startswith("default 1\n")


def test_menu_lst_entry_through_the_vmlinuz_symlink():
    from helpers import Link

    text = (
        "default 0\ntitle xen\n kernel /boot/xen.gz\n module /boot/vmlinuz-xen root=/dev/vda2\n"
        "title SLES\n kernel /boot/vmlinuz root=/dev/vda2\n"
    )
    facts = suse_facts(kernels=[XEN_KERNEL, DEFAULT_KERNEL], boot_kernel=DEFAULT_KERNEL.version)
    files = {
        "/boot/grub/menu.lst": text,
        "/boot/vmlinuz": Link("vmlinuz-3.0.101-63-default"),
        "/boot/vmlinuz-xen": Link("vmlinuz-3.0.101-63-xen"),
        "/boot/vmlinuz-3.0.101-63-default": "",
    }
    (change,) = default_kernel.STEP.plan(ctx_for(facts, files))
    assert change.after.startswith("default 1\n") and change.after.count("title") == 2


DEBIAN_CFG = """set default="0"
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-U' {
	linux	/boot/vmlinuz-6.1.0-50-xen root=UUID=U ro
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-U' {
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-50-xen' \
$menuentry_id_option 'gnulinux-6.1.0-50-xen-advanced-U' {
		linux	/boot/vmlinuz-6.1.0-50-xen root=UUID=U ro
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-40-amd64' \
$menuentry_id_option 'gnulinux-6.1.0-40-amd64-advanced-U' {
		linux	/boot/vmlinuz-6.1.0-40-amd64 root=UUID=U ro
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-40-amd64 (recovery mode)' \
$menuentry_id_option 'gnulinux-6.1.0-40-amd64-recovery-U' {
		linux	/boot/vmlinuz-6.1.0-40-amd64 root=UUID=U ro single
	}
}
"""


def grub2_facts(**kw):
    kernel = Kernel(
        "6.1.0-40-amd64",
        "/boot/vmlinuz-6.1.0-40-amd64",
        "/boot/initrd.img-6.1.0-40-amd64",
        False,
        True,
    )
    return debian_facts(kernels=[kernel], boot_kernel=kernel.version, **kw)


def test_grub2_default_set_in_defaults_and_regenerated():
    files = {
        "/boot/grub/grub.cfg": DEBIAN_CFG,
        "/etc/default/grub": "GRUB_DEFAULT=0\n",
        "/usr/sbin/update-grub": "#!/bin/sh\n",
    }
    edit, regen = default_kernel.STEP.plan(ctx_for(grub2_facts(), files))
    assert edit.after == (
        'GRUB_DEFAULT="gnulinux-advanced-U>gnulinux-6.1.0-40-amd64-advanced-U"\n'
    )
    assert regen.argv == ["update-grub"]


def test_grub2_saved_default_uses_set_default():
    files = {
        "/boot/grub2/grub.cfg": DEBIAN_CFG,
        "/etc/default/grub": "GRUB_DEFAULT=saved\n",
        "/boot/grub2/grubenv": "# GRUB Environment Block\nsaved_entry=0\n",
    }
    facts = grub2_facts(grub_dir="/boot/grub2", grub_cfg="/boot/grub2/grub.cfg")
    (cmd,) = default_kernel.STEP.plan(ctx_for(facts, files))
    assert cmd.argv == [
        "grub2-set-default",
        "gnulinux-advanced-U>gnulinux-6.1.0-40-amd64-advanced-U",
    ]
    files["/boot/grub2/grubenv"] = (
        "saved_entry=Advanced options for Debian GNU/Linux>"
        "Debian GNU/Linux, with Linux 6.1.0-40-amd64\n"
    )
    assert default_kernel.STEP.plan(ctx_for(facts, files)) == []


def test_grub2_default_already_right():
    cfg = DEBIAN_CFG.replace("6.1.0-50-xen", "6.1.0-40-amd64", 1)
    files = {"/boot/grub/grub.cfg": cfg, "/etc/default/grub": "GRUB_DEFAULT=0\n"}
    assert default_kernel.STEP.plan(ctx_for(grub2_facts(), files)) == []


def test_bls_menu_uses_grubby():
    files = {
        "/boot/grub2/grub.cfg": "blscfg\n",
        "/usr/sbin/grubby": "#!/bin/sh\n",
        "/boot/loader/entries/abc-6.1.0-40-amd64.conf": "title x\n",
    }
    facts = grub2_facts(grub_dir="/boot/grub2", grub_cfg="/boot/grub2/grub.cfg")
    (cmd,) = default_kernel.STEP.plan(ctx_for(facts, files))
    assert cmd.argv == ["grubby", "--set-default=/boot/vmlinuz-6.1.0-40-amd64"]
    files["/boot/grub2/grubenv"] = "saved_entry=abc-6.1.0-40-amd64\n"
    assert default_kernel.STEP.plan(ctx_for(facts, files)) == []


# -- SELinux ------------------------------------------------------------------
def test_selinux_guest_relabels_after_changes():
    assert selinux_mode("# c\nSELINUX=enforcing\nSELINUXTYPE=targeted\n") == "enforcing"
    assert selinux_mode(None) == ""
    facts = grub2_facts(selinux="enforcing")
    earlier = [GuestCommand(step="x", summary="y", argv=["true"])]
    (change,) = cleanup.STEP.plan(ctx_for(facts, {}, earlier=earlier))
    assert change.path == "/.autorelabel" and change.before is None
    assert cleanup.STEP.plan(ctx_for(grub2_facts(selinux="disabled"), {}, earlier=earlier)) == []


# -- xapi's guest agent (XenServer/XCP-ng) -------------------------------------
def test_xapi_guest_agent_disabled_on_rpm_guests():
    """xe-guest-utilities' RPM and XCP-ng's xen-guest-agent start from
    systemd (RHEL 7+) or SysV links (RHEL 6): the links go, the packages stay."""
    files = {
        "/etc/systemd/system/multi-user.target.wants/xe-linux-distribution.service": Link(
            "/usr/lib/systemd/system/xe-linux-distribution.service"
        ),
        "/etc/systemd/system/multi-user.target.wants/xen-guest-agent.service": Link(
            "/usr/lib/systemd/system/xen-guest-agent.service"
        ),
        "/etc/systemd/system/multi-user.target.wants/sshd.service": Link(
            "/usr/lib/systemd/system/sshd.service"
        ),
        "/etc/rc.d/rc3.d/S13xe-linux-distribution": Link("../init.d/xe-linux-distribution"),
        "/etc/rc.d/rc0.d/K87xe-linux-distribution": Link("../init.d/xe-linux-distribution"),
        "/usr/lib/systemd/system/xe-linux-distribution.service": "[Unit]\n",
    }
    guest = MemoryGuest(files)
    changes = cleanup.STEP.plan(
        StepContext(
            facts=grub2_facts(
                selinux="disabled", distro="centos", family="redhat", package_format="rpm"
            ),
            devmap=DeviceMap.default(1),
            guest=guest,
        )
    )
    assert sorted(c.path for c in changes) == [
        "/etc/rc.d/rc0.d/K87xe-linux-distribution",
        "/etc/rc.d/rc3.d/S13xe-linux-distribution",
        "/etc/systemd/system/multi-user.target.wants/xe-linux-distribution.service",
        "/etc/systemd/system/multi-user.target.wants/xen-guest-agent.service",
    ]
    guest.apply(changes)
    assert "/etc/systemd/system/multi-user.target.wants/sshd.service" in guest.files
    assert "/usr/lib/systemd/system/xe-linux-distribution.service" in guest.files


# -- kernel arguments the guest booted with on Xen ------------------------------
PACKAGED_DEFAULTS = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'


def _defaults_after(ctx):
    changes = kernel_arguments.STEP.plan(ctx)
    return changes[0].after if changes else None


def test_dom0_kernel_arguments_carry_into_grub_without_the_xen_ones():
    """xen-tools' config: root = '/dev/xvda2 ro', extra = 'elevator=noop',
    plus the consoles an administrator added."""
    facts = debian_facts(bootloader="grub2", grub_cfg="/boot/grub/grub.cfg")
    ctx = ctx_for(
        facts,
        {"/etc/default/grub": PACKAGED_DEFAULTS},
        boot_args=(
            "root=/dev/xvda2 ro elevator=noop console=hvc0 xencons=tty clocksource=xen "
            "quiet resume=/dev/xvda1"
        ),
    )
    after = _defaults_after(ctx)
    assert (
        'GRUB_CMDLINE_LINUX="elevator=noop resume=/dev/vda1 console=tty0 console=ttyS0"' in after
    )
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in after  # not added twice
    assert 'GRUB_TERMINAL="console serial"' in after  # the Xen console moved to serial


def test_pygrub_menu_lst_arguments_carry_when_grub2_is_configured_first():
    menu = (
        "default 1\ntimeout 2\n"
        "title old\n root (hd0,0)\n kernel /boot/vmlinuz-old root=/dev/xvda2 ro\n"
        "title Debian\n root (hd0,0)\n"
        " kernel /boot/vmlinuz-6.1 root=/dev/xvda2 ro elevator=noop nomodeset\n"
        " initrd /boot/initrd.img-6.1\n"
    )
    facts = debian_facts(
        bootloader="grub2", grub_cfg="/boot/grub/grub.cfg", legacy_menu="/boot/grub/menu.lst"
    )
    files = {"/etc/default/grub": PACKAGED_DEFAULTS, "/boot/grub/menu.lst": menu}
    assert 'GRUB_CMDLINE_LINUX="elevator=noop nomodeset"' in _defaults_after(ctx_for(facts, files))
    # once grub.cfg exists, GRUB 2 is what booted: menu.lst is history
    files["/boot/grub/grub.cfg"] = "menuentry x {}\n"
    assert _defaults_after(ctx_for(facts, files)) is None


def test_no_domain_arguments_no_change():
    facts = debian_facts(bootloader="grub2", grub_cfg="/boot/grub/grub.cfg")
    assert _defaults_after(ctx_for(facts, {"/etc/default/grub": PACKAGED_DEFAULTS})) is None
    ctx = ctx_for(facts, {"/etc/default/grub": PACKAGED_DEFAULTS}, boot_args="root=/dev/xvda2 ro")
    assert _defaults_after(ctx) is None


def test_pv_guest_without_a_console_argument_gets_the_serial_console():
    """A PV guest's kernel console was Xen's hvc0 with no console= saying
    so (xen-tools' menu.lst names none): on KVM that is the serial port."""
    menu = (
        "default 0\ntitle Debian\n root (hd0,0)\n"
        " kernel /boot/vmlinuz-6.1 root=/dev/xvda2 ro elevator=noop\n"
    )
    facts = debian_facts(
        bootloader="grub2", grub_cfg="/boot/grub/grub.cfg", legacy_menu="/boot/grub/menu.lst"
    )
    files = {"/etc/default/grub": PACKAGED_DEFAULTS, "/boot/grub/menu.lst": menu}
    after = _defaults_after(ctx_for(facts, files, xen_pv=True))
    assert 'GRUB_CMDLINE_LINUX="elevator=noop console=tty0 console=ttyS0"' in after
    assert 'GRUB_TERMINAL="console serial"' in after
    # a console the guest set itself is kept; a guest not known to be PV is left alone
    files["/etc/default/grub"] = PACKAGED_DEFAULTS.replace('="quiet"', '="quiet console=tty1"')
    assert "console=ttyS0" not in _defaults_after(ctx_for(facts, files, xen_pv=True))
    files["/etc/default/grub"] = PACKAGED_DEFAULTS
    assert "console=" not in _defaults_after(ctx_for(facts, files))
