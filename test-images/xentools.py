"""Xen PV guests made by Debian's own xen-tools, as a user makes them.

`xen-create-image` (Debian 12's xen-tools 4.9.2) runs here without Xen:
it only needs debootstrap, loop mounts and the mirror. For every Debian
release since buster it forces pygrub (distributions.conf), so its hooks
install linux-image-amd64 and the grub-legacy package (GRUB 0.97, whose
update-grub writes an automagic menu.lst with `kopt=root=/dev/xvda2 ro
elevator=noop`) next to GRUB 2's grub-common, but no GRUB 2 platform. The
xl.cfg it writes has `bootloader = 'pygrub'`, `file:` disks, `root`,
`dhcp = 'dhcp'` and the MAC in upper case. Nothing here edits the guest:
what the tests get is the tool's own output.

Layouts (the defaults otherwise; --dhcp, --size=2G --swap=256M to keep the
images small, --nohosts so the builder's /etc/hosts is left alone):
  xt12   bookworm: disk.img (ext4, xvda2) and swap.img (xvda1)
  xt11   bullseye, the same
  xt12s  bookworm --partitions=sample-server: eight images, xvda1 root
         (ext3), xvda2 swap, xvda3-8 /home /opt /tmp /usr /var /var/tmp on xfs

The images, the xl.cfg (its paths pointing at the cache directory) and
packages/ (the .deb files that give the guest GRUB 2, grub-pc and what it
needs beyond grub-common, at the guest's own grub-common version, for
`--package`) are kept in the image cache like the other layouts.
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile

SIZES = ["--size=2G", "--swap=256M"]
LAYOUTS = {
    "xt12": {"dist": "bookworm", "options": SIZES},
    "xt11": {"dist": "bullseye", "options": SIZES},
    "xt12s": {"dist": "bookworm", "options": ["--partitions=sample-server"]},
}
# What the guest lacks to boot with GRUB 2 from its own disk: grub-pc and
# the packages of its source that grub-common (installed) does not bring.
GRUB_PC_PACKAGES = ["grub-pc", "grub-pc-bin", "grub2-common"]


def hostname(name):
    return f"xt-{name}"


def create(name, work, mirror, debs, run):
    """xen-create-image into `work`; returns (cfg path, image paths in the
    cfg's order)."""
    spec = LAYOUTS[name]
    host = hostname(name)
    os.makedirs(work, exist_ok=True)
    run(
        [
            "xen-create-image",
            f"--hostname={host}",
            f"--dist={spec['dist']}",
            f"--dir={work}",
            f"--output={work}",
            "--dhcp",
            f"--mirror={mirror}",
            "--nohosts",
            # the .deb files debootstrap and the hooks fetch, kept for the next
            # build (by default they go to, and come from, the host's apt cache)
            f"--cachedir={debs}",
            *spec["options"],
        ]
    )
    cfg = os.path.join(work, f"{host}.cfg")
    with open(cfg) as f:
        images = re.findall(r"'file:([^,']+),", f.read())
    return cfg, images


def keep(cfg, images, outdir, staging):
    """The images and the cfg in `staging`, the cfg naming them where
    `staging` will be renamed to (`outdir`)."""
    with open(cfg) as f:
        text = f.read()
    for path in images:
        shutil.move(path, os.path.join(staging, os.path.basename(path)))
        text = text.replace(f"file:{path},", f"file:{outdir}/{os.path.basename(path)},")
    out = os.path.join(staging, os.path.basename(cfg))
    with open(out, "w") as f:
        f.write(text)
    return out


def installed_version(images, package, run):
    """The version of `package` in the guest's dpkg database, read from
    whichever image holds /var (mounted read-only, one at a time)."""
    for image in images:
        with tempfile.TemporaryDirectory(prefix="xt-mnt-") as mnt:
            if (
                subprocess.run(
                    ["mount", "-o", "ro,loop", image, mnt], capture_output=True
                ).returncode
                != 0
            ):
                continue  # swap
            try:
                for status in ("var/lib/dpkg/status", "lib/dpkg/status"):
                    path = os.path.join(mnt, status)
                    if os.path.exists(path):
                        with open(path) as f:
                            return _status_version(f.read(), package)
            finally:
                run(["umount", mnt])
    raise RuntimeError(f"no dpkg database found in {images}")


def _status_version(text, package):
    for block in text.split("\n\n"):
        if re.search(rf"^Package: {re.escape(package)}$", block, re.M):
            return re.search(r"^Version: (\S+)", block, re.M).group(1)
    raise RuntimeError(f"{package} is not installed in the guest")


def download_grub_pc(images, dest, run):
    """grub-pc and its own packages at the guest's grub-common version,
    fetched with the builder's apt (same mirror and release)."""
    version = installed_version(images, "grub-common", run)
    os.makedirs(dest, exist_ok=True)
    run(["apt-get", "download", *[f"{p}={version}" for p in GRUB_PC_PACKAGES]], cwd=dest)
    return sorted(glob.glob(os.path.join(dest, "*.deb")))


def build(name, work, staging, outdir, mirror, debs, run):
    """The guest `name` in `staging`; returns the path its cfg will have in
    `outdir`."""
    cfg, images = create(name, work, mirror, debs, run)
    if LAYOUTS[name]["dist"] == "bookworm":
        download_grub_pc(images, os.path.join(staging, "packages"), run)
    keep(cfg, images, outdir, staging)
    return os.path.join(outdir, os.path.basename(cfg))
