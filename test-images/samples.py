"""The sample Xen guests of build.py, as the tests, the benchmarks and
`make demo` take them: built once (or found in the image cache), then
copied for each user, so that the cached images are never written to."""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


class SampleBuildError(Exception):
    pass


def sample_guest(layout, cache=None, env=None):
    """Build (or take from the image cache) a sample Xen guest of
    test-images/build.py; returns its domain XML's path.

    The path comes back through a result file that only the builder writes,
    once, when it is done: whatever debootstrap, update-initramfs or any
    other tool prints on a cold cache never reaches us. The builder's own
    output goes to our stderr, as progress for the person watching."""
    argv = [sys.executable, os.path.join(HERE, "build.py"), layout]
    if cache:
        argv += ["--cache", cache]
    with tempfile.TemporaryDirectory(prefix="guestfix-build-") as tmp:
        result_file = os.path.join(tmp, "result")
        rc = subprocess.call(argv + ["--result", result_file], stdout=sys.stderr, env=env)
        if rc != 0 or not os.path.exists(result_file):
            raise SampleBuildError(
                f"building the sample guest ({layout}) failed (exit {rc}); its output is above"
            )
        with open(result_file) as f:
            xml = f.read().strip()
    if not os.path.isfile(xml):
        raise SampleBuildError(f"the builder named {xml!r}, which is not a file")
    return xml


def copy_guest(xml, dest):
    """A sparse copy of a sample guest's disks and XML in dest (emptied
    first); returns the new XML's path. The cached images are never
    written to: every user works on its own copy."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    src = os.path.dirname(xml)
    for name in os.listdir(src):
        if name.endswith(".img"):
            target = os.path.join(dest, name)
            subprocess.run(["cp", "--sparse=always", os.path.join(src, name), target], check=True)
            os.chmod(target, 0o644)
    with open(xml) as f:
        text = f.read().replace(f"file='{src}/", f"file='{dest}/")
    domain = os.path.join(dest, os.path.basename(xml))
    with open(domain, "w") as f:
        f.write(text)
    shutil.copymode(xml, domain)
    for name in os.listdir(src):
        if name.endswith(".cfg"):  # an xl.cfg next to the XML names the same disks
            with open(os.path.join(src, name)) as f:
                # `file:DIR/disk.img` (xen-tools) or `target=DIR/disk.img`
                text = f.read().replace(f"{src}/", f"{dest}/")
            with open(os.path.join(dest, name), "w") as f:
                f.write(text)
    return domain
