"""The guest's disks as the appliance sees them: two sets of names.

libguestfs' API names the drives /dev/sda, /dev/sdb, ... in the order they
were added. Programs run in the guest (grub-install, grub-mkconfig) see the
appliance kernel's names, which differ when the kernel probes the SCSI
disks out of order, as it can with several CPUs: the API's /dev/sda
(libguestfs translates it) is then the kernel's /dev/sdb, and the kernel's
/dev/sda is the appliance's own ext2 disk. grub-install given that name
fails with "embedding is not possible ... cross-disk install".
"""

import os
import re

BY_PATH = "/dev/disk/by-path"
SCSI_TARGET = re.compile(r"-scsi-\d+:\d+:(\d+):0$")


class ApplianceDisks:
    """Both names of the guest's whole disks, through a launched session."""

    def __init__(self, session):
        self.session = session
        self._kernel_names = None

    def api_names(self):
        """/dev/sda is the first drive added. Use these in API calls only."""
        return self.session.list_devices()

    def kernel_names(self):
        """In drive order, as the appliance's kernel names them. Drive N is
        SCSI target N; its /dev/disk/by-path link gives the kernel's name.
        Without such links, the API's names."""
        if self._kernel_names is None:
            api_names = self.api_names()
            links = self.session.appliance_links(BY_PATH)
            if links is None:  # no `debug ll`: the guest's ls, then readlink
                listing = self.session.run(["ls", "-1", BY_PATH])
                links = dict.fromkeys(listing.stdout.split())
            by_target = {}
            for link in links:
                m = SCSI_TARGET.search(link)
                if m:
                    by_target[int(m.group(1))] = link
            names = []
            for api_name in api_names:
                link = by_target.get(self.session.device_index(api_name))
                name = self._resolve(link, links[link]) if link else None
                if not name:
                    names = api_names
                    break
                names.append(name)
            self._kernel_names = names
        return self._kernel_names

    def _resolve(self, link, target):
        """The device a by-path link points to: from its target when known
        (../../sdX), else by the guest's readlink; None when neither says."""
        if target is not None:
            return os.path.normpath(os.path.join(BY_PATH, target))
        resolved = self.session.run(["readlink", "-f", f"{BY_PATH}/{link}"])
        name = resolved.stdout.strip()
        return name if resolved.ok and name.startswith("/dev/") else None
