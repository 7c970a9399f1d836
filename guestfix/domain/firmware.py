"""The guest's firmware: BIOS or UEFI, read from the Xen domain and asked of
the KVM host by name, never by a Xen path.

Xen says UEFI in several ways: xl.cfg `bios = "ovmf"` or `firmware =
"ovmf"|"uefi"` (xlcfg.py turns both into the loader libvirt's libxl driver
writes, `<loader type='pflash'>/usr/lib/xen/boot/ovmf.bin`), a libvirt Xen
domain's `<loader>` naming an OVMF image, or `<os firmware='efi'>`. A Xen
path means nothing on the KVM host, so the KVM domain gets `<os
firmware='efi'>` and libvirt picks the host's OVMF from its firmware
descriptors; its NVRAM starts empty, since Xen keeps the guest's UEFI
variables with the domain (fix/steps/uefi_boot.py makes the guest's boot
loader findable without them).

Secure boot: Xen's own OVMF is built without it, so a Xen UEFI guest never
booted with it and the KVM domain asks for firmware without it (with it,
libvirt may pick a build with Microsoft's keys enrolled, and a GRUB that
is not signed stops). Only a source that says secure boot (`<loader
secure='yes'>`) keeps it, and its guest must have a signed chain (shim).
"""

from dataclasses import dataclass

from .model import sub

XEN_OVMF = "/usr/lib/xen/boot/ovmf.bin"
# xl.cfg's firmware values (xl.cfg(5), Xen 4.11+); "bios" is the device
# model's default, SeaBIOS with qemu-xen
XL_UEFI = ("ovmf", "uefi")
XL_BIOS = ("bios", "seabios", "rombios")


@dataclass(frozen=True)
class Firmware:
    kind: str  # "efi" or "bios"
    secure_boot: bool = False
    source: str = ""  # what in the Xen domain said so, for the report

    @property
    def efi(self):
        return self.kind == "efi"


def from_xl(cfg):
    """'efi', 'bios' or '' (not said) from an xl.cfg's bios/firmware keys."""
    for key in ("firmware", "bios"):
        value = str(cfg.get(key, "")).strip().lower()
        if value in XL_UEFI:
            return "efi"
        if value in XL_BIOS:
            return "bios"
    return ""


def _is_uefi_loader(loader):
    text = (loader.text or "").lower()
    return loader.get("type") == "pflash" or "ovmf" in text or "efi" in text


def of(domain):
    """The firmware the Xen domain boots with."""
    os_el = domain.root.find("os")
    if os_el is None:
        return Firmware("bios")
    if os_el.get("firmware") == "efi":
        return Firmware("efi", _secure(os_el), "<os firmware='efi'>")
    loader = os_el.find("loader")
    if loader is not None and _is_uefi_loader(loader):
        return Firmware(
            "efi", loader.get("secure") == "yes", f"<loader> {(loader.text or '').strip()}"
        )
    return Firmware("bios")


def _secure(os_el):
    loader = os_el.find("loader")
    if loader is not None and loader.get("secure") == "yes":
        return True
    return any(
        f.get("name") == "secure-boot" and f.get("enabled") == "yes"
        for f in os_el.findall("./firmware/feature")
    )


def to_kvm(domain, ctx):
    """UEFI guests: `<os firmware='efi'>` for the host's OVMF, an empty NVRAM,
    secure boot only where the source had it. BIOS guests: Xen's loaders
    (hvmloader) go; the KVM default is SeaBIOS."""
    fw = of(domain)
    os_el = domain.root.find("os")
    if os_el is None:
        return
    for tag in ("loader", "nvram", "firmware"):
        for el in os_el.findall(tag):
            os_el.remove(el)
    if not fw.efi:
        if "firmware" in os_el.attrib:
            del os_el.attrib["firmware"]
        return
    os_el.set("firmware", "efi")
    # <firmware> follows <type> in libvirt's schema
    index = 1 if os_el.find("type") is not None else 0
    features = sub(os_el, "firmware", index=index)
    sub(features, "feature", {"enabled": "yes" if fw.secure_boot else "no", "name": "secure-boot"})
    if fw.secure_boot:
        # libvirt requires SMM for secure boot
        feats = domain.root.find("features")
        if feats is not None and feats.find("smm") is None:
            sub(feats, "smm", {"state": "on"})


def libvirt_has_uefi(conn, arch, virt_type):
    """Whether the KVM host's libvirt offers firmware='efi' for this guest."""
    import xml.etree.ElementTree as ET

    caps = ET.fromstring(conn.getDomainCapabilities(None, arch, None, virt_type, 0))
    return any(
        (v.text or "").strip() == "efi" for v in caps.findall("./os/enum[@name='firmware']/value")
    )


def describe(fw):
    """One line for the report and the log."""
    if not fw.efi:
        return "BIOS"
    secure = "with secure boot" if fw.secure_boot else "without secure boot"
    return (
        f"UEFI ({fw.source}): the KVM host's OVMF {secure}, "
        "an empty variable store (Xen's is not carried)"
    )
