"""What `migrate --resume NAME` needs, kept in STATE_DIR/early/NAME.json
from before the domain starts until its disks are on their volumes."""

import json
import os
from dataclasses import asdict, dataclass, field

from ...core.errors import InputError, UsageError
from ...core.fsutil import write_atomically
from ...core.state import private_dir, state_dir


def state_path(name):
    return os.path.join(state_dir(), "early", f"{name}.json")


def refuse_unfinished(name):
    """A new run for NAME while its early start is unfinished is refused."""
    if os.path.exists(state_path(name)):
        raise UsageError(
            f"an early start of {name} is unfinished", hint=f"guestfix migrate --resume {name}"
        )


@dataclass
class EarlyDisk:
    target: str  # the KVM name (vda)
    overlay: str  # what the guest runs on until the pivot
    volume: str  # the pool volume it is copied into
    format: str  # the volume's format
    size: int  # virtual size in bytes
    backing: str = ""  # the original (or its backup copy) under the overlay
    # its owner and mode: libvirt gives QEMU's user the whole chain while the
    # guest runs on it, and they are put back once nothing uses it
    backing_owner: list = field(default_factory=list)  # [uid, gid, mode]
    finished: float = None  # seconds after the start when it ran on its volume

    def note_backing(self, path):
        st = os.stat(path)
        self.backing, self.backing_owner = path, [st.st_uid, st.st_gid, st.st_mode & 0o7777]

    def restore_backing(self):
        if not self.backing_owner:
            return
        uid, gid, mode = self.backing_owner
        try:
            st = os.stat(self.backing)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.chown(self.backing, uid, gid)
            if st.st_mode & 0o7777 != mode:
                os.chmod(self.backing, mode)
        except FileNotFoundError:
            pass


@dataclass
class EarlyState:
    name: str
    uri: str
    pool: str
    disks: list = field(default_factory=list)
    bandwidth: int = 0  # MiB/s for each copy; 0: as fast as the host goes
    started: float = 0.0  # time.time() when the domain started; 0: not yet

    def save(self):
        path = state_path(self.name)
        private_dir(os.path.dirname(path))
        write_atomically(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, name):
        path = state_path(name)
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise InputError(
                f"no unfinished early start of {name} ({path} does not exist)",
                hint="--resume finishes a `migrate --start-early` that did not complete",
            ) from None
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: unreadable ({e})") from None
        data["disks"] = [EarlyDisk(**d) for d in data.get("disks", [])]
        return cls(**data)

    def remove(self):
        try:
            os.unlink(state_path(self.name))
        except FileNotFoundError:
            pass


def unfinished_message(name, what):
    return (
        f"{what}: the guest {name} runs on its overlays and its disks are not all in "
        f"the pool yet; `guestfix migrate --resume {name}` finishes the copy"
    )
