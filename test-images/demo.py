"""`make demo`: the main job on the built-in sample Xen PV guest.

Builds (or takes from the cache) the sample guest (a), copies it to a
scratch directory as if it were the Xen host's files, starts libvirtd if it
is not running, and does what an administrator would: inspect the guest,
then `guestfix migrate` it into a libvirt storage pool with a verified
backup first and a boot-check last. The cached image is never changed.
Re-running replaces the previous demo guest.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from samples import SampleBuildError, copy_guest, sample_guest

WORK = os.environ.get("GUESTFIX_DEMO_DIR", "/var/tmp/guestfix-demo")
URI = "qemu:///system"
POOL = "guestfix-demo"
POOL_DIR = "/var/lib/libvirt/images/guestfix-demo"
NAME = "guestfix-demo"


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run(*args):
    print("$ guestfix " + " ".join(args), flush=True)
    rc = subprocess.call([sys.executable, "-m", "guestfix", *args])
    if rc != 0:
        sys.exit(f"demo: `guestfix {' '.join(args)}` exited with {rc}")


def virsh(*args, check=False):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=check)


def start_libvirtd():
    """libvirtd is not running on a fresh machine: start it (and virtlogd)."""
    for daemon in ("virtlogd", "libvirtd"):
        if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode != 0:
            subprocess.run([daemon, "-d"], check=True)
    for _ in range(60):
        if virsh("uri").returncode == 0:
            return
        time.sleep(0.5)
    sys.exit("demo: libvirtd did not come up")


def default_network():
    """The guide maps the Xen bridge br0 to libvirt's `default` network."""
    if not re.search(r"^Active:\s+yes", virsh("net-info", "default").stdout, re.M):
        virsh("net-start", "default")
    rules = os.path.join(WORK, "network-map.xml")
    with open(rules, "w") as f:
        f.write(
            "<virt-v2v>\n  <network type='bridge' name='br0'>\n"
            "    <network type='network' name='default'/>\n  </network>\n</virt-v2v>\n"
        )
    return rules


def fresh_pool():
    """A directory pool for the demo, emptied of an earlier demo's guest."""
    virsh("destroy", NAME)
    virsh("undefine", NAME)
    if virsh("pool-info", POOL).returncode != 0:
        virsh("pool-define-as", POOL, "dir", "--target", POOL_DIR, check=True)
        virsh("pool-build", POOL, check=True)
    if "running" not in virsh("pool-info", POOL).stdout:
        virsh("pool-start", POOL, check=True)
    import libvirt

    conn = libvirt.open(URI)
    try:
        for vol in conn.storagePoolLookupByName(POOL).listAllVolumes():
            vol.delete(0)
    finally:
        conn.close()


def main():
    say("building the sample Xen PV guest (cached after the first run)")
    try:
        domain = copy_guest(sample_guest("a"), WORK)
    except SampleBuildError as e:
        sys.exit(f"demo: {e}")
    print(f"the 'Xen host' files: {WORK}")
    say("1. inspect: what is Xen-specific in this guest (read-only)")
    run("inspect", "--domain", domain)
    say("2. migrate: backup, fix, copy into a libvirt pool, define, boot-check")
    start_libvirtd()
    fresh_pool()
    rules = default_network()
    # This machine may have no usable KVM: then the demo domain is type qemu.
    virt_type = "qemu" if os.environ.get("GUESTFIX_TCG") == "1" else "kvm"
    run(
        "migrate",
        domain,
        "-o",
        "libvirt",
        "-os",
        POOL,
        "-on",
        NAME,
        "-of",
        "qcow2",
        "--backup",
        os.path.join(WORK, "backup"),
        "--boot-check",
        "--virt-type",
        virt_type,
        "--map-file",
        rules,
        "--yes",
    )
    say(
        f"done: `virsh start {NAME}` runs the migrated guest; the originals in {WORK} "
        "were only read"
    )


if __name__ == "__main__":
    main()
