"""An nbdkit plugin (run by nbdkit's python plugin, never imported by
guestfix): one disk on a remote host, read range by range over ssh.

    nbdkit python nbd_remote_plugin.py command=JSON size=BYTES [reads=FILE]

`command` is the ssh argv (remote.RemoteImage.reader_command) whose
remote side answers each "OFFSET LENGTH" line with exactly LENGTH bytes.
With `reads`, each connection appends what it read (a JSON line) to FILE
when it closes, for the report.
Each NBD connection gets its own ssh process; requests on it are served
one at a time. Read-only: there is no pwrite.
"""

import builtins
import json
import subprocess

import nbdkit

API_VERSION = 2

_params = {}


def config(key, value):
    if key not in ("command", "size", "reads"):
        raise RuntimeError(f"unknown parameter {key}")
    _params[key] = value


def config_complete():
    if "command" not in _params or "size" not in _params:
        raise RuntimeError("command= and size= are required")


def thread_model():
    return nbdkit.THREAD_MODEL_SERIALIZE_REQUESTS


def open(readonly):
    proc = subprocess.Popen(json.loads(_params["command"]), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, bufsize=0)
    return {"proc": proc, "bytes": 0, "requests": 0}


def get_size(h):
    return int(_params["size"])


def can_write(h):
    return False


def pread(h, buf, offset, flags):
    proc = h["proc"]
    want = len(buf)
    try:
        proc.stdin.write(f"{offset} {want}\n".encode())
    except OSError:
        _lost(proc, offset, want)
    view, got = memoryview(buf), 0
    while got < want:
        n = proc.stdout.readinto(view[got:])
        if not n:
            _lost(proc, offset, want)
        got += n
    h["bytes"] += want
    h["requests"] += 1


def _lost(proc, offset, want):
    # guestfix reads this line from nbdkit's log to name the cause
    nbdkit.debug("remote reader ended")
    raise RuntimeError(f"guestfix-remote: the connection to the host was lost "
                       f"(reading {want} bytes at {offset}, exit {proc.poll()})")


def close(h):
    if "reads" in _params:
        with builtins.open(_params["reads"], "a") as f:
            f.write(json.dumps({"bytes": h["bytes"], "requests": h["requests"]}) + "\n")
    proc = h["proc"]
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
