"""Disks (X5): qemu driver with the image's real format, virtio targets in
domain order, cdroms and floppies kept on buses KVM has."""

import os

from ..core.devnames import DeviceMap
from .model import sub

XEN_DRIVER_NAMES = ("file", "tap", "tap2", "phy", "tapdisk")


def merge_partition_images(domain, groups):
    """The <disk> elements of partition images assembled into one disk
    become one element: the first member's, with the whole disk's target
    (xvda2 + xvda1 -> xvda; its source is set by the conversion). `groups`
    maps each whole-disk target to its members' targets."""
    devices = domain.devices
    by_target = {d.target: d.element for d in domain.disks() if d.device == "disk"}
    for whole, members in groups.items():
        elements = [by_target[m] for m in members]
        first = next(e for e in devices.findall("disk") if any(e is m for m in elements))
        first.find("target").set("dev", whole)
        for el in elements:
            if el is not first:
                devices.remove(el)


def to_kvm(domain, ctx):
    hard = [d for d in domain.disks() if d.device == "disk"]
    devmap = DeviceMap([d.target for d in hard])
    for d in hard:
        el = d.element
        driver = el.find("driver")
        if driver is None:
            driver = sub(el, "driver", index=0)
        fmt = ctx.disk_formats.get(d.target) or ("raw" if d.source_type == "block" else "")
        if driver.get("name") != "qemu":
            driver.set("name", "qemu")
        if fmt and driver.get("type") != fmt:
            driver.set("type", fmt)
        target = el.find("target")
        new_dev = devmap.rename(d.target)
        target.set("dev", new_dev)
        target.set("bus", "virtio")
        if d.target in ctx.disk_paths:
            # written elsewhere by migrate: a file there, whatever it was on Xen
            d.set_file_source(ctx.disk_paths[d.target])
        elif d.source_type == "file":
            # libvirt wants absolute paths; -os DIR moves the disks there.
            source = el.find("source")
            if ctx.output_dir:
                new_path = os.path.join(ctx.output_dir, os.path.basename(d.source))
            else:
                new_path = os.path.abspath(domain.resolve_source(d.source))
            if new_path != d.source:
                source.set("file", new_path)
        for addr in el.findall("address"):
            el.remove(addr)
    # cdroms and floppies keep their kind; Xen's bus is replaced.
    sata = 0
    for d in domain.disks():
        if d.device == "disk":
            continue
        target = d.element.find("target")
        if target is None:
            continue
        if d.device == "cdrom" and target.get("bus") in ("xen", "ide", None):
            new_dev = "sd" + chr(ord("a") + sata)
            sata += 1
            target.set("dev", new_dev)
            target.set("bus", "sata")
        elif d.device == "floppy":
            target.set("bus", "fdc")
        driver = d.element.find("driver")
        if driver is not None and driver.get("name") in XEN_DRIVER_NAMES:
            driver.set("name", "qemu")
        for addr in d.element.findall("address"):
            d.element.remove(addr)
