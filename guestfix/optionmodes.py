"""Which options belong to which mode of a command: one table.

An option given where ignoring it would surprise is an error, never
silently ignored: `migrate -i xl -ic URI` would otherwise run and leave the
user believing the URI was used (a source or destination unused, a backup
or boot check not made). virt-v2v refuses the same way (for example `-oc`
with `-o local`). An option that is merely without effect is accepted:
`--yes` with `--dry-run`, which scripts pass everywhere, as `apt-get -s -y`
accepts it. What an output can do (--start-early) is its own declaration
(outputs/), not a rule here.

Each rule names the command, the click parameter, the option as the user
types it, when it applies (a test on the command's parameters) and that
condition in words. `check` is run by the command line before a command
does anything.
"""

from collections.abc import Callable
from dataclasses import dataclass

import click
from click.core import ParameterSource

from .core.errors import UsageError
from .sources import REMOTE_MODES


@dataclass(frozen=True)
class OptionRule:
    command: str
    param: str  # click's parameter name
    flag: str  # as typed on the command line
    applies: Callable[[dict], bool]  # given the command's parameters
    when: str  # the condition, in words
    mode: Callable[[dict], str] = None  # what this run chose instead, in words


def _input(p):
    return f"-i {p['input_mode']}"


def _output(p):
    return f"-o {p['output_mode']}"


def _packages_from_one_place(command):
    """--package and --online are two answers to one question."""
    return OptionRule(
        command,
        "online",
        "--online",
        lambda p: not p["package_paths"],
        "without --package (packages come from files or from the guest's repositories, not both)",
    )


def _not_with_verify(param, flag, why=""):
    """backup --verify DIR only reads the manifest: nothing else applies."""
    return OptionRule(
        "backup",
        param,
        flag,
        lambda p: not p["verify_dir"],
        f"when making a backup, not with --verify DIR{why}",
    )


def _remote_input(command):
    """-ic: a libvirt connection (-i libvirt), or the ssh host an xl.cfg is on."""
    return OptionRule(
        command,
        "input_uri",
        "-ic",
        lambda p: p["input_mode"] in REMOTE_MODES,
        "with -i libvirt (the source's libvirt connection), -i xl "
        "(ssh://[USER@]HOST[:PORT], the host the configuration is on) or -i xapi "
        "(https://[USER@]MASTER, the pool master)",
        lambda p: f"-i {p['input_mode'] or 'not given'}",
    )


def _password_input(command):
    """-ip: the password of a source that logs in (-i xapi)."""
    return OptionRule(
        command,
        "input_password_file",
        "-ip",
        lambda p: p["input_mode"] == "xapi",
        "with -i xapi (the pool master's password)",
        lambda p: f"-i {p['input_mode'] or 'not given'}",
    )


def _not_with_input(command, param, flag):
    """DISK arguments and a SOURCE given with -i are two ways to name disks."""
    return OptionRule(
        command,
        param,
        flag,
        lambda p: not p["input_mode"],
        "without -i (with -i, the disks come from SOURCE)",
        _input,
    )


def _not_with_resume(param, flag):
    """migrate --resume NAME takes everything from the run it finishes."""
    return OptionRule(
        "migrate",
        param,
        flag,
        lambda p: not p["resume_name"],
        "without --resume (which finishes a run with that run's own settings)",
    )


RESUME_EXCLUDES = [
    ("source", "SOURCE"),
    ("input_mode", "-i"),
    ("input_uri", "-ic"),
    ("output_mode", "-o"),
    ("output_storage", "-os"),
    ("output_uri", "-oc"),
    ("new_name", "-on"),
    ("output_format", "-of"),
    ("allocation", "-oa"),
    ("bridges", "--bridge"),
    ("networks", "--network"),
    ("macs", "--mac"),
    ("backup_dir", "--backup"),
    ("boot_check", "--boot-check"),
    ("start_early", "--start-early"),
    ("copy_bandwidth", "--copy-bandwidth"),
    ("package_paths", "--package"),
    ("online", "--online"),
    ("dry_run", "--dry-run"),
    ("skip_migrated", "--skip-migrated"),
    ("max_parallel", "--max-parallel"),
]


def _not_with_dry_run(param, flag, why):
    """migrate --dry-run stops after the fix and the domain: nothing is written."""
    return OptionRule(
        "migrate", param, flag, lambda p: not p["dry_run"], f"without --dry-run ({why})"
    )


DRY_RUN_EXCLUDES = [
    ("backup_dir", "--backup", "a backup is written"),
    ("boot_check", "--boot-check", "there is no migrated guest to boot"),
    ("start_early", "--start-early", "nothing is started"),
]

RULES = [
    # migrate
    *[_not_with_resume(param, flag) for param, flag in RESUME_EXCLUDES],
    _remote_input("migrate"),
    _password_input("migrate"),
    *[_not_with_dry_run(param, flag, why) for param, flag, why in DRY_RUN_EXCLUDES],
    OptionRule(
        "migrate",
        "copy_bandwidth",
        "--copy-bandwidth",
        lambda p: p["start_early"],
        "with --start-early (it limits the copy made while the guest runs)",
    ),
    OptionRule(
        "migrate",
        "output_uri",
        "-oc",
        lambda p: p["output_mode"] == "libvirt",
        "with -o libvirt (where the domain is defined)",
        _output,
    ),
    OptionRule(
        "migrate", "boot_timeout", "--boot-timeout", lambda p: p["boot_check"], "with --boot-check"
    ),
    _packages_from_one_place("migrate"),
    # xml
    _remote_input("xml"),
    _password_input("xml"),
    OptionRule(
        "xml",
        "output_uri",
        "-oc",
        lambda p: not p["emulator"],
        "without --emulator (-oc is where xml looks the emulator up)",
    ),
    # fix
    OptionRule(
        "fix",
        "direct_boot_dir",
        "--direct-boot",
        lambda p: not p["dry_run"],
        "without --dry-run (the kernel is copied out of the committed disks)",
    ),
    _packages_from_one_place("fix"),
    # inspect
    _remote_input("inspect"),
    _password_input("inspect"),
    _not_with_input("inspect", "domain", "--domain"),
    _not_with_input("inspect", "fmt", "--format"),
    # backup
    _remote_input("backup"),
    _password_input("backup"),
    _not_with_verify("input_mode", "-i"),
    _not_with_verify("source_args", "SOURCE", " (which reads the manifest)"),
    _not_with_verify("dest", "--to"),
    _not_with_verify("md5", "--md5", " (which checks what the manifest records)"),
]


def given(ctx, param):
    """Did the user give this parameter (rather than leave its default)?"""
    source = ctx.get_parameter_source(param)
    return source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def check(command, ctx):
    """Refuse the first option given outside the mode it belongs to."""
    for rule in RULES:
        if rule.command != command or not given(ctx, rule.param):
            continue
        if not rule.applies(ctx.params):
            chosen = f" (this run: {rule.mode(ctx.params)})" if rule.mode else ""
            raise UsageError(f"{rule.flag} applies only {rule.when}{chosen}")


class CheckedCommand(click.Command):
    """A click command whose options are checked against RULES first."""

    def invoke(self, ctx):
        check(self.name, ctx)
        return super().invoke(ctx)
