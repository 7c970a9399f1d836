"""A stand-in for a XenServer/XCP-ng pool master (no xapi runs here): the
part of its API `-i xapi` uses, over HTTPS, written from xapi's published
API reference.

- XML-RPC at `/`: every call answers xapi's envelope, {"Status": "Success",
  "Value": ...} or {"Status": "Failure", "ErrorDescription": [CODE, ...]};
  session.login_with_password / logout, VM.get_by_uuid,
  VM.get_by_name_label and get_record for VM, VBD, VDI, VIF, network and
  VM_guest_metrics. References are "OpaqueRef:<uuid>", int64 fields
  strings, as xapi sends them.
- GET `/export_raw_vdi?session_id=&vdi=UUID&format=raw`: the VDI's whole
  contents (zeros included), answered first with a redirect to the host
  that "has the SR", as a master does for a VDI on another host's SR.

The records are the ones tests/xva_writer.py puts in an export's ova.xml,
so an XVA and this pool describe the same VM alike."""

import http.server
import os
import ssl
import subprocess
import threading
import urllib.parse
import uuid
import xmlrpc.client

from xva_writer import ova_xml

from guestfix.domain import ovaxml

CHUNK = 1024**2


def self_signed_cert(directory):
    """(certificate, key) for 127.0.0.1, made by openssl."""
    cert, key = os.path.join(directory, "pool.pem"), os.path.join(directory, "pool.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class StandInPool:
    """One pool master serving VMs given as xva_writer describes them."""

    def __init__(self, directory, user="root", password="secret"):
        self.user, self.password = user, password
        self.cert, key = self_signed_cert(directory)
        self.records = {}  # ref -> (class, record)
        self.images = {}  # VDI uuid -> (path, size)
        self.sessions = set()
        self.served = {}  # VDI uuid -> bytes sent
        self.calls = []
        handler = type("Handler", (_Handler,), {"pool": self})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def uri(self):
        return f"https://{self.user}@127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def add_vm(self, vm, disks, nics, power_state="Halted"):
        """The VM (pv_vm()) with its disks ({path, size, device, userdevice})
        and NICs; returns its UUID."""
        export = ovaxml.parse(ova_xml(vm, disks, nics))
        refs = {o["id"]: f"OpaqueRef:{uuid.uuid4()}" for o in export["objects"]}

        def relabel(value):
            if isinstance(value, str):
                return refs.get(value, value)
            if isinstance(value, list):
                return [relabel(v) for v in value]
            if isinstance(value, dict):
                return {k: relabel(v) for k, v in value.items()}
            return value

        vm_uuid = str(uuid.uuid4())
        for obj in export["objects"]:
            record = relabel(obj["snapshot"])
            if obj["class"] == "VM":
                record.update(uuid=vm_uuid, power_state=power_state)
            if obj["class"] == "VDI":
                record["uuid"] = str(uuid.uuid4())
                disk = next(d for d in disks if d.get("vdi") == obj["id"])
                self.images[record["uuid"]] = (str(disk["path"]), int(record["virtual_size"]))
                record["physical_utilisation"] = str(os.stat(disk["path"]).st_blocks * 512)
            self.records[refs[obj["id"]]] = (obj["class"], record)
        return vm_uuid

    # -- the API ---------------------------------------------------------------
    def call(self, method, params):
        self.calls.append(method)
        if method == "session.login_with_password":
            user, password = params[0], params[1]
            if (user, password) != (self.user, self.password):
                return _failure("SESSION_AUTHENTICATION_FAILED", user, "Authentication failure")
            session = f"OpaqueRef:{uuid.uuid4()}"
            self.sessions.add(session)
            return _success(session)
        if not params or params[0] not in self.sessions:
            return _failure("SESSION_INVALID", str(params[0] if params else ""))
        args = params[1:]
        if method == "session.logout":
            self.sessions.discard(params[0])
            return _success("")
        cls, _, op = method.rpartition(".")
        if cls == "VM" and op == "get_by_uuid":
            for ref, (c, rec) in self.records.items():
                if c == "VM" and rec["uuid"] == args[0]:
                    return _success(ref)
            return _failure("UUID_INVALID", "VM", args[0])
        if cls == "VM" and op == "get_by_name_label":
            return _success(
                [
                    r
                    for r, (c, rec) in self.records.items()
                    if c == "VM" and rec["name_label"] == args[0]
                ]
            )
        if op == "get_record":
            found = self.records.get(args[0])
            if found is None or found[0] != cls:
                return _failure("HANDLE_INVALID", cls, args[0])
            return _success(found[1])
        return _failure("MESSAGE_METHOD_UNKNOWN", method)


def _success(value):
    return {"Status": "Success", "Value": value}


def _failure(*description):
    return {"Status": "Failure", "ErrorDescription": list(description)}


class _Handler(http.server.BaseHTTPRequestHandler):
    pool = None

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        params, method = xmlrpc.client.loads(body)
        answer = xmlrpc.client.dumps(
            (self.pool.call(method, params),), methodresponse=True, allow_none=True
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/export_raw_vdi":
            # the master sends it on to the host with the SR (here: itself)
            self.send_response(302)
            self.send_header("Location", f"/host-2/export_raw_vdi?{url.query}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if url.path != "/host-2/export_raw_vdi" or query.get("format") != "raw":
            return self.send_error(404)
        if query.get("session_id") not in self.pool.sessions:
            return self.send_error(401)
        if query.get("vdi") not in self.pool.images:
            return self.send_error(404)
        path, size = self.pool.images[query["vdi"]]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        sent = 0
        with open(path, "rb") as f:
            while sent < size:
                data = f.read(min(CHUNK, size - sent)) or bytes(min(CHUNK, size - sent))
                self.wfile.write(data)
                sent += len(data)
        self.pool.served[query["vdi"]] = self.pool.served.get(query["vdi"], 0) + sent
