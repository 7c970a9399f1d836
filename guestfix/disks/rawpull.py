"""A raw disk pulled over HTTPS into a sparse image, once.

XenServer/XCP-ng serve a VDI's contents at `/export_raw_vdi?vdi=UUID&
format=raw` on the pool master (which may redirect to the host that has
the SR), authorised by the session's id. The body is the whole disk,
zeros included: blocks of zeros are not written (they stay holes), the
rest lands at its offset. TLS carries the data's integrity; the length is
checked against the disk's size, so a cut-off transfer is not taken for a
disk.
"""

import http.client
import os
import ssl
import urllib.parse

from ..core.errors import RemoteHostError

BLOCK = 4 * 1024**2
# the size of a hole left: a filesystem's zeros come in pieces this small
SPARSE = 64 * 1024
ZEROS = bytes(SPARSE)
MAX_REDIRECTS = 3
TIMEOUT = 300  # seconds a stalled host is waited for


def pull(url, ssl_context, fd, size, progress=None, where=""):
    """GET `url` (https) into the new, empty image open for writing on
    `fd`, `size` bytes. Returns the bytes transferred."""
    response, conn = _get(url, ssl_context, where)
    try:
        length = response.getheader("Content-Length")
        if length is not None and length.strip() != str(size):
            raise RemoteHostError(
                f"{where}: the host sends {length[:20]!r} bytes for a {size}-byte disk"
            )
        done = 0
        view = memoryview(bytearray(BLOCK))
        while done < size:
            n = _received(response.readinto, view[: min(BLOCK, size - done)], where)
            if not n:
                break
            _write_sparse(fd, view[:n], done)
            done += n
            if progress:
                progress(done)
        if done != size:
            raise RemoteHostError(f"{where}: the transfer ended at {done} of {size} bytes")
        if _received(response.read, 1, where):
            raise RemoteHostError(f"{where}: the host sent more than the disk's {size} bytes")
        os.ftruncate(fd, size)
        return done
    finally:
        conn.close()


def _received(read, arg, where):
    """A read from the connection; its failures said without the URL (it
    carries the session)."""
    try:
        return read(arg)
    except (OSError, http.client.HTTPException) as e:
        what = getattr(e, "strerror", None) or type(e).__name__
        raise RemoteHostError(f"{where}: the transfer failed ({what})") from None


def _write_sparse(fd, block, offset):
    """`block` at `offset`, its all-zero SPARSE pieces left as holes (the
    image is new: a hole reads as zeros). A failed write is the
    destination's (storage.destination_errors)."""
    start = None  # where the run of pieces with data began
    for at in range(0, len(block), SPARSE):
        piece = block[at : at + SPARSE]
        if piece == ZEROS[: len(piece)]:
            if start is not None:
                os.pwrite(fd, block[start:at], offset + start)
                start = None
        elif start is None:
            start = at
    if start is not None:
        os.pwrite(fd, block[start:], offset + start)


def _get(url, ssl_context, where):
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https":
            raise RemoteHostError(
                f"{where}: refusing to fetch a disk over {parts.scheme or 'no'} TLS"
            )
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, context=ssl_context, timeout=TIMEOUT
        )
        try:
            conn.request("GET", f"{parts.path}?{parts.query}")
            response = conn.getresponse()
        except ssl.SSLCertVerificationError as e:
            conn.close()
            raise RemoteHostError(
                f"{where}: its TLS certificate is not trusted ({e.verify_message})"
            ) from None
        except (OSError, http.client.HTTPException, ValueError) as e:
            conn.close()
            # not the URL: it carries the session
            what = getattr(e, "strerror", None) or type(e).__name__
            raise RemoteHostError(f"{where}: cannot fetch the disk ({what})") from None
        if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            # the master sends the request on to the host that has the SR
            url = urllib.parse.urljoin(url, response.getheader("Location"))
            conn.close()
            continue
        if response.status != 200:
            conn.close()
            raise RemoteHostError(f"{where}: the host answers {response.status} {response.reason}")
        return response, conn
    raise RemoteHostError(f"{where}: more than {MAX_REDIRECTS} redirects")
