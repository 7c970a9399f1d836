"""Options given outside the mode they belong to are refused (exit 2, one
line), and the same options in their own mode are not: one table for
migrate, xml, fix, backup and recover, run through the real command line.
"""

import pytest
from conftest import guestfix

from guestfix import cli
from guestfix.optionmodes import RULES

# (command line, the option the error must name); None: not refused by a rule.
REFUSED = [
    (
        [
            "migrate",
            "g.cfg",
            "-i",
            "xl",
            "-ic",
            "xen+ssh://root@xenhost/",
            "-o",
            "local",
            "-os",
            "/tmp",
        ],
        "-ic",
    ),
    (["migrate", "g.xml", "-ic", "xen+ssh://root@xenhost/", "-o", "local", "-os", "/tmp"], "-ic"),
    (["migrate", "g.xml", "-o", "local", "-os", "/tmp", "-oc", "qemu:///system"], "-oc"),
    (["migrate", "g.xml", "-o", "local", "-os", "/tmp", "--boot-timeout", "60"], "--boot-timeout"),
    (
        ["migrate", "g.xml", "-o", "local", "-os", "/tmp", "--online", "--package", "/tmp"],
        "--online",
    ),
    (["xml", "g.cfg", "-i", "xl", "-ic", "xen+ssh://root@xenhost/"], "-ic"),
    (["xml", "g.xml", "-ic", "qemu:///system"], "-ic"),
    (
        ["xml", "g.xml", "-oc", "qemu:///system", "--emulator", "/usr/bin/qemu-system-x86_64"],
        "-oc",
    ),
    (["fix", "disk.img", "--dry-run", "--direct-boot", "/tmp/out"], "--direct-boot"),
    (["fix", "disk.img", "--online", "--package", "/tmp"], "--online"),
    (["backup", "--verify", "/tmp/b", "g.xml"], "SOURCE"),
    (["backup", "--verify", "/tmp/b", "--to", "/tmp/c"], "--to"),
    (["backup", "--verify", "/tmp/b", "--md5"], "--md5"),
    (["inspect", "disk.img", "-ic", "ssh://root@xenhost"], "-ic"),
    (["inspect", "g.cfg", "-i", "xl", "--domain", "g.xml"], "--domain"),
    (["inspect", "g.cfg", "-i", "xl", "--format", "raw"], "--format"),
    (["backup", "--verify", "/tmp/b", "-i", "xl"], "-i"),
    (["backup", "g.cfg", "-ic", "ssh://root@xenhost", "--to", "/tmp/b"], "-ic"),
    (["migrate", "g.cfg", "-i", "xl", "-ip", "pw", "-o", "local", "-os", "/tmp"], "-ip"),
    (["xml", "g.xva", "-i", "xva", "-ip", "pw"], "-ip"),
    (["inspect", "g.xml", "-i", "libvirtxml", "-ip", "pw"], "-ip"),
    (["backup", "g.cfg", "-i", "xl", "-ip", "pw", "--to", "/tmp/b"], "-ip"),
    (["recover", "disk.img", "--finish", "--undo"], "--undo"),
    (["recover", "disk.img"], "--finish"),
    (["migrate", "g.xml", "-o", "local", "-os", "/tmp", "--start-early"], "--start-early"),
    (["migrate", "g.xml", "-os", "pool", "--copy-bandwidth", "5"], "--copy-bandwidth"),
    (["migrate", "g.xml", "-os", "pool", "--dry-run", "--backup", "/tmp/b"], "--backup"),
    (["migrate", "g.xml", "-os", "pool", "--dry-run", "--boot-check"], "--boot-check"),
    (["migrate", "g.xml", "-os", "pool", "--dry-run", "--start-early"], "--start-early"),
]
# --resume NAME takes its settings from the run it finishes: any other is refused
RESUME_WITH = {
    "SOURCE": ["g.xml"],
    "-i": ["-i", "xl"],
    "-ic": ["-ic", "ssh://root@xenhost"],
    "-ip": ["-ip", "pw"],
    "-o": ["-o", "local"],
    "-os": ["-os", "pool"],
    "-oc": ["-oc", "qemu:///system"],
    "-on": ["-on", "web"],
    "-of": ["-of", "raw"],
    "-oa": ["-oa", "preallocated"],
    "--bridge": ["--bridge", "br0"],
    "--network": ["--network", "default"],
    "--mac": ["--mac", "00:16:3e:00:00:01:network:default"],
    "--backup": ["--backup", "/tmp/b"],
    "--boot-check": ["--boot-check"],
    "--start-early": ["--start-early"],
    "--copy-bandwidth": ["--copy-bandwidth", "5"],
    "--package": ["--package", "/tmp"],
    "--online": ["--online"],
    "--dry-run": ["--dry-run"],
    "--skip-migrated": ["--skip-migrated"],
    "--max-parallel": ["--max-parallel", "2"],
}
REFUSED += [(["migrate", "--resume", "web", *args], flag) for flag, args in RESUME_WITH.items()]

# The same options where they belong: whatever fails next, it is not the rule.
ACCEPTED = [
    [
        "migrate",
        "no-such.xml",
        "-i",
        "libvirt",
        "-ic",
        "qemu:///nowhere",
        "-o",
        "local",
        "-os",
        "/tmp",
    ],
    ["migrate", "no-such.xml", "-o", "libvirt", "-os", "pool", "-oc", "qemu:///nowhere", "--yes"],
    [
        "migrate",
        "no-such.xml",
        "-o",
        "local",
        "-os",
        "/tmp",
        "--boot-check",
        "--boot-timeout",
        "60",
        "--yes",
    ],
    ["xml", "no-such.xml", "-oc", "qemu:///nowhere"],
    ["fix", "no-such.img", "--dry-run"],
    ["backup", "no-such.xml", "--to", "/tmp/nowhere", "--md5"],
    ["inspect", "-i", "xl", "-ic", "ssh://root@nowhere.invalid", "/etc/xen/g.cfg"],
    ["xml", "-i", "xapi", "-ic", "https://nowhere.invalid", "-ip", "/no/such/pw", "vm"],
    ["migrate", "no-such.xml", "-os", "pool", "--start-early", "--copy-bandwidth", "5", "--yes"],
    ["migrate", "--resume", "no-such-guest", "--json"],
    [
        "migrate",
        "no-such.xml",
        "-o",
        "local",
        "-os",
        "/tmp",
        "--dry-run",
        "--skip-migrated",
        "--max-parallel",
        "2",
    ],
    ["fix", "no-such.img", "--max-parallel", "1", "--yes"],
    # scripts pass --yes everywhere; with --dry-run it is harmless (as apt-get -s -y)
    ["fix", "no-such.img", "--dry-run", "--yes"],
    ["migrate", "no-such.xml", "-o", "local", "-os", "/tmp", "--dry-run", "--yes"],
    [
        "backup",
        "-i",
        "xl",
        "-ic",
        "ssh://root@nowhere.invalid",
        "/etc/xen/g.cfg",
        "--to",
        "/tmp/nowhere",
    ],
]


@pytest.mark.parametrize("argv,flag", REFUSED, ids=[" ".join(a[:1] + [f]) for a, f in REFUSED])
def test_refused(argv, flag, tmp_path):
    r = guestfix(*argv)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("guestfix: error: "), r.stderr
    assert flag in lines[0], lines[0]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("argv", ACCEPTED, ids=[" ".join(a[:3]) for a in ACCEPTED])
def test_accepted_in_its_mode(argv):
    r = guestfix(*argv)
    assert r.returncode != 0  # the inputs do not exist ...
    assert "applies only" not in r.stderr, r.stderr  # ... but the option was fine


def test_every_rule_has_a_row_and_a_real_parameter():
    """A renamed option cannot leave its rule silently dead."""
    refused_flags = {(argv[0], flag) for argv, flag in REFUSED}
    for rule in RULES:
        command = cli.cli.commands[rule.command]
        assert rule.param in {p.name for p in command.params}, rule
        assert (rule.command, rule.flag) in refused_flags, rule
