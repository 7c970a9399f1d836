"""Domain type, <os>, boot loader, features and the emulator (X1-X4)."""

import uuid

from .model import sub

XEN_MACHINES = ("xenpv", "xenfv", "xenpvh")
XEN_LOADERS = ("hvmloader",)


def to_kvm(domain, ctx):
    root = domain.root
    if "id" in root.attrib:
        # the running domain's number on the Xen host, meaningless here
        del root.attrib["id"]
    root.set("type", ctx.virt_type)
    for tag in ("bootloader", "bootloader_args"):
        for el in root.findall(tag):
            root.remove(el)
    os_el = root.find("os")
    if os_el is None:
        os_el = sub(root, "os")
    type_el = os_el.find("type")
    if type_el is None:
        type_el = sub(os_el, "type", index=0)
    if (type_el.text or "").strip() != "hvm":
        type_el.text = "hvm"
    if not type_el.get("arch"):
        type_el.set("arch", ctx.arch)
    if type_el.get("machine") in XEN_MACHINES:
        del type_el.attrib["machine"]
    for el in list(os_el):
        is_xen_loader = el.tag == "loader" and any(x in (el.text or "") for x in XEN_LOADERS)
        if (
            el.tag in ("kernel", "initrd", "cmdline", "root") and not ctx.direct_kernel
        ) or is_xen_loader:
            os_el.remove(el)
    if ctx.direct_kernel:
        for tag, value in (
            ("kernel", ctx.direct_kernel.get("kernel")),
            ("initrd", ctx.direct_kernel.get("initrd")),
            ("cmdline", ctx.direct_kernel.get("cmdline")),
        ):
            if value:
                el = os_el.find(tag)
                if el is None:
                    el = sub(os_el, tag)
                el.text = value
    elif os_el.find("boot") is None:
        sub(os_el, "boot", {"dev": "hd"})
    features = root.find("features")
    if features is None:
        features = sub(root, "features", index=list(root).index(os_el) + 1)
    for feat in ("acpi", "apic"):
        if features.find(feat) is None:
            sub(features, feat)
    devices = domain.devices
    emulator = devices.find("emulator")
    if emulator is None:
        emulator = sub(devices, "emulator", index=0)
    if (emulator.text or "") != ctx.emulator:
        emulator.text = ctx.emulator
    if ctx.new_name:
        name = root.find("name")
        if name is None:
            name = sub(root, "name", index=0)
        name.text = ctx.new_name
        uuid_el = root.find("uuid")
        if uuid_el is None:
            uuid_el = sub(root, "uuid", index=1)
        uuid_el.text = str(uuid.uuid4())
