"""`make demo`: the main job on the built-in sample Xen PV guest.

Builds (or takes from the cache) the sample guest (a), copies it to a
scratch directory, and runs what an administrator would: inspect, fix,
boot-check, then xml and define against the local libvirtd. The cached
image itself is never changed.
"""

import os
import shutil
import subprocess
import sys
import time

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
    say("4. xml: the domain rewritten for KVM (shown as a diff)")
    kvm_xml = os.path.join(WORK, "guestfix-demo.xml")
    # This machine may have no usable KVM: then the demo domain is type qemu.
    virt_type = "qemu" if os.environ.get("GUESTFIX_TCG") == "1" else "kvm"
    run("xml", domain, "-on", "guestfix-demo", "--virt-type", virt_type,
        "-b", "virbr0", "--print-diff", "--out", kvm_xml)
    say("5. define: the new domain in the local libvirtd")
    start_libvirtd()
    run("define", kvm_xml, "--replace")
    say(f"done: the fixed guest's disks are in {WORK}; the domain is guestfix-demo")


def start_libvirtd():
    """libvirtd is not running on a fresh machine: start it (and virtlogd)."""
    for daemon in ("virtlogd", "libvirtd"):
        if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode != 0:
            subprocess.run([daemon, "-d"], check=True)
    for _ in range(60):
        if subprocess.run(["virsh", "-c", "qemu:///system", "uri"],
                          capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    sys.exit("demo: libvirtd did not come up")


if __name__ == "__main__":
    main()
