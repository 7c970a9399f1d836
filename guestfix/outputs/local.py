"""-o local -os DIR: disk images and NAME.xml in a directory."""

import os

from ..core import uefi as host_uefi
from ..core.errors import InputError, ToolError
from ..domain import convert
from ..domain.model import read_text_file
from .base import Output


class LocalDirectory(Output):
    mode = "local"
    description = "a directory"

    @property
    def directory(self):
        return os.path.abspath(self.opts.output_storage)

    def prepare(self, name, disks, devmap, nics=(), firmware=None):
        super().prepare(name, disks, devmap)
        if (
            firmware is not None
            and firmware.efi
            and not host_uefi.find(secure_boot=firmware.secure_boot)
        ):
            # as virt-v2v -o local: the domain is written for this host
            raise ToolError(
                f"the guest boots through UEFI ({firmware.source}) and QEMU on this "
                f"host has no UEFI firmware{' with secure boot' if firmware.secure_boot else ''}",
                hint=host_uefi.HINT,
            )
        d = self.directory
        if not os.path.isdir(d):
            raise InputError(f"-os {d}: no such directory")
        for path in [os.path.join(d, self.file_name(disk)) for disk in disks] + [
            os.path.join(d, f"{name}.xml")
        ]:
            if os.path.lexists(path):
                raise InputError(f"{path} already exists")
        st = os.statvfs(d)
        self.check_room(st.f_bavail * st.f_frsize, d)

    def existing_domain(self, name):
        path = os.path.join(self.directory, f"{name}.xml")
        return read_text_file(path, "domain XML") if os.path.isfile(path) else None

    def planned_path(self, disk):
        return os.path.join(self.directory, self.file_name(disk))

    def copy_disk(self, overlay, disk, monitor):
        path = self.planned_path(disk)
        self._files.append(path)
        self._write_disk(overlay, disk, path, monitor)
        return self._entry(disk, path)

    def write_domain(self, xml_text):
        path = os.path.join(self.directory, f"{self.name}.xml")
        self._files.append(path)
        convert.write_atomically(path, xml_text)
        return path
