"""hookshim: the libvirt hook shim (stdlib only, Python >= 3.9)."""

__version__ = "0.1.0"
