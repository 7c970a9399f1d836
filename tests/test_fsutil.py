"""The one atomic file write (journals, the backup manifest, domain XML)."""

import os

import pytest

from guestfix.core.fsutil import write_atomically


@pytest.mark.parametrize(
    "content,expected", [("text é\n", "text é\n".encode()), (b"\0bytes", b"\0bytes")]
)
def test_replaces_the_file_and_leaves_nothing_else(tmp_path, content, expected):
    path = tmp_path / "f"
    path.write_text("old")
    write_atomically(str(path), content)
    assert path.read_bytes() == expected
    assert os.listdir(tmp_path) == ["f"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "f"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_atomically(str(path), object())  # fails before anything is written
    os.mkdir(tmp_path / "d")
    with pytest.raises(OSError):
        write_atomically(str(tmp_path / "d"), "x")  # the rename fails
    assert path.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["d", "f"]
