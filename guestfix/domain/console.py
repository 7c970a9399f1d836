"""Consoles, input, balloon, video and Xen-only devices (X7).

Xen's console and serial entries go; a pty serial port on ttyS0 with a
console on it takes their place (the fixer points the guest's getty and
kernel console there). Input moves off the xen bus, a USB tablet is added,
the balloon becomes virtio, graphics stay.
"""

from .model import sub


def to_kvm(domain, ctx):
    devices, done = domain.devices, []
    for tag in ("console", "serial"):
        for el in devices.findall(tag):
            devices.remove(el)
            done.append(f"<{tag}> {el.get('type', '')} removed")
    serial = sub(devices, "serial", {"type": "pty"})
    sub(serial, "target", {"port": "0"})
    console = sub(devices, "console", {"type": "pty"})
    sub(console, "target", {"type": "serial", "port": "0"})
    done.append("serial console on ttyS0 (pty)")
    has_tablet = False
    for el in devices.findall("input"):
        if el.get("bus") == "xen":
            el.set("bus", "ps2")
            done.append(f"input {el.get('type')} bus xen -> ps2")
        has_tablet = has_tablet or el.get("type") == "tablet"
        for addr in el.findall("address"):
            el.remove(addr)
    if not has_tablet:
        sub(devices, "input", {"type": "tablet", "bus": "usb"})
        done.append("usb tablet added")
    for el in devices.findall("memballoon"):
        devices.remove(el)
    sub(devices, "memballoon", {"model": "virtio"})
    done.append("memballoon virtio")
    for el in devices.findall("video"):
        model = el.find("model")
        if model is not None and model.get("type") == "xen":
            model.set("type", "vga")
            done.append("video model xen -> vga")
    for el in devices.findall("controller"):
        if el.get("type") == "xenbus":
            devices.remove(el)
            done.append("xenbus controller removed")
    return done
