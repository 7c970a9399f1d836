"""Xen domain -> KVM domain, applied to the parsed tree (SPEC X1-X9).

Each device family has its own module with a `to_kvm(domain, ctx)` that
edits the tree; elements none of them knows survive untouched.
"""

import difflib
import os
import platform
import shutil
from dataclasses import dataclass, field

from ..core import fsutil
from ..core.errors import InputError
from ..disks.image import open_disk
from . import allowlist, console, disk, firmware, interface, osboot
from .networks import NetworkMap

XEN_TYPES = ("xen", "xenpv", "xenfv")


@dataclass
class ConvertOptions:
    virt_type: str = "kvm"  # 'qemu' for hosts without KVM
    emulator: str = ""  # explicit --emulator
    output_uri: str = ""  # -oc: ask this libvirt for its emulator
    new_name: str = ""  # -on
    output_dir: str = ""  # -os DIR: where the disks will live
    network_map: NetworkMap = field(default_factory=NetworkMap)
    allow_backing: bool = False
    direct_kernel: dict = None  # {kernel, initrd, cmdline} if chosen by the fixer
    # xen target -> (path, format) of disks already written elsewhere (migrate)
    disk_overrides: dict = field(default_factory=dict)
    check_disks: bool = True
    keep_elements: tuple = ()  # --keep-element: kinds the user vouches for (allowlist.py)


@dataclass
class ConvertContext:
    virt_type: str
    arch: str
    emulator: str
    new_name: str
    output_dir: str
    network_map: NetworkMap
    disk_formats: dict
    direct_kernel: dict
    disk_paths: dict


def default_emulator(arch, output_uri=""):
    if output_uri:
        found = emulator_from_libvirt(output_uri, arch)
        if found:
            return found
    for candidate in (
        "/usr/bin/qemu-kvm",
        "/usr/libexec/qemu-kvm",
        f"/usr/bin/qemu-system-{arch}",
    ):
        if os.path.exists(candidate):
            return candidate
    return shutil.which(f"qemu-system-{arch}") or f"/usr/bin/qemu-system-{arch}"


def emulator_from_libvirt(uri, arch):
    """The emulator the target libvirt reports for this architecture."""
    import xml.etree.ElementTree as ET

    from .define import connect

    conn = connect(uri)
    try:
        caps = ET.fromstring(conn.getCapabilities())
    finally:
        conn.close()
    for guest in caps.findall("guest"):
        a = guest.find("arch")
        if a is not None and a.get("name") == arch and guest.findtext("os_type") == "hvm":
            return (a.findtext("emulator") or "").strip()
    return ""


def disk_formats(domain, opts):
    """Xen target -> real image format, read from each image's header."""
    formats = {}
    for d in domain.guest_disks():
        if d.target in opts.disk_overrides:
            formats[d.target] = opts.disk_overrides[d.target][1]
            continue
        if d.source_type == "block":
            formats[d.target] = "raw"
            continue
        if not opts.check_disks:
            formats[d.target] = d.driver_type if d.driver_type in ("raw", "qcow2") else "raw"
            continue
        image = open_disk(domain.resolve_source(d.source), allow_backing=opts.allow_backing)
        formats[d.target] = image.format
    return formats


def convert(domain, opts):
    """Convert the domain's tree in place; returns what was dropped from
    it (allowlist.py), each described for the report."""
    if domain.type not in XEN_TYPES:
        raise InputError(
            f"{domain.path or 'the domain'} is not a Xen domain (type {domain.type or 'missing'})"
        )
    if not domain.name:
        raise InputError(f"{domain.path or 'the domain'} has no <name>")
    type_el = domain.root.find("./os/type")
    arch = (type_el.get("arch") if type_el is not None else None) or platform.machine()
    if arch not in ("x86_64", "i686"):
        arch = "x86_64"
    ctx = ConvertContext(
        virt_type=opts.virt_type,
        arch=arch,
        emulator=opts.emulator or default_emulator(arch, opts.output_uri),
        new_name=opts.new_name,
        output_dir=opts.output_dir,
        network_map=opts.network_map,
        disk_formats=disk_formats(domain, opts),
        direct_kernel=opts.direct_kernel,
        disk_paths={t: path for t, (path, _fmt) in opts.disk_overrides.items()},
    )
    for module in (osboot, firmware, disk, interface, console):
        module.to_kvm(domain, ctx)
    return allowlist.filter_domain(domain.root, opts.keep_elements)


def unified_diff(before, after, name="domain.xml"):
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"xen/{name}",
            tofile=f"kvm/{name}",
        )
    )


def write_atomically(path, text):
    """Nothing at `path` changes unless the whole text is written; a failure
    is the user's problem to fix (a full disk, a read-only directory)."""
    try:
        fsutil.write_atomically(path, text)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
