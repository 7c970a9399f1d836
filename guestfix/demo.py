"""`make demo`: the main job on the built-in sample Xen PV guest.

Builds (or takes from the cache) the sample guest (a), copies it to a
scratch directory, and runs what an administrator would: inspect, fix,
boot-check. The cached image itself is never changed.
"""

import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.environ.get("GUESTFIX_DEMO_DIR", "/var/tmp/guestfix-demo")


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run(*args):
    argv = [sys.executable, "-m", "guestfix", *args]
    print("$ guestfix " + " ".join(args), flush=True)
    rc = subprocess.call(argv)
    if rc != 0:
        sys.exit(f"demo: `guestfix {' '.join(args)}` exited with {rc}")


def main():
    say("building the sample Xen PV guest (cached after the first run)")
    xml = subprocess.run([sys.executable, os.path.join(REPO, "test-images", "build.py"), "a"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    src = os.path.dirname(xml)
    for name in os.listdir(src):
        if name.endswith(".img"):
            subprocess.run(["cp", "--sparse=always", os.path.join(src, name), WORK], check=True)
            os.chmod(os.path.join(WORK, name), 0o644)
    with open(xml) as f:
        text = f.read().replace(f"file='{src}/", f"file='{WORK}/")
    domain = os.path.join(WORK, os.path.basename(xml))
    with open(domain, "w") as f:
        f.write(text)
    print(f"sample guest copied to {WORK}")

    say("1. inspect: what is Xen-specific in this guest")
    run("inspect", "--domain", domain)
    say("2. fix: make it boot on KVM (transactional, one appliance launch)")
    run("fix", "--yes", "--domain", domain)
    say("3. boot-check: boot it on virtio and watch for the login prompt")
    run("boot-check", "--domain", domain)
    say(f"done: the fixed guest's disks are in {WORK}")


if __name__ == "__main__":
    main()
