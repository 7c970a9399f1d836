"""The libvirt domain XML side of guestfix."""
