"""guestfix: make stopped Xen guests work as libvirt/KVM guests."""

__version__ = "0.1.0"
