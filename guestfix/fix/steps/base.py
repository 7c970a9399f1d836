"""What a fix-up step is: its declared contract, and what it plans from."""

from dataclasses import dataclass, field

from ..guest import GuestTree


@dataclass
class StepContext:
    facts: object  # GuestFacts
    devmap: object  # DeviceMap
    guest: GuestTree  # read-only: files and programs of the guest
    macs: list = field(default_factory=list)  # NIC MACs in domain order
    earlier: list = field(default_factory=list)  # Changes applied this run
    notes: list = field(default_factory=list)  # things the user must know
    packages: object = None  # PackageSource for missing kernel/boot loader
    direct_boot: bool = False  # the guest will be booted from its kernel directly
    boot_args: str = ""  # kernel arguments from the domain, when it booted dom0's kernel
    xen_pv: bool = False  # the domain ran paravirtualized (its console was hvc0)

    def changed(self, *steps):
        """True when one of the named steps changed something this run."""
        return any(c.step in steps for c in self.earlier)


class Step:
    """One fix-up. The class attributes are its contract, and the run order
    is derived from them (see order.py)."""

    name = ""
    title = ""
    changes = ""  # what this step may change
    reads = ()  # steps whose changes its plan depends on: ctx.changed(*self.reads)
    after = ()  # steps it must run after, beyond `reads`
    changes_facts = False  # the runner reads the facts again after it changed something
    # may use the network (--online); the appliance has network only until
    # the first step that does not
    uses_network = False

    def applies(self, facts):
        return True

    def plan(self, ctx):
        raise NotImplementedError
