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
            self._kernel_names = api_names
            links = self.session.appliance_links(BY_PATH)
            if links is not None:
                self._kernel_names = self._from_links(api_names, links)
                return self._kernel_names
            listing = self.session.run(["ls", "-1", BY_PATH])
            targets = {}
            for link in listing.stdout.split():
                m = SCSI_TARGET.search(link)
                if m:
                    targets[int(m.group(1))] = link
            names = []
            for api_name in api_names:
                link = targets.get(self.session.device_index(api_name))
                resolved = (
                    self.session.run(["readlink", "-f", f"{BY_PATH}/{link}"]) if link else None
                )
                if not (resolved and resolved.ok and resolved.stdout.startswith("/dev/")):
                    return self._kernel_names
                names.append(resolved.stdout.strip())
            self._kernel_names = names
        return self._kernel_names

    def _from_links(self, api_names, links):
        """Kernel names from the by-path links (NAME -> ../../sdX); the
        API's names where a drive has no link."""
        by_target = {}
        for link, target in links.items():
            m = SCSI_TARGET.search(link)
            if m:
                by_target[int(m.group(1))] = target
        names = []
        for api_name in api_names:
            target = by_target.get(self.session.device_index(api_name))
            if not target:
                return api_names
            names.append(os.path.normpath(os.path.join(BY_PATH, target)))
        return names
