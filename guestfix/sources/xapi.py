"""-i xapi -ic https://[USER@]MASTER[:PORT] NAME|UUID: a VM on a XenServer or
XCP-ng pool, through its master's API (XenAPI over HTTPS).

The VM is found by UUID or name (one VM, not a template or snapshot) and
must be halted. Its records (VM, VBDs, VDIs, VIFs, networks, guest
metrics) are the ones an export's ova.xml holds, so the domain is built by
the same code (domain/ovaxml.py). Each disk is pulled once from
`/export_raw_vdi` into where the output keeps it (disks/rawpull.py), as an
export's disks are read out of its stream.

The password comes from `-ip FILE` (virt-v2v's input password file: its
first line) or the environment (GUESTFIX_XAPI_PASSWORD), never the command
line. TLS is verified against the system's CAs (SSL_CERT_FILE names
another bundle, such as the pool's own certificate) unless the URI ends in
`?no_verify=1`, as virt-v2v's -ic takes it.
"""

import contextlib
import json
import os
import socket
import ssl
import time
import urllib.parse
import xmlrpc.client
from dataclasses import dataclass
from xml.parsers.expat import ExpatError

from ..core import values
from ..core.errors import InputError, RemoteHostError, UsageError
from ..core.progress import by_total
from ..disks import rawpull
from ..disks.image import Disk
from ..disks.storage import destination_errors, open_new_image
from ..domain import ovaxml
from .incoming import IncomingSource

PASSWORD_ENV = "GUESTFIX_XAPI_PASSWORD"
ORIGINATOR = "guestfix"
NULL_REF = ovaxml.NULL_REF


@dataclass(frozen=True)
class XapiUri:
    """-ic https://[USER@]HOST[:PORT][?no_verify=1], checked."""

    host: str
    port: int = 443
    user: str = "root"
    verify: bool = True

    @classmethod
    def parse(cls, uri):
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme != "https" or not parts.hostname:
            raise UsageError(f"-ic {uri}: -i xapi takes https://[USER@]MASTER[:PORT]")
        if parts.password is not None:
            raise UsageError(
                f"-ic: no password in the URI; give it with -ip FILE or {PASSWORD_ENV}"
            )
        query = urllib.parse.parse_qs(parts.query)
        if set(query) - {"no_verify"} or parts.path not in ("", "/"):
            raise UsageError(f"-ic {uri}: only ?no_verify=1 may follow the host")
        try:
            port = parts.port or 443
        except ValueError:
            raise UsageError(f"-ic {uri}: the port is not a number") from None
        if parts.hostname.startswith("-"):
            raise UsageError(f"-ic {uri}: {parts.hostname!r} is not a host name")
        return cls(
            host=values.path(parts.hostname, "-ic: the pool master"),
            port=port,
            user=values.path(urllib.parse.unquote(parts.username or "root"), "-ic: the user"),
            verify=query.get("no_verify", ["0"])[-1] != "1",
        )

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
        return f"https://{host}:{self.port}/"

    def __str__(self):
        return f"{self.user}@{self.host}" + (f":{self.port}" if self.port != 443 else "")

    def ssl_context(self):
        if self.verify:
            return ssl.create_default_context()
        return ssl._create_unverified_context()  # the user said so (?no_verify=1)


def read_password(password_file):
    """The password: -ip FILE's first line, else the environment's."""
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as e:
            raise InputError(f"-ip {password_file}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise InputError(f"-ip {password_file}: its first line is not UTF-8 text") from None
    # taken out of the environment: nothing this runs (qemu, libguestfs)
    # inherits it
    return os.environ.pop(PASSWORD_ENV, None)


class XapiSession:
    """A logged-in session on the pool master; `api` is its XenAPI proxy."""

    def __init__(self, uri, password):
        import XenAPI

        self.uri = uri
        self.session = XenAPI.Session(uri.url, transport=_Transport(context=uri.ssl_context()))
        with api_errors(uri, "login"):
            self.session.login_with_password(uri.user, password, "1.0", ORIGINATOR)
        self.api = self.session.xenapi

    @property
    def session_id(self):
        return self.session.handle

    def close(self):
        if self.session is not None:
            try:
                self.session.xenapi.session.logout()
            except Exception:  # the session ends with its timeout anyway
                pass
            self.session = None


class _Transport(xmlrpc.client.SafeTransport):
    """XML-RPC over TLS with a timeout: a stalled master is an error, not
    a hang."""

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = rawpull.TIMEOUT
        return conn


@contextlib.contextmanager
def api_errors(uri, what):
    """XenAPI's failures, TLS and network errors as one line."""
    from XenAPI import Failure

    where = f"{uri} ({what})"
    try:
        yield
    except ssl.SSLCertVerificationError as e:
        raise RemoteHostError(
            f"{where}: its TLS certificate is not trusted ({e.verify_message})",
            hint="name the pool's CA bundle in SSL_CERT_FILE, or add ?no_verify=1 to -ic",
        ) from None
    except Failure as e:
        details = [str(d) for d in (e.details or [])]
        if details[:1] == ["SESSION_AUTHENTICATION_FAILED"]:
            raise RemoteHostError(f"{where}: the user or password is wrong") from None
        raise RemoteHostError(f"{where}: xapi says {' '.join(details)[:300]}") from None
    except (socket.gaierror, ConnectionError, TimeoutError) as e:
        raise RemoteHostError(f"{where}: cannot connect ({e})") from None
    except (OSError, xmlrpc.client.Error) as e:
        raise RemoteHostError(f"{where}: {e}") from None
    except ExpatError:
        raise RemoteHostError(
            f"{where}: the answer is not XML-RPC (is it a pool master?)"
        ) from None


def find_vm(api, arg, where):
    """The one VM named by UUID or name label: (ref, record)."""
    from XenAPI import Failure

    try:
        refs = [api.VM.get_by_uuid(values.uuid(arg, "the VM"))]
    except InputError:  # not a UUID: a name
        refs = api.VM.get_by_name_label(arg)
    except Failure as e:
        if (e.details or [""])[0] != "UUID_INVALID":
            raise
        refs = []
    vms = [
        (ref, rec)
        for ref, rec in ((ref, api.VM.get_record(ref)) for ref in refs)
        if not (
            rec.get("is_a_template") or rec.get("is_a_snapshot") or rec.get("is_control_domain")
        )
    ]
    if not vms:
        raise InputError(f"{where}: no VM {arg!r}")
    if len(vms) > 1:
        uuids = ", ".join(rec.get("uuid", "?") for _ref, rec in vms)
        raise InputError(f"{where}: {len(vms)} VMs are named {arg!r}; name one by UUID ({uuids})")
    return vms[0]


def vm_objects(api, vm_ref, vm):
    """The VM's records as ova.xml's `objects` ({class, id, snapshot})."""
    objects = [{"class": "VM", "id": vm_ref, "snapshot": vm}]

    def add(cls, ref, getter):
        if ref and ref != NULL_REF:
            objects.append({"class": cls, "id": ref, "snapshot": getter(ref)})

    for vbd_ref in vm.get("VBDs") or []:
        vbd = api.VBD.get_record(vbd_ref)
        objects.append({"class": "VBD", "id": vbd_ref, "snapshot": vbd})
        if str(vbd.get("type", "")).lower() == "disk":
            add("VDI", vbd.get("VDI"), api.VDI.get_record)
    for vif_ref in vm.get("VIFs") or []:
        vif = api.VIF.get_record(vif_ref)
        objects.append({"class": "VIF", "id": vif_ref, "snapshot": vif})
        add("network", vif.get("network"), api.network.get_record)
    add("VM_guest_metrics", vm.get("guest_metrics"), api.VM_guest_metrics.get_record)
    return objects


@dataclass
class PullStats:
    bytes_read: int = 0
    seconds: float = 0.0

    def as_dict(self):
        return {"bytes_read": self.bytes_read, "seconds": round(self.seconds, 1)}

    def summary(self):
        rate = self.bytes_read / max(self.seconds, 1e-6) / 1e6
        return f"pulled {self.bytes_read / 1024**2:.0f} MiB from the pool ({rate:.0f} MB/s)"


@dataclass
class PoolDisks:
    """A halted VM's disks, still on its pool's SRs (SourceGuest.incoming,
    sources/incoming.py)."""

    session: XapiSession
    vdis: dict  # Xen target -> XvaDisk (its `vdi`: the VDI's ref)
    uuids: dict  # VDI ref -> its UUID
    records: str  # the VM's records as read, JSON (kept by backup)
    size_bound: int = 0  # what the VDIs take on their SRs

    def origin_of(self, target):
        return f"https://{self.session.uri.host}/VDI/{self.uuids[self.vdis[target].vdi]}"

    def description(self, name):
        return f"{name}.xapi.json", self.records

    def read_into(self, paths, monitor, premade=()):
        """Each VDI pulled once into paths[target], a new file or one of
        `premade` (made empty for it): (the Disks, PullStats). The files
        this made are removed again on error."""
        stats, started, created = PullStats(), time.monotonic(), []
        try:
            for target, xdisk in self.vdis.items():
                stats.bytes_read += self._pull(
                    target, xdisk, paths[target], monitor, premade, created
                )
        except BaseException:
            for path in created:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise
        finally:
            self.close()
        stats.seconds = time.monotonic() - started
        disks = [
            Disk(path=paths[t], format="raw", target=t, virtual_size=d.virtual_size)
            for t, d in self.vdis.items()
        ]
        return disks, stats

    def _pull(self, target, xdisk, path, monitor, premade, created):
        uuid = self.uuids[xdisk.vdi]
        query = urllib.parse.urlencode(
            {"session_id": self.session.session_id, "vdi": uuid, "format": "raw"}
        )
        with monitor.transfer(f"pulling {target}", xdisk.virtual_size) as advance:
            progress = by_total(advance)
            # the URL carries the session: it is never shown
            fd = open_new_image(path, created, premade)
            # what fails beyond the connection's errors is the destination's
            try:
                with destination_errors(path):
                    return rawpull.pull(
                        f"{self.session.uri.url}export_raw_vdi?{query}",
                        self.session.uri.ssl_context(),
                        fd,
                        xdisk.virtual_size,
                        progress,
                        f"{self.session.uri}: VDI {uuid}",
                    )
            finally:
                os.close(fd)

    def close(self):
        self.session.close()


class XapiPool(IncomingSource):
    mode = "xapi"

    def __init__(self, input_uri="", allow_backing=False, password_file=""):
        super().__init__(input_uri, allow_backing, password_file)
        self.pool = self.host_for(input_uri)
        self.host = None  # not an ssh host: nothing of the ssh source applies

    @classmethod
    def host_for(cls, input_uri):
        if not input_uri:
            raise UsageError("-i xapi needs -ic https://[USER@]MASTER, the pool master")
        return XapiUri.parse(input_uri)

    def _connect(self):
        password = read_password(self.password_file)
        if password is None:
            raise UsageError(
                f"-i xapi: the password of {self.pool} is not given",
                hint=f"-ip FILE (its first line), or {PASSWORD_ENV} in the environment",
            )
        return XapiSession(self.pool, password)  # the password is not kept

    def _read(self, arg, session):
        with api_errors(self.pool, f"VM {arg}"):
            vm_ref, vm = find_vm(session.api, arg, str(self.pool))
            objects = vm_objects(session.api, vm_ref, vm)
        xen_guest = ovaxml.guest_from_export(
            {"version": {"hostname": self.pool.host}, "objects": objects},
            lambda _name, disk: f"https://{self.pool.host}/VDI/{disk.vdi}",
            f"{self.pool}: VM {arg}",
        )
        return vm, objects, xen_guest

    def load_domain(self, arg):
        session = self._connect()
        try:
            return self._read(arg, session)[2].domain
        finally:
            session.close()

    def open(self, arg):
        session = self._connect()
        try:
            vm, objects, xen_guest = self._read(arg, session)
            state = str(vm.get("power_state", ""))
            if state != "Halted":
                raise InputError(
                    f"{self.pool}: VM {xen_guest.domain.name} is {state.lower() or 'not halted'}; "
                    "guestfix migrates stopped guests",
                    hint=f"xe vm-shutdown uuid={xen_guest.domain.root.findtext('uuid')}",
                )
            by_ref = {o["id"]: o["snapshot"] for o in objects}
            incoming = PoolDisks(
                session=session,
                vdis={d.target: d for d in xen_guest.disks},
                uuids={
                    d.vdi: values.uuid(by_ref[d.vdi].get("uuid", ""), f"{self.pool}: VDI {d.vdi}")
                    for d in xen_guest.disks
                },
                records=json.dumps(objects, indent=1, default=str),
                size_bound=sum(
                    _int(by_ref[d.vdi].get("physical_utilisation")) for d in xen_guest.disks
                ),
            )
        except BaseException:
            session.close()
            raise
        return self.guest(arg, xen_guest, incoming)


def _int(value):
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0
