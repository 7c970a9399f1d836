"""The libvirt domain XML: parsed, converted from Xen to KVM, defined.

    model.py      the domain as a parsed tree (safe parsing); unknown elements kept
    convert.py    Xen -> KVM, with one module per kind: osboot.py, disk.py,
                  interface.py, console.py
    networks.py   --bridge/--network/--mac and the virt-v2v.conf map file
    xlcfg.py      native xl.cfg / xm files, parsed without being evaluated
    define.py     libvirt: read a source domain, define the result
    marker.py     guestfix's record of a migration in the domain's <metadata>

Imports: core/; disks.image only (a disk's format, read from its header).
"""
