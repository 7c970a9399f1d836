"""The in-guest conversion: one libguestfs session on the stopped disks.

    session.py          the one session: add, launch (launchwatch.py; qemuprobe.py
                        refuses a hypervisor path libguestfs overflows), inspect,
                        mount; files and commands (appliancedisks.py, jobs.py)
    guest.py            GuestTree: what steps may read and run
    facts.py            GuestFacts: what the guest is and where Xen shows
                        (netconfig.py, grubdefaults.py read its files)
    packages.py         a missing kernel or boot loader, and how to install it
    plan.py             the Changes steps plan (edits, links, commands)
    steps/              one module per fix-up, their order derived
    transaction.py      throwaway overlays, or journaled ones committed (recover)
    run.py              the fix run: facts, steps in order, report (fixed_overlays)
    inspector.py        `guestfix inspect`
    directboot.py       kernel and initrd copied out for direct kernel boot

Imports: core/, disks/ (overlays, images); never sources/, outputs/ or domain/.
"""
