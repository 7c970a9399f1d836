"""migrate's sources and outputs behind their interfaces, without an
appliance: every -i and -o mode the command line offers has its class, and
the local output refuses before any work what it would overwrite."""

import os

import pytest

from guestfix import cli, outputs, sources
from guestfix.core.devnames import DeviceMap
from guestfix.core.errors import InputError
from guestfix.disks.image import open_disk
from guestfix.migrate import MigrateOptions


def _choices(command, param):
    opt = next(p for p in cli.cli.commands[command].params if p.name == param)
    return set(opt.type.choices)


def test_every_mode_has_its_class():
    assert (
        set(sources.SOURCES) == _choices("migrate", "input_mode") == _choices("xml", "input_mode")
    )
    assert set(outputs.OUTPUTS) == _choices("migrate", "output_mode")


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "src" / "xvda.img"
    path.parent.mkdir()
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    return open_disk(str(path), target="xvda")


def _local(directory, **kw):
    return outputs.output_for(
        MigrateOptions(output_mode="local", output_storage=str(directory), **kw)
    )


def test_local_output_names_disks_after_their_virtio_target(disk, tmp_path):
    out = _local(tmp_path)
    out.prepare("web", [disk], DeviceMap(["xvda"]))
    assert out.file_name(disk) == "web-vda.img"
    assert _local(tmp_path, output_format="qcow2").format_for(disk) == "qcow2"


def test_local_output_refuses_what_it_would_overwrite(disk, tmp_path):
    (tmp_path / "web.xml").write_text("<domain/>")
    with pytest.raises(InputError, match="web.xml already exists"):
        _local(tmp_path).prepare("web", [disk], DeviceMap(["xvda"]))
    with pytest.raises(InputError, match="no such directory"):
        _local(tmp_path / "nowhere").prepare("web", [disk], DeviceMap(["xvda"]))
    with pytest.raises(InputError, match="not usable as a file name"):
        _local(tmp_path).prepare("../web", [disk], DeviceMap(["xvda"]))


def test_undo_removes_only_what_the_run_created(disk, tmp_path):
    out = _local(tmp_path)
    out.prepare("web", [disk], DeviceMap(["xvda"]))
    written = out.write_domain("<domain type='kvm'/>\n")
    assert os.path.exists(written)
    out.undo()
    assert not os.path.exists(written)
    assert os.path.exists(disk.path)
