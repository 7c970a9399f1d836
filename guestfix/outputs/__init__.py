"""Where a migration puts the guest (-o): its disks and its domain.

    base.py        the Output every mode is: naming, room, copying a fixed disk
    local.py       -o local -os DIR: images and NAME.xml in a directory
    pool.py        -o libvirt -os POOL: volumes in a pool, the domain defined
    earlystart/    --start-early: the guest runs while its disks are copied

One class per output mode, behind one interface:

    previous_migration(name)       guestfix's marker in a domain already
                                   there (domain/marker.py), or None
    prepare(name, disks, devmap)   refuse before any work: existing outputs,
                                   no room, no pool
    planned_path(disk)             where copy_disk would put it (--dry-run)
    copy_disk(overlay, disk, monitor) -> the new disk's entry in the report
    write_domain(xml_text) -> where the domain went
    undo()                         remove everything this run created
    close()                        release connections

An output that can run the guest before its disks are copied declares it
by being an earlystart.EarlyStartOutput. `emulator_uri` is the libvirt
connection whose emulator the domain should name ("" for the host's). A
new output is a new module and a row in OUTPUTS.

Imports: core/, disks/, domain/, bootcheck/ (the console's login prompt).
"""

from ..core.errors import UsageError
from .earlystart import EarlyStartOutput
from .local import LocalDirectory
from .pool import LibvirtPool

OUTPUTS = {cls.mode: cls for cls in (LocalDirectory, LibvirtPool)}
MODES = list(OUTPUTS)
EARLY_START_MODES = [mode for mode, cls in OUTPUTS.items() if issubclass(cls, EarlyStartOutput)]


def output_for(opts):
    check(opts)
    return OUTPUTS[opts.output_mode](opts)


def check(opts):
    """Refuse, before anything else, an output mode, -os or --start-early
    that cannot work together."""
    if opts.output_mode not in OUTPUTS:
        raise UsageError(f"-o {opts.output_mode}: use {' or '.join(OUTPUTS)}")
    if not opts.output_storage:
        raise UsageError(
            "-os is needed: "
            + " or ".join(f"{cls.description} (-o {mode})" for mode, cls in OUTPUTS.items())
        )
    if opts.start_early and opts.output_mode not in EARLY_START_MODES:
        raise UsageError(
            f"--start-early applies only with "
            f"{' or '.join(f'-o {m}' for m in EARLY_START_MODES)} (the guest runs "
            "in libvirt while its disks are copied into the pool) "
            f"(this run: -o {opts.output_mode})"
        )


__all__ = ["EARLY_START_MODES", "MODES", "OUTPUTS", "check", "output_for"]
