"""Property tests of every parser of outside input (Hypothesis): whatever
the input, the result is a parsed value or an input error, never another
exception, and never a path outside the directory asked for.

    xl.cfg                 domain/xlcfg.py (parse, then the domain)
    domain XML             domain/model.py and the conversion (domain/convert.py)
    the migration record   domain/marker.py (read back from a destination's domain)
    the sparse tar stream  sources/ssh/stream.py (what a Xen host sends)
    the probe's report     bootcheck/console.py (what a booted guest prints)

`make test` runs a short pass (the "ci" profile); `make fuzz` runs each
parser on 10,000 inputs (GUESTFIX_FUZZ=fuzz).
"""

import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guestfix.bootcheck.console import parse_probe
from guestfix.core import values
from guestfix.core.errors import InputError, RemoteHostError
from guestfix.domain import convert, marker, xlcfg
from guestfix.domain.model import Domain
from guestfix.sources.ssh import stream

settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "quick", max_examples=2_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "fuzz", max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("GUESTFIX_FUZZ", "ci"))

OUT_DIR = "/srv/kvm/out"

# -- xl.cfg ---------------------------------------------------------------------------
XL_KEYS = [
    "name",
    "uuid",
    "memory",
    "maxmem",
    "vcpus",
    "bootloader",
    "kernel",
    "ramdisk",
    "root",
    "extra",
    "disk",
    "vif",
    "type",
    "builder",
    "vnc",
    "vfb",
    "on_reboot",
]
xl_scalar = st.one_of(
    st.integers(-10, 1 << 40).map(str),
    st.text(max_size=40).map(lambda t: "'" + t.replace("\\", "").replace("'", "") + "'"),
    st.sampled_from(
        [
            "'file:/srv/x.img,xvda2,w'",
            "'phy:/dev/vg/x,xvda,w'",
            "'mac=00:16:3e:00:00:01,bridge=br0'",
            "'../../x'",
            "hvm",
            "[",
            "]",
        ]
    ),
)
xl_value = st.one_of(
    xl_scalar, st.lists(xl_scalar, max_size=4).map(lambda items: "[ " + ", ".join(items) + " ]")
)
xl_text = st.lists(st.tuples(st.sampled_from(XL_KEYS), xl_value), max_size=12).map(
    lambda pairs: "".join(f"{k} = {v}\n" for k, v in pairs)
)


def _xl_domain(text):
    try:
        return xlcfg.domain_from_xl("/srv/xen/g.cfg", text)
    except InputError:
        return None


@given(st.one_of(xl_text, st.text(max_size=300)))
def test_xl_cfg_parses_or_is_refused(text):
    domain = _xl_domain(text)
    if domain is not None:
        assert values.NAME_RE.fullmatch(domain.name)  # a file name, never a path
        _convert(domain)


# -- domain XML -------------------------------------------------------------------------
attr_value = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20),
    st.sampled_from(
        [
            "xvda",
            "xvda2",
            "hda",
            "/srv/x.img",
            "/dev/sda",
            "..",
            "",
            "00:16:3e:00:00:01",
            "00:16:3E:00:00:01,romfile=/etc/shadow",
            "br0",
            "file",
            "block",
            "disk",
            "cdrom",
            "bridge",
            "network",
            "pci",
            "linux",
        ]
    ),
)


def _element(tag, children=None):
    return st.tuples(
        st.dictionaries(
            st.sampled_from(
                ["type", "device", "dev", "file", "bridge", "network", "address", "name", "bus"]
            ),
            attr_value,
            max_size=3,
        ),
        st.lists(children, max_size=3) if children is not None else st.just([]),
    ).map(lambda p: (tag, p[0], p[1]))


leaf = st.sampled_from(
    ["source", "target", "mac", "driver", "model", "rom", "address", "boot", "readonly"]
).flatmap(lambda t: _element(t))
device = st.sampled_from(
    [
        "disk",
        "interface",
        "hostdev",
        "filesystem",
        "console",
        "serial",
        "input",
        "graphics",
        "channel",
        "controller",
    ]
).flatmap(lambda t: _element(t, leaf))


def _xml(node):
    tag, attrs, children = node
    attr_text = "".join(f' {k}="{_escape(v)}"' for k, v in attrs.items())
    return f"<{tag}{attr_text}>" + "".join(_xml(c) for c in children) + f"</{tag}>"


def _escape(text):
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


domain_xml = st.tuples(
    st.sampled_from(["xen", "kvm", ""]),
    attr_value,
    st.lists(device, max_size=6),
    st.sampled_from(
        [
            "",
            "<os><type>linux</type></os>",
            "<os><type>hvm</type><loader>/usr/lib/xen/boot/hvmloader</loader></os>",
        ]
    ),
).map(
    lambda p: (
        f'<domain type="{p[0]}"><name>{_escape(p[1])}</name>{p[3]}<devices>'
        + "".join(_xml(d) for d in p[2])
        + "</devices></domain>"
    )
)


def _convert(domain):
    opts = convert.ConvertOptions(
        emulator="/usr/bin/qemu-kvm", check_disks=False, output_dir=OUT_DIR
    )
    try:
        dropped = convert.convert(domain, opts)
    except InputError:
        return
    assert all(isinstance(d, str) and "\n" not in d for d in dropped)
    root = domain.root
    for source in root.findall("./devices/disk/source"):
        path = source.get("file") or source.get("dev") or ""
        if source.get("file") and os.path.isabs(path):
            real = os.path.normpath(path)
            assert real.startswith(OUT_DIR + "/"), path  # -os DIR: the disks stay there
    for tag in ("hostdev", "filesystem", "channel"):
        assert root.find(f"./devices/{tag}") is None
    for mac in root.findall("./devices/interface/mac"):
        assert values.MAC_RE.fullmatch(mac.get("address", "").lower())


@given(st.one_of(domain_xml, st.text(max_size=300)))
def test_domain_xml_parses_or_is_refused(text):
    try:
        domain = Domain.from_string(text)
        domain.macs()
        domain.guest_disks()
    except InputError:
        return
    _convert(domain)


@given(st.one_of(domain_xml, st.text(max_size=300)))
def test_a_migration_record_reads_or_is_refused(text):
    try:
        record = marker.read(text)
    except (InputError, ValueError):
        # ValueError: a record whose size or mtime is not a number
        return
    assert record is None or isinstance(record.disks, list)


# -- the sparse tar stream ------------------------------------------------------------
class _Sink:
    """Where the decoder writes: it must stay inside the disk."""

    def __init__(self, size):
        self.size, self.written = size, []

    def data(self, reader, offset, length):
        assert 0 <= offset and offset + length <= self.size
        reader.read(length)
        self.written.append((offset, length))

    def hole(self, length):
        assert length >= 0


def _header(kind, size):
    block = bytearray(512)
    block[124:136] = f"{size:011o}\0".encode()
    block[156:157] = kind
    return bytes(block)


tar_like = st.one_of(
    st.binary(max_size=3000),
    st.tuples(
        st.integers(0, 5000),
        st.binary(max_size=600),
        st.lists(st.tuples(st.integers(-5, 1 << 20), st.integers(-5, 1 << 16)), max_size=5),
    ).map(
        lambda p: (
            _header(b"x", 40)
            + b"30 GNU.sparse.major=1\n".ljust(512, b"\0")
            + _header(b"0", p[0])
            + (f"{len(p[2])}\n" + "".join(f"{o}\n{n}\n" for o, n in p[2]))
            .encode()
            .ljust(512, b"\0")
            + p[1]
        )
    ),
)


@given(tar_like, st.integers(0, 1 << 20))
def test_the_sparse_tar_stream_is_read_or_refused(data, size):
    sink = _Sink(size)
    reader = stream._CountingReader(io.BytesIO(data))
    try:
        stream._untar_sparse(reader, sink, size)
    except (RemoteHostError, stream._ShortStream):
        return


# -- the probe's report ---------------------------------------------------------------
probe_line = st.one_of(
    st.text(max_size=80),
    st.tuples(
        st.sampled_from(
            ["begin", "end", "mount", "swap", "failed", "nic", "state", "cmdline", "other"]
        ),
        st.text(max_size=60),
    ).map(lambda p: f"GUESTFIX-PROBE {p[0]} {p[1]}"),
)


@given(st.lists(probe_line, max_size=30).map("\n".join))
def test_the_probe_report_always_parses(console):
    probe = parse_probe(console)
    assert set(probe) >= {"mounts", "swap", "failed", "nics", "complete"}
    assert all(isinstance(m, dict) for m in probe["mounts"])
