"""What every stage shares, and nothing stage-specific.

    errors.py     GuestfixError and its narrow subclasses; EXIT_CODES, the one
                  table of exit codes
    runner.py     commands run on this host, with a result object
    progress.py   the swappable monitors (rich, plain, silent, tee) and stage clocks
    signals.py    SIGTERM/SIGHUP unwind like Ctrl-C; clean-up holds a second one
    faults.py     test hooks: the declared points where a test fails or stalls a run
    slots.py      the per-host limit: flock slots (--max-parallel)
    state.py      where journals and early-start state are kept
    fsutil.py     atomic writes
    devnames.py   Xen device names -> virtio names, used by fix/ and domain/
    values.py     values from the Xen side (names, MACs, targets) checked where they enter

Imports: nothing of guestfix outside core/.
"""
