"""SpareFlash: put the spare program flash of classic AVR chips to work."""

__version__ = "0.1.0"
