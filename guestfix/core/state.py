"""Where guestfix keeps what must outlive a run: the journals of `fix`
(transactions/) and the early starts `migrate --resume` finishes (early/).
GUESTFIX_STATE_DIR puts them elsewhere (the tests give each run its own)."""

import os

DEFAULT_STATE_DIR = "/var/lib/guestfix"


def state_dir():
    return os.environ.get("GUESTFIX_STATE_DIR", DEFAULT_STATE_DIR)
