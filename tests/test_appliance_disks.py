"""The guest's disks under the appliance kernel's names (appliancedisks.py),
from a session that answers as libguestfs does when the kernel probed the
SCSI disks out of order: the first drive added is the kernel's sdb."""

from guestfix.core.runner import CommandResult
from guestfix.fix.appliancedisks import ApplianceDisks

LINKS = {
    "pci-0000:00:03.0-scsi-0:0:0:0": "../../sdb",
    "pci-0000:00:03.0-scsi-0:0:0:0-part1": "../../sdb1",
    "pci-0000:00:03.0-scsi-0:0:1:0": "../../sdc",
    "pci-0000:00:03.0-scsi-0:0:2:0": "../../sda",  # the appliance's own disk
}


class Session:
    def __init__(self, debug_ll=True, links=LINKS):
        self.debug_ll, self.links, self.ran = debug_ll, links, []

    def list_devices(self):
        return ["/dev/sda", "/dev/sdb"]

    def device_index(self, device):
        return self.list_devices().index(device)

    def appliance_links(self, directory):
        return dict(self.links) if self.debug_ll else None

    def run(self, argv):
        self.ran.append(argv[0])
        if argv[0] == "ls":
            return CommandResult(argv, 0, "\n".join(self.links) + "\n", "")
        target = self.links[argv[-1].rsplit("/", 1)[-1]]
        return CommandResult(argv, 0, "/dev/" + target.rsplit("/", 1)[-1] + "\n", "")


def test_kernel_names_from_the_appliances_links():
    session = Session()
    assert ApplianceDisks(session).kernel_names() == ["/dev/sdb", "/dev/sdc"]
    assert session.ran == []  # no guest program ran


def test_kernel_names_by_the_guests_ls_and_readlink_without_debug_ll():
    session = Session(debug_ll=False)
    assert ApplianceDisks(session).kernel_names() == ["/dev/sdb", "/dev/sdc"]
    assert session.ran == ["ls", "readlink", "readlink"]


def test_a_drive_without_a_link_keeps_the_api_names():
    links = {k: v for k, v in LINKS.items() if "0:0:1:0" not in k}
    for debug_ll in (True, False):
        session = Session(debug_ll=debug_ll, links=links)
        assert ApplianceDisks(session).kernel_names() == ["/dev/sda", "/dev/sdb"]
