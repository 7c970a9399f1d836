"""Golden in/out files for `guestfix xml`: every case converts to exactly
its .out.xml and validates with virt-xml-validate.

golden/<case>.in.xml (or .in.cfg for xl) is the source, <case>.args the
extra options (one per line), <case>.out.xml the expected result. @DIR@
stands for a scratch directory where the disk images named in the input
are created (.raw sparse, .qcow2 with qemu-img), @GOLDEN@ for this folder,
@UUID@ for a freshly generated UUID (with -on). GUESTFIX_REGOLD=1 rewrites
the .out.xml files from the current output (review the diff!).
"""

import os
import re
import subprocess
import uuid

import pytest
from conftest import guestfix

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def cases():
    for name in sorted(os.listdir(GOLDEN)):
        m = re.match(r"^(.*)\.in\.(xml|cfg)$", name)
        if m:
            yield pytest.param(m.group(1), name, id=m.group(1))


def make_images(text, directory):
    for name in set(re.findall(r"@DIR@/([\w.-]+)", text)):
        path = os.path.join(directory, name)
        if name.endswith(".qcow2"):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "16M"], check=True)
        else:
            with open(path, "wb") as f:
                f.truncate(16 << 20)


@pytest.mark.parametrize("case,filename", list(cases()))
def test_golden_xml(case, filename, tmp_path):
    with open(os.path.join(GOLDEN, filename)) as f:
        source_text = f.read()
    make_images(source_text, tmp_path)
    source = tmp_path / filename
    source.write_text(source_text.replace("@DIR@", str(tmp_path)))
    args = []
    args_file = os.path.join(GOLDEN, f"{case}.args")
    if os.path.exists(args_file):
        with open(args_file) as f:
            args = [a.replace("@GOLDEN@", GOLDEN) for a in f.read().splitlines() if a]
    out = tmp_path / "out.xml"
    r = guestfix("xml", source, "--emulator", "/usr/bin/qemu-kvm", "--out", out, *args)
    assert r.returncode == 0, r.stderr
    actual = out.read_text()
    v = subprocess.run(["virt-xml-validate", str(out), "domain"], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    actual = actual.replace(str(tmp_path), "@DIR@")
    if "-on" in args:
        new_uuid = re.search(r"<uuid>([^<]+)</uuid>", actual).group(1)
        uuid.UUID(new_uuid)
        assert new_uuid not in source_text
        actual = actual.replace(new_uuid, "@UUID@")
    expected_file = os.path.join(GOLDEN, f"{case}.out.xml")
    if os.environ.get("GUESTFIX_REGOLD") == "1":
        with open(expected_file, "w") as f:
            f.write(actual)
    with open(expected_file) as f:
        assert actual == f.read()
