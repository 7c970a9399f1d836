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

    @contextlib.contextmanager
    def transfer(self, title, total):
        """Yields advance(nbytes) for a byte-counted job."""
        yield lambda n: None


def by_total(advance):
    """A transfer's advance(nbytes) for a reader that reports the bytes
    done so far."""
    done = 0

    def progress(total):
        nonlocal done
        advance(total - done)
        done = total

    return progress


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

    @contextlib.contextmanager
    def transfer(self, title, total):
        started = time.monotonic()
        state = {"done": 0, "shown": -1}

        def advance(n):
            state["done"] += n
            tenth = state["done"] * 10 // max(total, 1)
            if tenth != state["shown"]:
                state["shown"] = tenth
                rate = state["done"] / max(time.monotonic() - started, 1e-6) / (1 << 20)
                self._print(f"       {title}: {tenth * 10:3d}% ({rate:.0f} MiB/s)")

        with self.stage(title):
            yield advance


class RichMonitor(Monitor):
    """A spinner with elapsed time per stage, and a tick or cross after."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)

    @contextlib.contextmanager
    def stage(self, title):
        started = time.monotonic()
        with self.console.status(f"[bold]{title}[/bold]", spinner="dots"):
            try:
                yield
            except BaseException:
                self.console.print(
                    f"[red]✗[/red] {title} [dim]({time.monotonic() - started:.1f}s)[/dim]"
                )
                raise
        self.console.print(
            f"[green]✓[/green] {title} [dim]({time.monotonic() - started:.1f}s)[/dim]"
        )

    def note(self, text):
        self.console.print(f"  {text}", style="dim", highlight=False, markup=False)

    def result(self, text):
        self.console.print(f"  → {text}", highlight=False, markup=False)

    @contextlib.contextmanager
    def transfer(self, title, total):
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        started = time.monotonic()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task(title, total=total)
            yield lambda n: bar.advance(task, n)
        self.console.print(
            f"[green]✓[/green] {title} [dim]({time.monotonic() - started:.1f}s)[/dim]"
        )


class StageClock(Monitor):
    """Records how long each stage took (the report's "timings"), so a run
    shows where its time went without any extra output."""

    def __init__(self):
        self.stages = []

    @contextlib.contextmanager
    def stage(self, title):
        started = time.monotonic()
        try:
            yield
        finally:
            self.stages.append({"stage": title, "seconds": round(time.monotonic() - started, 2)})

    @contextlib.contextmanager
    def transfer(self, title, total):
        with self.stage(title):
            yield lambda n: None


class TeeMonitor(Monitor):
    """Shows through one monitor and logs everything through another."""

    def __init__(self, shown, logged):
        self.shown, self.logged = shown, logged

    @contextlib.contextmanager
    def stage(self, title):
        with self.logged.stage(title), self.shown.stage(title):
            yield

    def note(self, text):
        self.logged.note(text)
        self.shown.note(text)

    def result(self, text):
        self.logged.result(text)
        self.shown.result(text)

    @contextlib.contextmanager
    def transfer(self, title, total):
        with self.logged.transfer(title, total) as a, self.shown.transfer(title, total) as b:
            yield lambda n: (a(n), b(n))


def choose(json_mode=False):
    if json_mode:
        return Monitor()
    if not sys.stderr.isatty():
        return PlainMonitor()
    return RichMonitor()
