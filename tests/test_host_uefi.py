"""Which UEFI firmware QEMU on this host has, read from its firmware
descriptors as libvirt reads them: Debian's own ovmf descriptors, and
descriptors that must not be taken."""

import json

from guestfix.core import uefi


def test_this_hosts_ovmf_without_secure_boot_is_found():
    """make setup installs Debian's ovmf, which ships the descriptors."""
    plain = uefi.find(secure_boot=False)
    assert plain.code == "/usr/share/OVMF/OVMF_CODE_4M.fd"
    assert plain.vars_template == "/usr/share/OVMF/OVMF_VARS_4M.fd"
    secure = uefi.find(secure_boot=True)
    assert secure.code != plain.code and "secboot" in secure.code


def descriptor(path, code, template, features=(), arch="x86_64", device="flash"):
    path.write_text(
        json.dumps(
            {
                "description": path.name,
                "interface-types": ["uefi"],
                "mapping": {
                    "device": device,
                    "executable": {"filename": str(code), "format": "raw"},
                    "nvram-template": {"filename": str(template), "format": "raw"},
                },
                "targets": [{"architecture": arch, "machines": ["pc-q35-*"]}],
                "features": list(features),
            }
        )
    )


def test_unusable_descriptors_are_passed_over_and_the_administrators_win(tmp_path):
    etc, share = tmp_path / "etc", tmp_path / "share"
    etc.mkdir()
    share.mkdir()
    code, template = tmp_path / "CODE.fd", tmp_path / "VARS.fd"
    code.write_bytes(b"\0")
    template.write_bytes(b"\0")
    descriptor(share / "10-arm.json", code, template, arch="aarch64")
    descriptor(share / "20-missing.json", tmp_path / "gone.fd", template)
    descriptor(share / "30-enrolled.json", code, template, ["secure-boot", "enrolled-keys"])
    (share / "40-broken.json").write_text("{not json")
    descriptor(share / "50-plain.json", code, template)
    dirs = (str(etc), str(share))
    assert uefi.find(dirs=dirs).description == "50-plain.json"
    assert uefi.find(secure_boot=True, dirs=dirs) is None
    # a file of the same name in /etc/qemu/firmware replaces the packaged one
    descriptor(etc / "50-plain.json", code, template, arch="aarch64")
    assert uefi.find(dirs=dirs) is None
