"""Signals: interruption unwinds like Ctrl-C, and clean-up is not cut short."""

import contextlib
import signal

INTERRUPTING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def interrupt_on_termination():
    """SIGTERM/SIGHUP unwind like Ctrl-C (KeyboardInterrupt), so every
    context manager on the way out cleans up."""

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)


@contextlib.contextmanager
def signals_held():
    """Hold Ctrl-C, SIGTERM and SIGHUP while the block runs (removing what
    a failed run created): a second interruption then arrives only after
    the clean-up is complete."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
