"""The first disk's partition table, read from its first sectors.

What the boot-code decision needs (table kind, active partitions, a BIOS
boot partition) is a few hundred bytes at the start of the disk. Reading
them with one pread and parsing them here costs one appliance round trip;
asking parted and sgdisk per partition costs a process each, about half a
second apiece under TCG.
"""

import struct
import uuid
from dataclasses import dataclass, field

MBR_SIGNATURE = b"\x55\xaa"
GPT_SIGNATURE = b"EFI PART"
PROTECTIVE_MBR_TYPE = 0xEE
EXTENDED_TYPES = (0x05, 0x0F, 0x85)
BIOS_BOOT_GUID = "21686148-6449-6E6F-744E-656564454649"
ESP_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ESP_MBR_TYPE = 0xEF


@dataclass
class Partition:
    number: int
    start: int  # bytes from the start of the disk
    bootable: bool = False
    gpt_type: str = ""  # upper-case GUID, GPT only
    mbr_type: int = 0  # DOS tables only


@dataclass
class PartitionTable:
    kind: str  # msdos, gpt, or "" (no table)
    partitions: list = field(default_factory=list)

    @property
    def bios_boot_partition(self):
        return any(p.gpt_type == BIOS_BOOT_GUID for p in self.partitions)

    def active(self):
        return [p for p in self.partitions if p.bootable]

    def esp_numbers(self):
        """The EFI system partitions, by their type (GPT GUID or MBR 0xEF)."""
        return [
            p.number
            for p in self.partitions
            if p.gpt_type == ESP_GUID or p.mbr_type == ESP_MBR_TYPE
        ]


def read_table(read, sector_size=512):
    """Parse the partition table through `read(offset, count) -> bytes`."""
    mbr = read(0, sector_size)
    entries = _mbr_entries(mbr)
    if entries is None:
        return PartitionTable("")  # a filesystem (or nothing) on the whole disk
    if any(kind == PROTECTIVE_MBR_TYPE for _, kind, _, _ in entries):
        table = _gpt(read, sector_size)
        if table is not None:
            return table
    partitions = [
        Partition(n, start * sector_size, bootable=flag == 0x80, mbr_type=kind)
        for n, kind, flag, start in entries
        if kind and kind not in EXTENDED_TYPES
    ]
    return PartitionTable("msdos", partitions)


def _mbr_entries(sector):
    """[(number, type, boot flag, start LBA)] of a DOS partition table, or
    None when the sector is not one. A FAT or NTFS boot sector also ends in
    55 AA, but its bytes where the boot flags would be are not 0x00/0x80."""
    if len(sector) < 512 or sector[510:512] != MBR_SIGNATURE:
        return None
    entries = []
    for n in range(4):
        raw = sector[446 + 16 * n : 462 + 16 * n]
        flag, kind = raw[0], raw[4]
        if flag not in (0x00, 0x80):
            return None
        (start,) = struct.unpack_from("<I", raw, 8)
        entries.append((n + 1, kind, flag, start))
    if not any(kind for _, kind, _, _ in entries):
        return None
    return entries


def _gpt(read, sector_size):
    header = read(sector_size, sector_size)
    if header[:8] != GPT_SIGNATURE:
        return None
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    if not (128 <= entry_size <= 4096 and 0 < count <= 1024):
        return None
    data = read(entries_lba * sector_size, count * entry_size)
    partitions = []
    for n in range(count):
        raw = data[n * entry_size : (n + 1) * entry_size]
        if len(raw) < 128 or not raw[:16].strip(b"\0"):
            continue  # an unused slot
        (first_lba,) = struct.unpack_from("<Q", raw, 32)
        guid = str(uuid.UUID(bytes_le=bytes(raw[:16]))).upper()
        partitions.append(Partition(n + 1, first_lba * sector_size, gpt_type=guid))
    return PartitionTable("gpt", partitions)
