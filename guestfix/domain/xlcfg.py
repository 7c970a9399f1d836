"""Native Xen configuration files (xl.cfg, and xm's older syntax).

A KVM host has no Xen driver to translate them, so guestfix parses them
itself: a small tokenizer for `key = value` with strings, numbers and
lists (never `eval`), then the equivalent libvirt Xen domain XML, which the
ordinary conversion takes from there.
"""

import re
import uuid as uuidlib
import xml.etree.ElementTree as ET

from ..core import values
from ..core.errors import InputError
from . import firmware
from .model import Domain, read_text_file, sub

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<comment>\#[^\n]*) |
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*') |
    (?P<number>-?\d+(?:\.\d+)?) |
    (?P<name>[A-Za-z_][A-Za-z0-9_]*) |
    (?P<punct>[=\[\],;]) |
    (?P<newline>\n)
)""",
    re.X,
)


def tokens(text, path):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                return
            line = text.count("\n", 0, pos) + 1
            raise InputError(f"{path}:{line}: cannot parse {text[pos : pos + 20].strip()!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "comment":
            continue
        yield kind, m.group(kind), text.count("\n", 0, m.start()) + 1


def parse(text, path="xl.cfg"):
    """{key: str | int | list}; lists may span lines."""
    result, toks = {}, list(tokens(text, path))
    i = 0

    def value_at(i):
        kind, val, line = toks[i]
        if kind == "string":
            body = val[1:-1]
            return re.sub(r"\\(.)", r"\1", body), i + 1
        if kind == "number":
            return (float(val) if "." in val else int(val)), i + 1
        if kind == "punct" and val == "[":
            items, i = [], i + 1
            while True:
                while i < len(toks) and toks[i][0] == "newline":
                    i += 1
                if i >= len(toks):
                    raise InputError(f"{path}:{line}: unterminated list")
                if toks[i][1] == "]":
                    return items, i + 1
                item, i = value_at(i)
                items.append(item)
                while i < len(toks) and toks[i][0] == "newline":
                    i += 1
                if i < len(toks) and toks[i][1] == ",":
                    i += 1
        if kind == "name":
            return val, i + 1
        raise InputError(f"{path}:{line}: unexpected {val!r}")

    while i < len(toks):
        kind, val, line = toks[i]
        if kind == "newline" or (kind == "punct" and val == ";"):
            i += 1
            continue
        if kind != "name" or i + 1 >= len(toks) or toks[i + 1][1] != "=":
            raise InputError(f"{path}:{line}: expected `key = value`")
        if i + 2 >= len(toks):
            raise InputError(f"{path}:{line}: {val} has no value")
        value, i = value_at(i + 2)
        result[val] = value
    return result


def _disk_spec(spec, path):
    """'format=raw, vdev=xvda, access=rw, target=/img' or 'file:/img,xvda,w'."""
    if "=" in spec.split(",")[0] or "target=" in spec:
        fields = {}
        positional = []
        for part in spec.split(","):
            part = part.strip()
            if "=" in part:
                k, v = part.split("=", 1)
                fields[k.strip()] = v.strip()
            elif part:
                positional.append(part)
        target = fields.get("target") or (positional[0] if positional else "")
        return {
            "path": target,
            "vdev": fields.get("vdev", ""),
            "format": fields.get("format", ""),
            "cdrom": "devtype=cdrom" in spec or fields.get("devtype") == "cdrom",
            "block": target.startswith("/dev/"),
        }
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) < 2:
        raise InputError(f"{path}: cannot read disk entry {spec!r}")
    source, vdev = parts[0], parts[1]
    cdrom = vdev.endswith(":cdrom")
    vdev = vdev.split(":")[0]
    prefix, _, rest = source.rpartition(":") if ":" in source else ("", "", source)
    fmt = ""
    if "qcow2" in prefix:
        fmt = "qcow2"
    elif prefix.endswith("aio") or prefix in ("file", "tap:aio", "tap2:aio"):
        fmt = "raw"
    return {
        "path": rest,
        "vdev": vdev,
        "format": fmt,
        "cdrom": cdrom,
        "block": prefix == "phy" or rest.startswith("/dev/"),
    }


def _strings(cfg, key, path):
    """A setting that is a string or a list of strings (disk, vif, vfb)."""
    value = cfg.get(key, [])
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InputError(f"{path}: {key} is not a string or a list of strings")
    return items


def _number(cfg, key, default, path):
    """A whole number setting (xen-tools writes them quoted: memory = '256')."""
    value = cfg.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {key} = {value!r} is not a whole number") from None
    if number <= 0:
        raise InputError(f"{path}: {key} = {value!r} is not a positive number")
    return number


def domain_from_xl(path, text=None):
    """The domain of an xl.cfg: the file at `path`, or its `text` as read
    elsewhere (a remote host); `path` then names it in messages and
    anchors relative disk paths."""
    if text is None:
        text = read_text_file(path, "Xen configuration")
    cfg = parse(text, path)
    if "name" not in cfg:
        raise InputError(f"{path}: no name = ... in the Xen configuration")
    root = ET.Element("domain", {"type": "xen"})
    sub(root, "name").text = values.name(cfg["name"], f"{path}: name")
    uuid = values.uuid(cfg["uuid"], f"{path}: uuid") if cfg.get("uuid") else str(uuidlib.uuid4())
    sub(root, "uuid").text = uuid
    memory = _number(cfg, "memory", 512, path)
    sub(root, "memory", {"unit": "MiB"}).text = str(_number(cfg, "maxmem", memory, path))
    sub(root, "currentMemory", {"unit": "MiB"}).text = str(memory)
    sub(root, "vcpu").text = str(_number(cfg, "vcpus", 1, path))
    hvm = cfg.get("type") == "hvm" or cfg.get("builder") == "hvm"
    if cfg.get("bootloader"):
        sub(root, "bootloader").text = str(cfg["bootloader"])
        if cfg.get("bootloader_args"):
            args = cfg["bootloader_args"]
            sub(root, "bootloader_args").text = (
                " ".join(args) if isinstance(args, list) else str(args)
            )
    os_el = sub(root, "os")
    sub(os_el, "type", {"arch": "x86_64", "machine": "xenfv" if hvm else "xenpv"}).text = (
        "hvm" if hvm else "linux"
    )
    if hvm and firmware.from_xl(cfg) == "efi":
        # as libvirt's libxl driver reads bios/firmware = "ovmf"
        sub(os_el, "loader", {"type": "pflash", "readonly": "yes"}).text = firmware.XEN_OVMF
    for key, tag in (("kernel", "kernel"), ("ramdisk", "initrd")):
        if cfg.get(key):
            sub(os_el, tag).text = str(cfg[key])
    cmdline = " ".join(
        str(x)
        for x in (f"root={cfg['root']}" if cfg.get("root") else "", cfg.get("extra", ""))
        if x
    )
    if cmdline and cfg.get("kernel"):
        sub(os_el, "cmdline").text = cmdline
    for key in ("on_poweroff", "on_reboot", "on_crash"):
        if key in cfg:
            sub(root, key).text = str(cfg[key])
    devices = sub(root, "devices")
    for spec in _strings(cfg, "disk", path):
        d = _disk_spec(str(spec), path)
        disk_el = sub(
            devices,
            "disk",
            {
                "type": "block" if d["block"] else "file",
                "device": "cdrom" if d["cdrom"] else "disk",
            },
        )
        driver = {"name": "phy" if d["block"] else "file"}
        if d["format"]:
            driver["type"] = d["format"]
        sub(disk_el, "driver", driver)
        if d["path"]:
            sub(disk_el, "source", {"dev" if d["block"] else "file": d["path"]})
        sub(disk_el, "target", {"dev": d["vdev"], "bus": "xen"})
    for spec in _strings(cfg, "vif", path):
        fields = dict(p.strip().split("=", 1) for p in str(spec).split(",") if "=" in p)
        nic = sub(devices, "interface", {"type": "bridge"})
        if fields.get("mac"):
            sub(nic, "mac", {"address": values.mac(fields["mac"], f"{path}: vif mac")})
        sub(
            nic,
            "source",
            {"bridge": values.bridge(fields.get("bridge", "xenbr0"), f"{path}: vif bridge")},
        )
        if fields.get("script"):
            sub(nic, "script", {"path": fields["script"]})
    console = sub(devices, "console", {"type": "pty"})
    sub(console, "target", {"type": "xen", "port": "0"})
    vfb = _strings(cfg, "vfb", path)
    if cfg.get("vnc") == 1 or any("vnc=1" in str(v) for v in vfb):
        sub(devices, "graphics", {"type": "vnc", "port": "-1", "autoport": "yes"})
    domain = Domain(root, path)
    domain.source_text = text
    return domain
