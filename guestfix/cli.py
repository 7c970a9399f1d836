"""The guestfix command line: parse options, call, render. Nothing else.

Exit codes: guestfix.errors.EXIT_CODES (also in `guestfix --help` and the README).
"""

import contextlib
import json
import os
import sys
import traceback

import click

from . import __version__, sources
from .core import errors
from .core.errors import GuestfixError, UsageError
from .core.signals import interrupt_on_termination
from .optionmodes import CheckedCommand

_debug = False
_command = None  # the subcommand being run, for its interrupt message

# What is true after each command was interrupted (exit 130): each cleans up
# in its own way, so one sentence cannot fit all.
AFTER_INTERRUPT = {
    "inspect": "nothing was written",
    "boot-check": "the disks were only read",
    "xml": "nothing was written",
    "define": "",
    "fix": "the disks are unchanged unless the commit had begun (the next run will say so)",
    "migrate": "the originals were only read and this run's outputs were removed",
    "backup": "the files this backup had written were removed",
    "recover": "run the same recover again for the disks not reported done above",
}


def interrupt_message(command):
    after = AFTER_INTERRUPT.get(command, "")
    return "guestfix: interrupted" + (f"; {after}" if after else "")


@click.group(
    help="Make stopped Xen guests (paravirtualized ones included) boot on KVM.",
    epilog="Exit codes:\n\n\b\n" + errors.help_text(),
)
@click.version_option(__version__, prog_name="guestfix")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug):
    global _debug, _command
    _debug = debug
    _command = click.get_current_context().invoked_subcommand


# Every command checks its options against the modes they belong to
# (optionmodes.RULES) before it does anything.
cli.command_class = CheckedCommand


def tcg_option(f):
    return click.option(
        "--tcg",
        is_flag=True,
        help="Software emulation (TCG) instead of KVM, for hosts where KVM is missing or nested.",
    )(f)


def max_parallel_option(f):
    return click.option(
        "--max-parallel",
        type=click.IntRange(1),
        metavar="N",
        help="At most N fixes and migrations at once on this host; a run "
        "waits for a free slot (default: one per core and per 2 GiB "
        "of available memory).",
    )(f)


def package_options(f):
    f = click.option(
        "--online",
        is_flag=True,
        help="Let the guest install a missing kernel or boot loader from its "
        "own repositories (the appliance gets network access).",
    )(f)
    f = click.option(
        "--package",
        "package_paths",
        multiple=True,
        metavar="FILE|DIR",
        help="Package files (.deb/.rpm) for a missing default kernel or boot "
        "loader, installed offline with the guest's dpkg/rpm. Repeatable.",
    )(f)
    return f


def disk_options(f):
    f = click.option(
        "--domain",
        "domain",
        metavar="XML",
        help="The guest's libvirt domain XML: disks, order and MACs come from it.",
    )(f)
    f = click.option(
        "--format",
        "fmt",
        type=click.Choice(["raw", "qcow2"]),
        help="Format of the DISKs (default: read from each image's header).",
    )(f)
    f = click.option(
        "--allow-backing", is_flag=True, help="Accept qcow2 disks that have a backing file."
    )(f)
    f = click.argument("disk_paths", metavar="DISK...", nargs=-1)(f)
    return f


INPUT_MODES = sources.MODES
INPUT_URI_HELP = (
    "Where the source is: a libvirt URI for -i libvirt (xen+ssh://root@host/ "
    "reads the disks over ssh too), ssh://[USER@]HOST[:PORT] for -i xl, "
    "https://[USER@]MASTER[?no_verify=1] for -i xapi."
)


def input_password_option(f):
    return click.option(
        "-ip",
        "input_password_file",
        default="",
        metavar="FILE",
        help="-i xapi: the password is FILE's first line (else $GUESTFIX_XAPI_PASSWORD).",
    )(f)


def source_options(f):
    """-i/-ic for commands that otherwise take disk paths: with -i, the one
    argument is a source as migrate reads it."""
    f = input_password_option(f)
    f = click.option("-ic", "input_uri", default="", metavar="URI", help=INPUT_URI_HELP)(f)
    f = click.option(
        "-i",
        "input_mode",
        type=click.Choice(INPUT_MODES),
        default=None,
        help="Read the guest as migrate does: the argument is then a domain "
        "XML, a libvirt domain name, an xl.cfg, an XVA export or a pool's VM.",
    )(f)
    return f


def _open_source(input_mode, input_uri, args, allow_backing=False, password_file=""):
    """(Source, SourceGuest) for `-i MODE [-ic URI] SOURCE`."""
    if len(args) != 1:
        raise UsageError(f"-i {input_mode} takes one SOURCE, not {len(args)} arguments")
    source = sources.source_for(input_mode, input_uri, allow_backing, password_file)
    return source, source.open(args[0])


def _confirmation(question, yes, json_mode, no_terminal):
    """The confirm(report) a writing command asks before it writes: None
    with --yes or --json (nobody to ask); without a terminal to ask on, the
    `no_terminal` error."""
    if yes or json_mode:
        return None
    if not sys.stdin.isatty():
        raise no_terminal
    from . import render

    def confirm(report):
        render.changes(report, diffs=True)
        return click.confirm(question, default=False)

    return confirm


def _online_offer(yes, json_mode):
    """The offer_online(error) of fix and migrate: when the guest lacks a
    package and nothing was given to install it from, an interactive run
    asks whether the guest may fetch it from its own repositories (what
    --online does). None where nobody can be asked."""
    if yes or json_mode or not sys.stdin.isatty():
        return None

    def offer(error):
        click.echo(f"guestfix: {error.args[0]}", err=True)
        return click.confirm(
            f"Let the guest fetch {' and '.join(error.packages)} from its own "
            "repositories now (as --online does)?",
            default=False,
        )

    return offer


def _emit_json(data):
    click.echo(json.dumps(data, indent=2, default=str))


# -- inspect ------------------------------------------------------------------
@cli.command(help="Report what is in the guest and what `fix` would change (read-only).")
@disk_options
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object.")
@click.option("--root", help="The OS root device when the disks hold several.")
@source_options
@tcg_option
def inspect(
    disk_paths,
    domain,
    fmt,
    allow_backing,
    json_mode,
    root,
    input_mode,
    input_uri,
    input_password_file,
    tcg,
):
    from . import render
    from .core import progress
    from .disks import assembly
    from .fix import inspector
    from .fix.session import tcg_requested
    from .sources import disks

    monitor = progress.choose(json_mode)
    with contextlib.ExitStack() as scope:
        if input_mode:
            source, guest = _open_source(
                input_mode, input_uri, disk_paths, allow_backing, input_password_file
            )
            if guest.incoming is not None:  # an open export, a pool session
                scope.callback(guest.incoming.close)
            # an export's disks: read out of it for as long as this takes
            guest = scope.enter_context(source.readable(guest, monitor))
            found, macs = guest.disks, guest.domain.macs()
        else:
            found, _devmap, macs = disks.resolve(
                disk_paths, domain, fmt=fmt, allow_backing=allow_backing
            )
        # partition images are read as the one partitioned disk migrate makes
        kvm_disks, devmap = scope.enter_context(assembly.readable(found))
        result = inspector.inspect(
            kvm_disks, devmap, macs, monitor, tcg=tcg_requested(tcg), root=root
        )
    if json_mode:
        _emit_json(result)
    else:
        render.inspection(result)


# -- fix ----------------------------------------------------------------------
@cli.command(help="Fix the guest inside its disks so it boots on KVM (transactional).")
@disk_options
@click.option(
    "--dry-run", is_flag=True, help="Do the work on throwaway overlays and show the diffs."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before writing.")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON report.")
@click.option("--root", help="The OS root device when the disks hold several.")
@click.option(
    "--direct-boot",
    "direct_boot_dir",
    metavar="DIR",
    help="Also copy the boot kernel and initrd to DIR for direct kernel boot "
    "(for disks that cannot carry boot code).",
)
@max_parallel_option
@package_options
@tcg_option
def fix(
    disk_paths,
    domain,
    fmt,
    allow_backing,
    dry_run,
    yes,
    json_mode,
    root,
    direct_boot_dir,
    max_parallel,
    package_paths,
    online,
    tcg,
):
    from . import render
    from .core import progress, slots
    from .domain import firmware
    from .domain.model import Domain
    from .fix import run as fix_run
    from .fix.packages import PackageSource
    from .fix.session import tcg_requested
    from .sources import disks

    packages = PackageSource.from_options(package_paths, online)
    # fix edits the disks in place: partition images cannot become one
    # partitioned disk that way, so they are refused first.
    found, devmap, macs = disks.resolve(
        disk_paths,
        domain,
        writable=not dry_run,
        fmt=fmt,
        allow_backing=allow_backing,
        whole_disks=True,
    )
    monitor = progress.choose(json_mode)
    confirm = (
        None
        if dry_run
        else _confirmation(
            "Write these changes to the disks?",
            yes,
            json_mode,
            UsageError(
                "fix would change the disks and there is no terminal to ask",
                hint="pass --yes, or --dry-run to see the changes",
            ),
        )
    )
    source_domain = Domain.from_file(domain) if domain else None
    opts = fix_run.FixOptions(
        macs=macs,
        tcg=tcg_requested(tcg),
        root=root,
        packages=packages,
        dry_run=dry_run,
        boot_args=source_domain.boot_args() if source_domain else "",
        xen_pv=bool(source_domain and source_domain.is_pv),
        firmware=firmware.of(source_domain).kind if source_domain else "",
        offer_online=_online_offer(yes, json_mode),
    )
    with slots.held(max_parallel, f"fix {' '.join(disk_paths) or domain}", monitor):
        report = fix_run.fix_disks(
            found, devmap, monitor, opts, confirm=confirm, direct_boot_dir=direct_boot_dir
        )
    if json_mode:
        _emit_json(report.as_dict())
    else:
        render.fix_report(report, diffs=dry_run)


# -- boot-check -----------------------------------------------------------------
@cli.command(
    "boot-check",
    help="Boot the disks under QEMU (on throwaway overlays) and "
    "check the guest reaches its login prompt.",
)
@disk_options
@click.option(
    "--timeout",
    default=600,
    show_default=True,
    type=click.IntRange(10),
    help="Seconds to wait for the login prompt.",
)
@click.option(
    "--memory",
    default=1024,
    show_default=True,
    type=click.IntRange(256),
    help="Guest memory in MiB.",
)
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON report.")
@click.option(
    "--console-log",
    type=click.Path(dir_okay=False),
    help="Also save the whole serial console to this file.",
)
@tcg_option
def boot_check(
    disk_paths, domain, fmt, allow_backing, timeout, memory, json_mode, console_log, tcg
):
    from . import bootcheck, render
    from .core import progress
    from .core.errors import BootCheckFailed
    from .domain import firmware
    from .domain.model import Domain
    from .fix.session import tcg_requested
    from .sources import disks

    found, _devmap, macs = disks.resolve(disk_paths, domain, fmt=fmt, allow_backing=allow_backing)
    monitor = progress.choose(json_mode)
    result = bootcheck.boot_check(
        found,
        monitor,
        timeout=timeout,
        memory=memory,
        tcg=tcg_requested(tcg),
        macs=macs,
        console_log=console_log,
        # the domain's firmware; without a domain, what the first disk holds
        firmware=firmware.of(Domain.from_file(domain)).kind if domain else None,
    )
    if json_mode:
        _emit_json(result.as_dict())
    else:
        render.boot_result(result)
    if not result.passed:
        raise BootCheckFailed(
            f"the guest did not reach its login prompt (stopped at: {result.stage})",
            quiet=json_mode,
        )


# -- xml ------------------------------------------------------------------------
def mapping_options(f):
    f = click.option(
        "--keep-element",
        "keep_elements",
        multiple=True,
        metavar="NAME",
        help="Keep the source domain's elements of this kind (hostdev, filesystem, "
        "qemu:commandline ...), which are dropped otherwise: they name the Xen host's "
        "devices and files. Repeatable.",
    )(f)
    f = click.option(
        "--map-file",
        type=click.Path(dir_okay=False),
        help="Network mappings in /etc/virt-v2v.conf's format.",
    )(f)
    f = click.option(
        "--mac",
        "macs",
        multiple=True,
        metavar="MAC:network|bridge:OUT",
        help="Map the NIC with this MAC (wins over other mappings).",
    )(f)
    f = click.option(
        "-n",
        "--network",
        "networks",
        multiple=True,
        metavar="[IN:]OUT",
        help="Map source network IN (or every other network) to OUT.",
    )(f)
    f = click.option(
        "-b",
        "--bridge",
        "bridges",
        multiple=True,
        metavar="[IN:]OUT",
        help="Map source bridge IN (or every other bridge) to OUT.",
    )(f)
    return f


@cli.command("xml", help="Rewrite a Xen domain for KVM and print it (or write --out FILE).")
@click.argument("source")
@click.option(
    "-i",
    "input_mode",
    type=click.Choice(INPUT_MODES),
    default="libvirtxml",
    show_default=True,
    help="What SOURCE is.",
)
@click.option("-ic", "input_uri", default="", metavar="URI", help=INPUT_URI_HELP)
@input_password_option
@click.option(
    "-oc",
    "output_uri",
    default="",
    metavar="URI",
    help="Target libvirt connection: its KVM emulator is used.",
)
@click.option(
    "-os",
    "output_dir",
    default="",
    metavar="DIR",
    help="Directory the disks will live in; disk paths are rewritten.",
)
@click.option("-on", "new_name", default="", metavar="NAME", help="Rename (and give a new UUID).")
@click.option("--emulator", default="", help="Emulator path for the KVM domain.")
@click.option(
    "--virt-type",
    type=click.Choice(["kvm", "qemu"]),
    default="kvm",
    show_default=True,
    help="Domain type: qemu for hosts without KVM.",
)
@mapping_options
@click.option("--allow-backing", is_flag=True, help="Accept qcow2 disks with a backing file.")
@click.option(
    "--direct-boot",
    "direct_boot_file",
    metavar="JSON",
    help="Boot the guest's own kernel directly (the file `fix --direct-boot` wrote).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Write here (atomically) instead of stdout.",
)
@click.option("--print-diff", is_flag=True, help="Show the change as a unified diff (on stderr).")
def xml_command(
    source,
    input_mode,
    input_uri,
    input_password_file,
    output_uri,
    output_dir,
    new_name,
    emulator,
    virt_type,
    bridges,
    networks,
    macs,
    map_file,
    keep_elements,
    allow_backing,
    direct_boot_file,
    out_file,
    print_diff,
):
    from .core.devnames import is_partition_target
    from .domain import convert
    from .domain import networks as netmap
    from .fix import directboot

    reader = sources.source_for(input_mode, input_uri, password_file=input_password_file)
    domain = reader.load_domain(source)
    # not over ssh on the Xen host, nor inside an export still to be read
    disks_here = reader.host is None and reader.disks_exist
    before = domain.to_string()
    parts = [
        d.target for d in domain.disks() if d.device == "disk" and is_partition_target(d.target)
    ]
    if parts:
        # xml converts the domain only; the disks stay what they are
        click.echo(
            f"warning: {', '.join(parts)} are partition images: this domain names "
            "them as separate disks, which do not boot on KVM; `guestfix migrate "
            f"-i {input_mode} {source}` assembles them into one disk",
            err=True,
        )
    opts = convert.ConvertOptions(
        virt_type=virt_type,
        emulator=emulator,
        output_uri=output_uri,
        new_name=new_name,
        output_dir=os.path.abspath(output_dir) if output_dir else "",
        network_map=netmap.build(bridges, networks, macs, map_file),
        allow_backing=allow_backing,
        check_disks=disks_here and (input_mode != "libvirt" or bool(output_dir)),
        direct_kernel=directboot.load(direct_boot_file) if direct_boot_file else None,
        keep_elements=tuple(keep_elements),
    )
    for dropped in convert.convert(domain, opts):
        click.echo(f"guestfix: dropped: {dropped}", err=True)
    after = domain.to_string()
    if print_diff:
        click.echo(
            convert.unified_diff(before, after, os.path.basename(source) or "domain.xml"),
            err=True,
            nl=False,
        )
    if out_file:
        convert.write_atomically(out_file, after)
    else:
        click.echo(after, nl=False)


# -- define -------------------------------------------------------------------
@cli.command(help="Define a converted domain XML in libvirt.")
@click.argument("xml_file", metavar="FILE")
@click.option(
    "-oc",
    "output_uri",
    default="qemu:///system",
    show_default=True,
    metavar="URI",
    help="libvirt connection to define the domain on.",
)
@click.option("--replace", is_flag=True, help="Replace a domain with the same name or UUID.")
def define(xml_file, output_uri, replace):
    from .domain.define import define as do_define
    from .domain.model import Domain, read_text_file

    text = read_text_file(xml_file, "domain XML")
    Domain.from_string(text, xml_file)  # refuses bad XML before libvirt sees it
    name, uuid = do_define(text, output_uri, replace)
    click.echo(f"Domain {name} ({uuid}) defined on {output_uri}.")
    click.echo(
        f"Next: virsh -c {output_uri} start {name}   (then: virsh -c {output_uri} console {name})"
    )


# -- backup -------------------------------------------------------------------
@cli.command(
    help="Back up a guest (its domain XML and disks), verified by checksum. "
    "SOURCE is a domain XML or disk images, or with -i a source as migrate "
    "reads it (-i xl -ic ssh://HOST CFG: from the Xen host)."
)
@click.argument("source_args", metavar="SOURCE...", nargs=-1)
@click.option("--to", "dest", metavar="DIR", help="Directory for the backup.")
@click.option("--md5", is_flag=True, help="Also record md5 sums, as the guide uses.")
@click.option("--verify", "verify_dir", metavar="DIR", help="Re-check an existing backup.")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON report.")
@source_options
def backup(
    source_args, dest, md5, verify_dir, json_mode, input_mode, input_uri, input_password_file
):
    from . import render
    from .core import progress
    from .disks import backup as backup_mod

    monitor = progress.choose(json_mode)
    if verify_dir:
        manifest = backup_mod.verify(verify_dir, monitor)
        if json_mode:
            _emit_json({"directory": verify_dir, "verified": True, "disks": manifest["disks"]})
        else:
            click.echo(f"{verify_dir}: {len(manifest['disks'])} disk(s) match the manifest")
        return
    if not dest:
        raise UsageError("say where the backup goes", hint="--to DIR")
    if input_mode:
        source, guest = _open_source(
            input_mode, input_uri, source_args, password_file=input_password_file
        )
        try:
            report = source.backup(guest, dest, monitor, md5=md5)
        finally:
            if guest.incoming is not None:  # an open export, a pool session
                guest.incoming.close()
    else:
        report = backup_mod.backup(list(source_args), dest, monitor, md5=md5)
    if json_mode:
        _emit_json(report.as_dict())
    else:
        render.backup_report(report)


# -- migrate ------------------------------------------------------------------
@cli.command(
    help="The whole job: [backup] -> fix -> copy -> xml -> define [-> boot-check]. "
    "The originals are only read. With --start-early the guest starts before "
    "the copy, which runs while it runs."
)
@click.argument("source", required=False)
@click.option(
    "-i",
    "input_mode",
    type=click.Choice(INPUT_MODES),
    default="libvirtxml",
    show_default=True,
    help="What SOURCE is.",
)
@click.option("-ic", "input_uri", default="", metavar="URI", help=INPUT_URI_HELP)
@input_password_option
@click.option(
    "-o",
    "output_mode",
    type=click.Choice(["local", "libvirt"]),
    default="libvirt",
    show_default=True,
    help="Write to a directory, or to a libvirt pool + domain.",
)
@click.option(
    "-os",
    "output_storage",
    metavar="DIR|POOL",
    help="The directory (-o local) or storage pool (-o libvirt).",
)
@click.option(
    "-oc",
    "output_uri",
    default="qemu:///system",
    show_default=True,
    metavar="URI",
    help="Target libvirt connection (-o libvirt).",
)
@click.option("-on", "new_name", default="", metavar="NAME", help="Name of the new guest.")
@click.option(
    "-of",
    "output_format",
    type=click.Choice(["raw", "qcow2"]),
    help="Format of the new disks (default: as the source).",
)
@click.option(
    "-oa",
    "allocation",
    type=click.Choice(["sparse", "preallocated"]),
    default="sparse",
    show_default=True,
    help="Allocation of the new disks.",
)
@mapping_options
@click.option("--backup", "backup_dir", metavar="DIR", help="Back up the source here first.")
@click.option("--boot-check", is_flag=True, help="Boot the result and wait for its login prompt.")
@click.option("--boot-timeout", default=600, show_default=True, type=click.IntRange(10))
@click.option(
    "--start-early",
    is_flag=True,
    help="Start the guest on its fixed overlays, then copy its disks into the pool "
    "while it runs (-o libvirt): the downtime does not grow with the disks.",
)
@click.option(
    "--copy-bandwidth",
    type=click.IntRange(1),
    metavar="MIB/S",
    help="Limit each disk's copy while the guest runs (--start-early).",
)
@click.option(
    "--resume",
    "resume_name",
    metavar="NAME",
    help="Finish the copy of an interrupted --start-early of NAME (no SOURCE).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Fix on throwaway overlays and show the changes and the KVM domain; write nothing.",
)
@click.option(
    "--skip-migrated",
    is_flag=True,
    help="If the destination holds this source's guest, migrated by guestfix "
    "(the marker in its domain's metadata), report it and do nothing.",
)
@max_parallel_option
@click.option("--virt-type", type=click.Choice(["kvm", "qemu"]), default="kvm", show_default=True)
@click.option("--emulator", default="", help="Emulator path for the KVM domain.")
@click.option("--allow-backing", is_flag=True, help="Accept qcow2 disks with a backing file.")
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    help="Full log (default: /var/log/guestfix/NAME-TIME.log).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before writing.")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON report.")
@package_options
@tcg_option
def migrate(
    source,
    input_mode,
    input_uri,
    input_password_file,
    output_mode,
    output_storage,
    output_uri,
    new_name,
    output_format,
    allocation,
    bridges,
    networks,
    macs,
    map_file,
    keep_elements,
    backup_dir,
    boot_check,
    boot_timeout,
    start_early,
    copy_bandwidth,
    resume_name,
    dry_run,
    skip_migrated,
    max_parallel,
    virt_type,
    emulator,
    allow_backing,
    log_file,
    yes,
    json_mode,
    package_paths,
    online,
    tcg,
):
    from . import migrate as migrate_mod
    from . import outputs, render
    from .core import progress, values
    from .core.errors import BootCheckFailed
    from .domain import networks as netmap
    from .fix.packages import PackageSource
    from .fix.session import tcg_requested

    if resume_name:
        return _resume(resume_name, json_mode)
    if not source:
        raise UsageError("missing SOURCE (a domain XML, or with -i a source as -i names)")
    sources.host_for(input_mode, input_uri)  # an -ic that does not fit -i: refused first
    opts = migrate_mod.MigrateOptions(
        input_mode=input_mode,
        input_uri=input_uri,
        input_password_file=input_password_file,
        output_mode=output_mode,
        output_storage=output_storage,
        output_uri=output_uri,
        new_name=new_name,
        output_format=output_format or "",
        allocation=allocation,
        network_map=netmap.build(bridges, networks, macs, map_file),
        keep_elements=tuple(keep_elements),
        backup_dir=backup_dir or "",
        boot_check=boot_check,
        boot_timeout=boot_timeout,
        tcg=tcg_requested(tcg),
        virt_type=virt_type,
        emulator=emulator,
        allow_backing=allow_backing,
        packages=PackageSource.from_options(package_paths, online),
        start_early=start_early,
        copy_bandwidth=copy_bandwidth or 0,
        dry_run=dry_run,
        skip_migrated=skip_migrated,
        max_parallel=max_parallel or 0,
    )
    outputs.check(opts)  # e.g. --start-early where the output cannot
    if new_name:
        values.name(new_name, "-on")
    confirm = (
        None
        if dry_run
        else _confirmation(
            "Create the migrated guest with these changes?",
            yes,
            json_mode,
            UsageError(
                "migrate writes a new guest and there is no terminal to ask", hint="pass --yes"
            ),
        )
    )
    if not log_file:
        log_file = migrate_mod.default_log_path(source, new_name)
    os.makedirs(os.path.dirname(os.path.abspath(log_file)), mode=0o700, exist_ok=True)
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(log_fd, "a") as log:
        monitor = progress.TeeMonitor(progress.choose(json_mode), progress.PlainMonitor(log))
        try:
            result = migrate_mod.migrate(
                source, opts, monitor, confirm, offer_online=_online_offer(yes, json_mode)
            )
        except BaseException as e:
            print(f"FAILED: {e}", file=log)
            raise
        print("DONE", file=log)
    if json_mode:
        _emit_json(dict(result.as_dict(), log=log_file))
    else:
        render.migrate_report(result, log_file)
    if result.boot and not result.boot.passed:
        raise BootCheckFailed(
            f"the migrated guest did not reach its login prompt (stopped at: {result.boot.stage})",
            quiet=json_mode,
        )


def _resume(name, json_mode):
    from . import render
    from .core import progress
    from .outputs import earlystart

    result = earlystart.resume(name, progress.choose(json_mode))
    if json_mode:
        _emit_json(result)
    else:
        render.resumed(result)


# -- recover -----------------------------------------------------------------
@cli.command(help="Finish or undo a commit that an interrupted `fix` left half done.")
@click.argument("disk_paths", metavar="DISK...", nargs=-1, required=True)
@click.option("--finish", is_flag=True, help="Write the rest of the changes.")
@click.option("--undo", is_flag=True, help="Restore the disks as they were.")
def recover(disk_paths, finish, undo):
    from .fix.transaction import recover as do_recover

    if finish == undo:
        raise UsageError("say --finish or --undo" + (", not both" if finish else ""))
    action = "finish" if finish else "undo"
    for path in do_recover(disk_paths, action):
        click.echo(f"{path}: {'changes completed' if action == 'finish' else 'restored'}")


def main(argv=None):
    # Disks, overlays, journals, logs and domains this run creates are its
    # owner's alone (a guest's disk is its owner's data); a pool's volumes
    # get the pool's permissions from libvirt.
    os.umask(0o077)
    interrupt_on_termination()
    try:
        rc = cli.main(args=argv, prog_name="guestfix", standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except click.exceptions.Abort:
        # click turns Ctrl-C (and our SIGTERM handler's KeyboardInterrupt)
        # into Abort after the commands' own clean-up has run.
        click.echo(interrupt_message(_command), err=True)
        sys.exit(errors.INTERRUPTED)
    except click.ClickException as e:
        # one line, as every other error (click's own shows the usage first)
        where = f"guestfix {_command} --help" if _command else "guestfix --help"
        hint = f" (see {where})" if isinstance(e, click.UsageError) else ""
        click.echo(f"guestfix: error: {e.format_message()}{hint}", err=True)
        sys.exit(e.exit_code)
    except GuestfixError as e:
        if _debug:
            traceback.print_exc()
        if not getattr(e, "quiet", False):
            click.echo(f"guestfix: error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo(interrupt_message(_command), err=True)
        sys.exit(errors.INTERRUPTED)
    except Exception as e:
        if _debug:
            traceback.print_exc()
        click.echo(
            f"guestfix: internal error: {e.__class__.__name__}: {e} "
            "(run with --debug for details)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
