"""The UEFI firmware QEMU on this host has, from its firmware descriptors.

QEMU's packages describe each firmware build in a JSON file
(docs/interop/firmware.json in QEMU's tree); libvirt's firmware='efi'
chooses among the same files. Read by -o local (is there a firmware for
the domain to ask for?) and by the boot check (which files to boot with).
"""

import glob
import json
import os
from dataclasses import dataclass

# where libvirt looks for them, the administrator's first
DESCRIPTOR_DIRS = ("/etc/qemu/firmware", "/usr/share/qemu/firmware")
HINT = "install the UEFI firmware for QEMU (Debian and Ubuntu: ovmf; RHEL, SUSE: edk2-ovmf)"


@dataclass
class UefiFirmware:
    description: str
    code: str  # the executable flash image
    vars_template: str  # an empty variable store, copied for each guest
    secure_boot: bool


def descriptors(dirs=DESCRIPTOR_DIRS):
    """Every readable descriptor, in the order QEMU and libvirt prefer them."""
    found = {}
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.json"))):
            # a file of the same name in an earlier directory overrides it
            found.setdefault(os.path.basename(path), path)
    for name in sorted(found):
        try:
            with open(found[name]) as f:
                desc = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(desc, dict):
            yield found[name], desc


def find(arch="x86_64", secure_boot=False, dirs=DESCRIPTOR_DIRS):
    """A UEFI flash firmware for `arch` with or without secure boot whose
    files exist, or None."""
    for path, desc in descriptors(dirs):
        if "uefi" not in (desc.get("interface-types") or []):
            continue
        targets = desc.get("targets") or []
        if not any(isinstance(t, dict) and t.get("architecture") == arch for t in targets):
            continue
        features = desc.get("features") or []
        if ("secure-boot" in features) != secure_boot or "enrolled-keys" in features:
            continue
        mapping = desc.get("mapping") or {}
        if mapping.get("device") != "flash":
            continue
        code = (mapping.get("executable") or {}).get("filename", "")
        template = (mapping.get("nvram-template") or {}).get("filename", "")
        if code and template and os.path.isfile(code) and os.path.isfile(template):
            return UefiFirmware(str(desc.get("description") or path), code, template, secure_boot)
    return None
