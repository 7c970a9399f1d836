"""Talk to libvirt: read a source domain, define the converted one."""

from ..core.errors import GuestfixError, InputError, LibvirtError


def libvirt_bindings():
    try:
        import libvirt
    except ImportError:
        raise GuestfixError(
            "the libvirt Python bindings are missing", hint="install python3-libvirt (make setup)"
        ) from None
    return libvirt


def connect(uri, readonly=False):
    libvirt = libvirt_bindings()
    # libvirt prints its errors to stderr itself unless told otherwise.
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    try:
        return libvirt.openReadOnly(uri) if readonly else libvirt.open(uri)
    except libvirt.libvirtError as e:
        raise LibvirtError(
            f"cannot connect to {uri}: {e.get_error_message()}",
            hint="is libvirtd running? (`libvirtd -d` or `systemctl start libvirtd`)",
        ) from None


def dump_domain(uri, name):
    libvirt = libvirt_bindings()
    conn = connect(uri or "", readonly=True)
    try:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            raise InputError(
                f"no domain named {name} on {uri or 'the default connection'}"
            ) from None
        if dom.isActive():
            raise InputError(f"domain {name} is running", hint="shut it down first")
        return dom.XMLDesc(0)
    finally:
        conn.close()


def define(xml_text, uri="qemu:///system", replace=False):
    """Define the domain; returns (name, uuid). Refuses an existing name or
    UUID unless `replace`."""
    libvirt = libvirt_bindings()
    from .model import Domain

    domain = Domain.from_string(xml_text)
    name = domain.name
    uuid = (domain.root.findtext("uuid") or "").strip()
    conn = connect(uri)
    try:
        return _define(libvirt, conn, xml_text, name, uuid, uri, replace)
    except libvirt.libvirtError as e:
        raise LibvirtError(f"libvirt: {e.get_error_message()}") from None
    finally:
        conn.close()


def _define(libvirt, conn, xml_text, name, uuid, uri, replace):
    """Refuse (or with `replace`, undefine) clashes, then define."""
    clashes = []
    for how, key in (("name", name), ("UUID", uuid)):
        if not key:
            continue
        try:
            found = conn.lookupByName(key) if how == "name" else conn.lookupByUUIDString(key)
            clashes.append((how, key, found))
        except libvirt.libvirtError:
            pass
    if clashes and not replace:
        how, key, _ = clashes[0]
        raise LibvirtError(
            f"a domain with {how} {key} already exists on {uri}",
            hint="pass --replace, or rename with -on NAME",
        )
    existing = {found.UUIDString(): found for _how, _key, found in clashes}
    for found in existing.values():
        if found.isActive():
            raise LibvirtError(f"domain {found.name()} is running; it cannot be replaced")
        found.undefine()
    try:
        dom = conn.defineXML(xml_text)
    except libvirt.libvirtError as e:
        raise LibvirtError(f"libvirt refused the domain: {e.get_error_message()}") from None
    return dom.name(), dom.UUIDString()
