"""Consoles, input, balloon, video and Xen-only devices (X7).

Xen's console and serial entries go; a pty serial port on ttyS0 with a
console on it takes their place (the fixer points the guest's getty and
kernel console there). Input moves off the xen bus, a USB tablet is added,
the balloon becomes virtio, graphics stay.
"""

from .model import sub


def to_kvm(domain, ctx):
    devices = domain.devices
    for tag in ("console", "serial"):
        for el in devices.findall(tag):
            devices.remove(el)
    serial = sub(devices, "serial", {"type": "pty"})
    sub(serial, "target", {"port": "0"})
    console = sub(devices, "console", {"type": "pty"})
    sub(console, "target", {"type": "serial", "port": "0"})
    has_tablet = False
    for el in devices.findall("input"):
        if el.get("bus") == "xen":
            el.set("bus", "ps2")
        has_tablet = has_tablet or el.get("type") == "tablet"
        for addr in el.findall("address"):
            el.remove(addr)
    if not has_tablet:
        sub(devices, "input", {"type": "tablet", "bus": "usb"})
    for el in devices.findall("memballoon"):
        devices.remove(el)
    sub(devices, "memballoon", {"model": "virtio"})
    for el in devices.findall("video"):
        model = el.find("model")
        if model is not None and model.get("type") == "xen":
            model.set("type", "vga")
    for el in devices.findall("controller"):
        if el.get("type") == "xenbus":
            devices.remove(el)
