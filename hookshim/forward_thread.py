"""The forwarder inside another process (single-host mode: the server or the demo forwards
its own host's spool)."""
import logging
import os
import threading

from hookshim.forward import Forwarder

log = logging.getLogger("hookshim.forward")


class ForwarderThread(threading.Thread):
    """The forwarder inside another process — single-host mode.

    The server (or the demo) runs one for the host it lives on, so nobody has to start
    ``hookshim forward`` by hand::

        fwd = ForwarderThread(load_config("/etc/hookshim/hookshim.conf"))
        fwd.start()
        ...
        fwd.stop()   # finishes or releases the batch in flight, then joins
    """

    def __init__(self, config, **forwarder_kw):
        super().__init__(name="hookshim-forwarder", daemon=True)
        if isinstance(config, (str, os.PathLike)):
            from hookshim.config import load_config

            config = load_config(os.fspath(config))
        self.forwarder = Forwarder(config, **forwarder_kw)

    def run(self):
        try:
            self.forwarder.run()
        except Exception:
            log.exception("forwarder thread stopped")

    def stop(self, timeout=None):
        self.forwarder.stop()
        if self.is_alive():
            self.join(timeout)


def local_forwarder_starter(config, **forwarder_kw):
    """A starter for the server's ``app.state.startup_hooks``: runs a ForwarderThread for the
    server's own host while the app runs, and returns the callable that stops it."""
    def start(app=None):
        thread = ForwarderThread(config, **forwarder_kw)
        thread.start()
        return lambda: thread.stop(timeout=forwarder_kw.get("timeout", 30.0) + 5)
    return start
