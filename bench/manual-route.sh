#!/bin/bash
# The guide's manual route, scripted as an administrator would type it for
# the Debian sample guests: copy the disk into the KVM image directory and
# verify it with md5sum (B2), edit the guest with guestfish (G1-G11 as they
# apply to Debian: initramfs module list, fstab, GRUB defaults, device.map,
# getty links, securetty, initrd and grub.cfg regeneration, boot code for
# the pygrub guest), edit the domain XML (X1-X7) and `virsh define` it (R2).
#
# usage: manual-route.sh DOMAIN.xml IMAGE_DIR NEW_NAME
# It is a benchmark baseline: it names the sample's disk and kernel layout
# (one disk, xvda) and does none of guestfix's checks.
set -euo pipefail
src_xml=$1 image_dir=$2 name=$3
src_disk=$(sed -n "s/.*<source file='\([^']*\)'.*/\1/p" "$src_xml" | head -1)
disk="$image_dir/$name-vda.img"

# B2: copy, then md5sum of source and copy must agree
cp --sparse=always "$src_disk" "$disk"
read -r sum_src _ < <(md5sum "$src_disk")
read -r sum_copy _ < <(md5sum "$disk")
[ "$sum_src" = "$sum_copy" ] || { echo "md5 mismatch" >&2; exit 1; }

# G1-G11 inside the guest, with guestfish on the copy
guestfish -a "$disk" -i <<'FISH'
write-append /etc/initramfs-tools/modules "virtio_blk\nvirtio_pci\nvirtio_net\nvirtio_balloon\n"
command "sed -i -e /xen-blkfront/d -e /xen-netfront/d /etc/initramfs-tools/modules"
command "sed -i s,/dev/xvd,/dev/vd,g /etc/fstab"
command "sed -i -e s,/dev/xvd,/dev/vd,g -e s/console=hvc0/console=ttyS0/g -e s/console=xvc0/console=ttyS0/g /etc/default/grub"
command "sed -i s,/dev/xvd,/dev/vd,g /boot/grub/device.map"
glob rm-f /etc/systemd/system/getty.target.wants/*hvc0*
glob rm-f /etc/systemd/system/getty.target.wants/*xvc0*
command "sed -i -e s/^xvc0/ttyS0/ -e s/^hvc0/ttyS0/ /etc/securetty"
command "update-initramfs -u"
command "grub-install --target=i386-pc /dev/sda"
command "update-grub"
FISH

# X1-X7 on the domain XML, then R2
new_xml="$image_dir/$name.xml"
python3 - "$src_xml" "$new_xml" "$name" "$disk" <<'PY'
import sys
import xml.etree.ElementTree as ET
src, dst, name, disk = sys.argv[1:]
tree = ET.parse(src)
dom = tree.getroot()
dom.set("type", "qemu")                                    # X1 (no usable KVM here)
dom.find("name").text = name
for tag in ("uuid", "bootloader", "bootloader_args"):      # X2
    for e in dom.findall(tag):
        dom.remove(e)
os_el = dom.find("os")                                     # X3
os_el.find("type").text = "hvm"
os_el.find("type").attrib = {"arch": "x86_64", "machine": "pc"}
ET.SubElement(os_el, "boot", dev="hd")
devices = dom.find("devices")
for e in devices.findall("emulator"):                      # X4
    devices.remove(e)
for d in devices.findall("disk"):                          # X5
    d.find("driver").attrib = {"name": "qemu", "type": "raw"}
    d.find("source").set("file", disk)
    d.find("target").attrib = {"dev": "vda", "bus": "virtio"}
for nic in devices.findall("interface"):                   # X6, X8
    for tag in ("script", "target"):
        for e in nic.findall(tag):
            nic.remove(e)
    nic.set("type", "network")
    nic.find("source").attrib = {"network": "default"}
    ET.SubElement(nic, "model", type="virtio")
for tag in ("console", "serial", "input"):                 # X7
    for e in devices.findall(tag):
        devices.remove(e)
ET.SubElement(devices, "serial", type="pty")
ET.SubElement(devices, "console", type="pty")
ET.SubElement(devices, "input", type="mouse", bus="ps2")
ET.SubElement(devices, "memballoon", model="virtio")
tree.write(dst)
PY
virsh -q define "$new_xml" >/dev/null
