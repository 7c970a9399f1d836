"""VHD (qemu's `vpc`) footers: which program wrote the image, and its size.

qemu sizes a VHD from its CHS geometry unless it knows the creator for one
that writes the true size ("current size"); xapi (creator "caml", from
`xe vdi-export format=vhd` or a file SR) is not one of them, so such a
disk comes out a little short, cutting off the end of its last partition.
qemu's `force_size_calc=current_size` option reads the true size
(disks/image.py gives it in a json: filename).
"""

import struct
from dataclasses import dataclass

COOKIE = b"conectix"
FOOTER = 512
DIFFERENCING = 4  # disk type: a child of another VHD
# creators whose images qemu already sizes by current size (block/vpc.c)
SIZED_BY_QEMU = {b"vpc ", b"win ", b"qem2", b"d2v "}


@dataclass
class Footer:
    creator: str  # the creator application, four characters ("caml": xapi)
    current_size: int  # bytes, what the disk really is
    cylinders: int
    heads: int
    sectors: int
    disk_type: int  # 2 fixed, 3 dynamic, 4 differencing

    @property
    def chs_size(self):
        return self.cylinders * self.heads * self.sectors * 512

    @property
    def short_in_qemu(self):
        """qemu, left to itself, would give this disk fewer bytes than it has."""
        return self.creator.encode() not in SIZED_BY_QEMU and self.chs_size < self.current_size


def read_footer(head):
    """The footer of a dynamic VHD from its first 512 bytes (its copy of
    the footer), or None when they are not one."""
    if len(head) < FOOTER or not head.startswith(COOKIE):
        return None
    creator = head[28:32]
    current_size = struct.unpack(">Q", head[48:56])[0]
    cylinders, heads, sectors = struct.unpack(">HBB", head[56:60])
    disk_type = struct.unpack(">I", head[60:64])[0]
    return Footer(creator.decode("latin-1"), current_size, cylinders, heads, sectors, disk_type)
