"""The shim's own diagnostics: one line each to the host's syslog (daemon facility).

What libvirtd gets is an exit code and one stderr line; what went wrong inside the shim (a
spool that cannot be written, a bug's traceback, a guard rail that held) goes here. Imported
only when there is something to say: a normal hook call never loads ``syslog``.
"""


def log(level, message):
    """One line to syslog; silently nothing when syslog is unavailable."""
    try:
        import syslog

        priority = {"err": syslog.LOG_ERR, "warning": syslog.LOG_WARNING}.get(level,
                                                                              syslog.LOG_INFO)
        syslog.openlog("hookshim", syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(priority, message.replace("\n", " ")[:2000])
    except Exception:  # noqa: BLE001 - logging must never break the hook
        pass


def log_exception(what, exc):
    """The traceback goes to syslog, one line per frame; never to libvirtd."""
    try:
        import traceback

        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    except Exception:  # noqa: BLE001
        lines = [repr(exc)]
    log("err", "%s: %s: %s" % (what, type(exc).__name__, exc))
    for chunk in "".join(lines).splitlines():
        log("err", "  " + chunk)
