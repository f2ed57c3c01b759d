"""Will libvirt accept a filter's output? (migrate, restore; loaded only for a rewrite)

libvirt parses a non-blank filter output as a new domain definition
(virDomainDefParseString: well-formed, root element <domain>) and cancels the migration or
restore when that fails. qemu then compares it with the definition it came from
(qemuDomainDefCheckABIStability / qemuSaveImageUpdateDef -> virDomainDefCheckABIStabilityFlags):
another name or UUID is refused too. libxl only parses it (libxlDomainMigrationPrepareAny).

Only what the shim can judge without libvirt's schema is checked, and leniently: the output
is handed to libvirt either way, so a doubt here never changes what libvirt decides.
"""

from hookshim import outcome


def refusal(driver, op, original, output):
    """Why libvirt will refuse ``output`` (bytes) for ``driver``/``op``; None if it may not."""
    import xml.etree.ElementTree as ET

    try:
        new = ET.fromstring(output)
    except ET.ParseError as exc:
        return "not well-formed XML (%s)" % exc
    if _local(new.tag) != "domain":
        return "root element is <%s>, not <domain>" % _local(new.tag)
    if (driver, op) not in outcome.ABI_CHECKED:
        return None
    try:
        old = ET.fromstring(original)
    except ET.ParseError:
        return None  # nothing trustworthy to compare with
    return _identity_change(old, new)


def _identity_change(old, new):
    """qemu's ABI check: the name and the UUID must stay those of the source definition."""
    old_name, new_name = old.findtext("name"), new.findtext("name")
    if old_name is not None and new_name != old_name:
        return "the name changed from %r to %r (qemu's ABI check)" % (old_name, new_name)
    old_uuid, new_uuid = _uuid(old.findtext("uuid")), _uuid(new.findtext("uuid"))
    if old_uuid is not None and new_uuid != old_uuid:
        return "the UUID changed from %s to %s (qemu's ABI check)" % (old_uuid, new_uuid)
    return None


def _uuid(text):
    """virUUIDParse accepts dashes and spaces anywhere and either case."""
    if text is None:
        return None
    return "".join(text.split()).replace("-", "").lower() or None


def _local(tag):
    return tag.rpartition("}")[2] if isinstance(tag, str) else str(tag)
