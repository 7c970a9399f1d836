"""The partition table of a disk that guestfix assembles from pieces.

xen-tools exports each filesystem as a disk of its own (xvda1, xvda2 ...,
up to xvda8 with its sample-server scheme); on KVM they become the
partitions of one disk whose numbers are the ones the guest uses, so
/dev/xvdaN becomes /dev/vdaN for every N. This module decides where each
piece goes and writes the table's bytes; the disk is then served (nbd
pieces plugin) and copied from exactly these bytes, so the fix and the
copy see the same disk.

* Up to 4 partitions: an MBR, as before; a number the guest does not use
  gets a small placeholder (type 0xda, "non-FS data").
* More: GPT, which numbers entries freely (an MBR would need an extended
  partition that renumbers everything from 5 on). BIOS GRUB needs a BIOS
  boot partition there; it takes the first free entry, and sits first on
  the disk, where partitioning tools put it.

Every partition starts on a 1 MiB boundary, which leaves GRUB's usual room
after the MBR; sizes are whole sectors. The result is plain data: tested
by parsing it back with partitions.py and sfdisk.
"""

import struct
import uuid
import zlib
from dataclasses import dataclass, field

SECTOR = 512
MIB = 1024 * 1024
MBR_MAX_PARTITIONS = 4
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
GPT_TABLE_SECTORS = GPT_ENTRIES * GPT_ENTRY_SIZE // SECTOR  # 32
PLACEHOLDER_BYTES = MIB
BIOS_BOOT_BYTES = MIB

# (MBR type byte, GPT type GUID) per kind of partition
TYPES = {
    "linux": (0x83, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
    "swap": (0x82, "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"),
    "placeholder": (0xDA, "8DA63339-0007-60C0-C436-083AC8230908"),  # Linux reserved
    "bios-boot": (None, "21686148-6449-6E6F-744E-656564454649"),
}


@dataclass
class Slot:
    """One partition of the assembled disk."""

    number: int
    kind: str  # linux, swap, placeholder, bios-boot
    offset: int  # bytes from the start of the disk
    length: int  # the piece's own bytes (the partition is rounded up)
    source: object = None  # what fills it (a Disk), None for a placeholder

    @property
    def sectors(self):
        return -(-self.length // SECTOR)


@dataclass
class DiskLayout:
    """Where every piece of an assembled disk lies, and its table."""

    table: str  # msdos or gpt
    size: int
    slots: list = field(default_factory=list)
    head: bytes = b""  # written at offset 0
    tail: bytes = b""  # written at size - len(tail) (GPT's backup)

    def filled(self):
        """The slots with data of their own, in disk order."""
        return [s for s in self.slots if s.source is not None]


def _align(n, to=MIB):
    return -(-n // to) * to


def plan(pieces, disk_id=None):
    """The layout of a disk made of `pieces`: [(number, kind, length,
    source)] with kind linux or swap. Numbers need not be contiguous."""
    numbers = sorted(n for n, _k, _l, _s in pieces)
    if len(set(numbers)) != len(numbers) or numbers[0] < 1:
        raise ValueError(f"partition numbers must be distinct and positive: {numbers}")
    gpt = numbers[-1] > MBR_MAX_PARTITIONS
    if gpt and numbers[-1] > GPT_ENTRIES:
        raise ValueError(f"partition {numbers[-1]}: a GPT has {GPT_ENTRIES} entries")
    by_number = {n: (k, length, src) for n, k, length, src in pieces}
    wanted = []  # (number, kind, length, source)
    if gpt:
        free = next((n for n in range(1, numbers[-1]) if n not in by_number), numbers[-1] + 1)
        wanted.append((free, "bios-boot", BIOS_BOOT_BYTES, None))
    for n in range(1, numbers[-1] + 1):
        if n in by_number:
            wanted.append((n, *by_number[n]))
        elif not gpt:
            wanted.append((n, "placeholder", PLACEHOLDER_BYTES, None))
    slots, offset = [], MIB
    for number, kind, length, source in wanted:
        offset = _align(offset)
        slots.append(Slot(number, kind, offset, length, source))
        offset += -(-length // SECTOR) * SECTOR
    if gpt:
        size = _align(offset) + MIB  # the backup table lies in the last MiB
    else:
        size = offset  # as nbdkit's partitioning plugin sized it
    layout = DiskLayout("gpt" if gpt else "msdos", size, slots)
    ident = disk_id or uuid.uuid4()
    if gpt:
        layout.head, layout.tail = _gpt(layout, ident)
    else:
        layout.head = _mbr(slots, ident.bytes[:4])
    return layout


def _mbr_entry(boot, kind, start_lba, sectors):
    # CHS fields say "beyond CHS" (as parted writes them); LBA is what counts
    return struct.pack(
        "<B3sB3sII", boot, b"\xfe\xff\xff", kind, b"\xfe\xff\xff", start_lba, sectors
    )


def _mbr(slots, signature):
    sector = bytearray(SECTOR)
    sector[440:444] = signature
    for slot in slots:
        mbr_type = TYPES[slot.kind][0]
        at = 446 + 16 * (slot.number - 1)
        sector[at : at + 16] = _mbr_entry(0, mbr_type, slot.offset // SECTOR, slot.sectors)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _guid(text):
    return uuid.UUID(text).bytes_le


def _gpt(layout, disk_id):
    last_lba = layout.size // SECTOR - 1
    entries = bytearray(GPT_ENTRIES * GPT_ENTRY_SIZE)
    for slot in layout.slots:
        first = slot.offset // SECTOR
        unique = uuid.uuid5(disk_id, str(slot.number))
        name = slot.kind.encode("utf-16-le")[:72]
        entry = struct.pack(
            "<16s16sQQQ72s",
            _guid(TYPES[slot.kind][1]),
            unique.bytes_le,
            first,
            first + slot.sectors - 1,
            0,
            name,
        )
        at = (slot.number - 1) * GPT_ENTRY_SIZE
        entries[at : at + GPT_ENTRY_SIZE] = entry
    entries = bytes(entries)
    entries_crc = zlib.crc32(entries)
    first_usable, last_usable = 2 + GPT_TABLE_SECTORS, last_lba - 1 - GPT_TABLE_SECTORS

    def header(current, backup, entries_lba):
        fields = struct.pack(
            "<8sIIIIQQQQ16sQIII",
            b"EFI PART",
            0x00010000,
            92,
            0,
            0,
            current,
            backup,
            first_usable,
            last_usable,
            disk_id.bytes_le,
            entries_lba,
            GPT_ENTRIES,
            GPT_ENTRY_SIZE,
            entries_crc,
        )
        crc = zlib.crc32(fields)
        fields = fields[:16] + struct.pack("<I", crc) + fields[20:]
        return fields + bytes(SECTOR - len(fields))

    protective = bytearray(SECTOR)
    sectors = min(last_lba, 0xFFFFFFFF)
    protective[446:462] = struct.pack(
        "<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, sectors
    )
    protective[510:512] = b"\x55\xaa"
    head = bytes(protective) + header(1, last_lba, 2) + entries
    tail = entries + header(last_lba, 1, last_lba - GPT_TABLE_SECTORS)
    return head, tail
