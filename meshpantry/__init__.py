"""meshpantry: an offline-first peer-to-peer mesh for neighbourhood food sharing."""

__version__ = "0.1.0"
