"""Direct kernel boot: the alternative where no boot code can be installed.

A partitionless disk (or GPT without a BIOS boot partition) cannot carry
GRUB for BIOS. Such a guest still boots on KVM if libvirt loads its kernel
and initrd directly: `fix --direct-boot DIR` copies the fixed guest's boot
kernel and initrd out to DIR with the kernel command line in a JSON file,
and `guestfix xml --direct-boot DIR/NAME-direct-boot.json` puts them in
the domain's <os>.
"""

import json
import os
import re
import shutil
import tempfile

from ..core.errors import InputError, UnsupportedGuestError
from . import grubdefaults


def kernel_cmdline(session, facts):
    """root=UUID=... ro plus the guest's own (already fixed) GRUB arguments."""
    root_dev = facts.mountpoints.get("/")
    uuid = session.filesystem_uuid(root_dev) if root_dev else ""
    args = [f"root=UUID={uuid}" if uuid else "", "ro"]
    values = grubdefaults.values(session.read_text(grubdefaults.PATH))
    args += [values.get("GRUB_CMDLINE_LINUX", ""), values.get("GRUB_CMDLINE_LINUX_DEFAULT", "")]
    return " ".join(a for a in args if a)


class DirectBootExport:
    """Copies are staged next to DIR and moved into place only by
    `finish()`, after the disks were committed."""

    def __init__(self, dest_dir):
        self.dest_dir = os.path.abspath(dest_dir)
        self.staging = None
        self.files = {}

    def stage(self, session, facts):
        kernel = facts.kernel(facts.boot_kernel)
        if kernel is None or not kernel.initrd:
            raise UnsupportedGuestError("no boot kernel with an initrd to export for direct boot")
        os.makedirs(self.dest_dir, exist_ok=True)
        self.staging = tempfile.mkdtemp(prefix=".guestfix-direct-", dir=self.dest_dir)
        name = re.sub(r"[^\w.-]", "_", facts.hostname or "guest")
        kernel_file = f"{name}-vmlinuz-{kernel.version}"
        initrd_file = f"{name}-initrd-{kernel.version}"
        session.copy_out(kernel.vmlinuz, os.path.join(self.staging, kernel_file))
        session.copy_out(kernel.initrd, os.path.join(self.staging, initrd_file))
        info = {
            "kernel": os.path.join(self.dest_dir, kernel_file),
            "initrd": os.path.join(self.dest_dir, initrd_file),
            "cmdline": kernel_cmdline(session, facts),
        }
        json_file = f"{name}-direct-boot.json"
        with open(os.path.join(self.staging, json_file), "w") as f:
            json.dump(info, f, indent=1)
        self.files = {
            n: os.path.join(self.dest_dir, n) for n in (kernel_file, initrd_file, json_file)
        }
        return info

    def finish(self):
        for name, target in self.files.items():
            os.replace(os.path.join(self.staging, name), target)
        self.discard()
        return self.files

    def discard(self):
        if self.staging:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None


def load(path):
    """The JSON written by `fix --direct-boot`, checked."""
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a direct-boot description ({e})") from None
    for key in ("kernel", "initrd"):
        if not isinstance(info.get(key), str) or not os.path.isfile(info[key]):
            raise InputError(f"{path}: the {key} file it names is missing")
    return info
