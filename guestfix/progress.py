"""Progress monitors: what the user sees while guestfix works.

Every long-running part of guestfix reports through one small interface,
so the same code drives a rich live view, plain log lines, or nothing at all
(JSON mode, where only the final report goes to stdout).
"""

import contextlib
import sys
import time


class Monitor:
    """Silent monitor; the interface the others implement."""

    @contextlib.contextmanager
    def stage(self, title):
        yield

    def note(self, text):
        pass

    def result(self, text):
        pass


class PlainMonitor(Monitor):
    """One line per event on stderr, for logs and non-interactive runs."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    def _print(self, text):
        print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def stage(self, title):
        started = time.monotonic()
        self._print(f"[....] {title}")
        try:
            yield
        except BaseException:
            self._print(f"[FAIL] {title} ({time.monotonic() - started:.1f}s)")
            raise
        self._print(f"[ ok ] {title} ({time.monotonic() - started:.1f}s)")

    def note(self, text):
        self._print(f"       {text}")

    def result(self, text):
        self._print(f"       -> {text}")


class RichMonitor(Monitor):
    """A spinner with elapsed time per stage, and a tick or cross after."""

    def __init__(self, console=None):
        from rich.console import Console
        self.console = console or Console(stderr=True)

    @contextlib.contextmanager
    def stage(self, title):
        started = time.monotonic()
        with self.console.status(f"[bold]{title}[/bold]", spinner="dots") as status:
            def tick():
                status.update(f"[bold]{title}[/bold] [dim]{time.monotonic() - started:.0f}s[/dim]")
            self._tick = tick
            try:
                yield
            except BaseException:
                self.console.print(f"[red]✗[/red] {title} [dim]({time.monotonic() - started:.1f}s)[/dim]")
                raise
            finally:
                self._tick = None
        self.console.print(f"[green]✓[/green] {title} [dim]({time.monotonic() - started:.1f}s)[/dim]")

    def note(self, text):
        self.console.print(f"  [dim]{text}[/dim]", highlight=False, markup=False)

    def result(self, text):
        self.console.print(f"  → {text}", highlight=False, markup=False)


def choose(json_mode=False, plain=False):
    if json_mode:
        return Monitor()
    if plain or not sys.stderr.isatty():
        return PlainMonitor()
    return RichMonitor()
