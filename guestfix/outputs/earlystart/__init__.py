"""--start-early: the KVM guest runs while its disks are being copied.

    state.py      the state file --resume reads
    livecopy.py   block copy, pivot, clean-up; --resume
    console.py    the console watched for the login prompt (--boot-check)


A plain migrate copies every disk before the domain exists, so its
downtime grows with the disks. With --start-early (-o libvirt):

  1. each fix overlay (only the clusters the fix wrote; its backing file
     is the original, which QEMU opens read-only) is placed next to the
     pool volumes as NAME-vda.early.qcow2, and the empty volumes are made;
  2. the domain is defined on the overlays and started: the downtime
     ends here;
  3. libvirt's block copy (QEMU's mirror job) copies each whole chain into
     its volume while the guest runs, the guest's new writes included, and
     libvirt pivots the disk to the volume once the two are in step (with
     --boot-check the copies are held back until the login prompt shows:
     the boot is what the downtime waits for);
  4. the persistent definition names the volumes and the overlays are
     removed.

What `guestfix migrate --resume NAME` needs is in a state file
(STATE_DIR/early/NAME.json), written before the domain starts. Once the
domain runs nothing is undone: an interrupted or failed copy leaves the
guest running on its overlays (a failed copy never pivots), and --resume
takes each disk from where it is: on its overlay (copied again from the
start), in a running copy (waited for), or already on its volume (only the
clean-up is left). A domain that was shut down meanwhile is copied offline
with qemu-img.
"""

from .console import ConsoleWatch
from .livecopy import LiveCopy, resume
from .state import EarlyDisk, EarlyState, refuse_unfinished, unfinished_message


class EarlyStartOutput:
    """The capability an output declares by deriving from this: it can
    run the guest on its fix overlays while the disks are copied.

        early_overlay_name(disk)
        place_early(overlay, disk) -> (overlay path, report entry)
        start()                       the domain starts: the downtime ends
        keep()                        from here on nothing is undone
        live_copy(state, monitor, boot, boot_deadline) -> the disks, each
                                      with when it ran on its volume
    """


__all__ = [
    "ConsoleWatch",
    "EarlyDisk",
    "EarlyStartOutput",
    "EarlyState",
    "LiveCopy",
    "refuse_unfinished",
    "resume",
    "unfinished_message",
]
