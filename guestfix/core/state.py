"""Where guestfix keeps what must outlive a run: the journals of `fix`
(transactions/) and the early starts `migrate --resume` finishes (early/).
GUESTFIX_STATE_DIR puts them elsewhere (the tests give each run its own)."""

import os

DEFAULT_STATE_DIR = "/var/lib/guestfix"


def state_dir():
    return os.environ.get("GUESTFIX_STATE_DIR", DEFAULT_STATE_DIR)


def private_dir(path):
    """`path` made (with its parents) for its owner alone: journals and
    early-start state name the guest's disks and hold undo data."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path
