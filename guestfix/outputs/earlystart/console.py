"""The running domain's serial console, read (never written) for its
login prompt: --boot-check of an early-started guest."""

import threading
import time

from ...bootcheck import LOGIN_RE, BootResult, stage_reached
from ...core.errors import LibvirtError
from ...domain.define import connect, libvirt_bindings

POLL_SECONDS = 0.5


_event_loop_started = False


def start_event_loop(libvirt):
    """libvirt delivers console data through its event loop; one thread
    runs it for the whole process."""
    global _event_loop_started
    if _event_loop_started:
        return
    libvirt.virEventRegisterDefaultImpl()

    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, name="libvirt-events", daemon=True).start()
    _event_loop_started = True


class ConsoleWatch:
    """The running domain's serial console, read on a thread: when its
    login prompt appeared. Only read; nothing is ever typed into it."""

    def __init__(self, uri, name, started):
        libvirt = libvirt_bindings()
        start_event_loop(libvirt)
        self.started, self.text, self.login_at = started, "", None
        self.conn = connect(uri)
        try:
            dom = self.conn.lookupByName(name)
            self.stream = self.conn.newStream(0)
            dom.openConsole(None, self.stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        except libvirt.libvirtError as e:
            self.conn.close()
            raise LibvirtError(
                f"cannot read the console of {name}: {e.get_error_message()}"
            ) from None
        self._thread = threading.Thread(target=self._read, name="console", daemon=True)
        self._thread.start()

    def _read(self):
        while True:
            try:
                data = self.stream.recv(4096)
            except Exception:
                return
            if not isinstance(data, bytes) or not data:
                return
            self.text += data.decode("utf-8", "replace")
            if self.login_at is None and LOGIN_RE.search(self.text.replace("\r", "")):
                self.login_at = round(time.time() - self.started, 1)

    def reading(self):
        return self._thread.is_alive()

    def wait_for_login(self, deadline):
        while self.login_at is None and time.time() < deadline and self.reading():
            time.sleep(POLL_SECONDS)
        return self.login_at

    def result(self):
        lines = [line for line in self.text.replace("\r", "").splitlines() if line.strip()]
        seen = self.login_at is not None
        return BootResult(
            passed=seen,
            stage="login" if seen else stage_reached(self.text, "", False, False),
            seconds=self.login_at or 0.0,
            tail="\n".join(lines[-25:]),
            console=self.text,
        )

    def close(self):
        try:
            self.stream.abort()
        except Exception:
            pass
        self.conn.close()
