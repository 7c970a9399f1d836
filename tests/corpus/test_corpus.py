"""Run every row of the reliability corpus (cases.py)."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cases import CASES, MARKER, table  # noqa: E402
from conftest import checksums, guestfix  # noqa: E402

MIB = 1 << 20


@pytest.fixture(scope="session")
def hostile_images(tmp_path_factory):
    """Small disks no guest should be made of, built in one appliance run:
    random bytes, an empty ext4, NTFS, a LUKS container, two Linux roots."""
    import guestfs

    d = tmp_path_factory.mktemp("hostile")
    images = {
        name: str(d / f"{name}.img")
        for name in ("random", "blank-ext4", "ntfs", "luks", "two-roots")
    }
    with open(images["random"], "wb") as f:
        f.write(os.urandom(8 * MIB))
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        for name in ("blank-ext4", "ntfs", "luks", "two-roots"):
            with open(images[name], "wb") as f:
                f.truncate(64 * MIB)
            g.add_drive_opts(images[name], format="raw")
        g.launch()
        blank, ntfs, luks, two = g.list_devices()
        for dev in (blank, ntfs, luks):
            g.part_disk(dev, "mbr")
        g.mkfs("ext4", f"{blank}1")
        g.mkfs("ntfs", f"{ntfs}1")
        g.luks_format(f"{luks}1", "corpus-passphrase", 0)
        g.part_init(two, "mbr")
        g.part_add(two, "p", 2048, 63487)
        g.part_add(two, "p", 63488, -2048)
        for n, distro in ((1, "debian"), (2, "fedora")):
            part = f"{two}{n}"
            g.mkfs("ext4", part)
            g.mount(part, "/")
            for path in ("/etc", "/bin", "/usr/bin"):
                g.mkdir_p(path)
            g.write("/etc/fstab", f"/dev/xvda{n} / ext4 defaults 0 1\n".encode())
            g.write("/etc/os-release", f'ID={distro}\nVERSION_ID="1"\n'.encode())
            g.umount("/")
        g.shutdown()
    finally:
        g.close()
    return images


def tree_checksums(d):
    """Every file under d (new ones included), symlinks by their target."""
    paths = [os.path.join(root, name) for root, _dirs, files in os.walk(d) for name in files]
    links = {p: "link:" + os.readlink(p) for p in paths if os.path.islink(p)}
    return dict(checksums([p for p in paths if p not in links]), **links)


def _param(case):
    # rows on hostile_images launch the appliance: not for `make test-fast`
    return pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.appliance else [])


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_row(case, tmp_path, request, state_dir):
    images = request.getfixturevalue("hostile_images") if case.appliance else {}
    d = str(tmp_path)
    built = case.build(d, images)
    generator = built if hasattr(built, "__next__") else None
    argv = next(generator) if generator else built
    try:
        if os.path.exists(MARKER):
            os.remove(MARKER)
        before = tree_checksums(d)
        r = guestfix(*argv, input="")
        after = tree_checksums(d)
    finally:
        if generator:
            next(generator, None)
    assert r.returncode == case.code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert not os.path.exists(MARKER), "shell code in the input ran"
    if case.code == 0:
        # it ends well, saying what it left out; the inputs are as they were
        for words in case.words:
            assert words in r.stderr, r.stderr
        assert {p: before[p] for p in before} == {p: after.get(p) for p in before}
        written = "".join(open(p).read() for p in set(after) - set(before)) + r.stdout
        for text in case.absent:
            assert text not in written, text
        return
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("guestfix: error: "), r.stderr
    for words in case.words:
        assert words in lines[0], lines[0]
    assert after == before, "an input file changed"


def test_corpus_size_and_documentation():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    doc = os.path.join(HERE, "..", "..", "docs", "reliability.md")
    with open(doc) as f:
        assert f.read() == table(), (
            "docs/reliability.md is stale: run python tests/corpus/cases.py"
        )
