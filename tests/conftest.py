import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# This project's CI machines cannot run nested KVM: libguestfs and the boot
# checks use TCG unless the caller set something else.
os.environ.setdefault("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
os.environ.setdefault("GUESTFIX_TCG", "1")


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory):
    """Transaction journals of this test run, away from the host's."""
    d = tmp_path_factory.mktemp("state")
    os.environ["GUESTFIX_STATE_DIR"] = str(d)
    return d


def build_sample(layout):
    """Build (or take from the cache) a sample Xen guest; returns its XML."""
    out = subprocess.run([sys.executable, os.path.join(REPO, "test-images", "build.py"), layout],
                         check=True, stdout=subprocess.PIPE, text=True)
    return out.stdout.strip().splitlines()[-1]


def guestfix(*args, env=None, timeout=1800, input=None):
    """Run the real command line; returns the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "guestfix.cli", *map(str, args)],
                          capture_output=True, text=True, env=full_env, timeout=timeout,
                          input=input, cwd=REPO)
