"""Hostile guest content, fixed for real: a copy of the SLES 15 layout (c15)
given an fstab with tabs, comments, odd spacing, a non-UTF-8 byte and a
mount point spelled as shell code, a dracut drop-in whose *file name* is
shell code, and a securetty that is an absolute symlink. fix must handle
all of it, keep every byte it does not mean to change, and run nothing."""

import os

import pytest
from cases import MARKER
from conftest import REPO, build_sample, copy_sample, disk_paths, guest_files, guestfix

pytestmark = pytest.mark.slow

# a file name cannot hold "/": this one would create a file in the cwd
LOCAL_MARKER = "guestfix-corpus-pwned"
SHELL_NAME = f"/etc/dracut.conf.d/20-$(touch {LOCAL_MARKER}).conf"
FSTAB = (
    b"# /etc/fstab \xff written on Xen\n"
    b"\t/dev/xvda1\t/\t ext4   defaults\t0 1   # root, tab-separated\n"
    b"  #/dev/xvdb1 /old ext4 defaults 0 0\n"
    b"UUID=0a6c3b2e-6f0c-4a4e-9d59-3c1b3c4d5e6f  swap  swap  defaults  0 0\n"
    b"/dev/xvda2 /mnt/$(touch${IFS}" + MARKER.encode() + b") ext4 noauto 0 0\n"
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, state_dir):
    import guestfs

    built = build_sample("c15")
    xml = copy_sample(built, str(tmp_path_factory.mktemp("hostile")))
    disks = disk_paths(xml)
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        g.add_drive_opts(disks[0], format="raw")
        g.launch()
        g.mount("/dev/sda1", "/")
        g.write("/etc/fstab", FSTAB)
        g.write(SHELL_NAME, b'add_drivers+=" xen_blkfront "\n')
        g.write("/etc/securetty.real", b"console\nxvc0\n\xe9t\xe9\n")
        g.rm("/etc/securetty")
        g.ln_s("/etc/securetty.real", "/etc/securetty")
        g.shutdown()
    finally:
        g.close()
    return {"disks": disks, "packages": os.path.join(os.path.dirname(built), "packages")}


def test_hostile_guest_is_fixed_and_nothing_runs(hostile):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    r = guestfix("fix", "--yes", "--json", "--package", hostile["packages"], *hostile["disks"])
    assert r.returncode == 0, r.stderr
    host_markers = [MARKER, f"/{LOCAL_MARKER}", os.path.join(REPO, LOCAL_MARKER)]
    assert not any(os.path.exists(m) for m in host_markers)
    guest_markers = [MARKER, f"/{LOCAL_MARKER}", f"/etc/dracut.conf.d/{LOCAL_MARKER}"]
    files = guest_files(
        hostile["disks"], ["/etc/fstab", SHELL_NAME, "/etc/securetty.real"] + guest_markers
    )
    assert all(files[m] is None for m in guest_markers)
    fstab = files["/etc/fstab"]
    expected = (
        FSTAB.replace(b"/dev/xvda1\t/", b"/dev/vda1\t/")
        .replace(b"/dev/xvda2 /mnt", b"/dev/vda2 /mnt")
        .decode("utf-8", "replace")
    )
    # only the device names changed; the comment (Xen-era) is left as written
    assert fstab == expected
    assert "virtio_blk" in files[SHELL_NAME] and "xen_blkfront" not in files[SHELL_NAME]
    # the symlink was followed inside the guest: its target now says ttyS0
    assert files["/etc/securetty.real"].splitlines()[:2] == ["console", "ttyS0"]
