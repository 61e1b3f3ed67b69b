"""Exceptions. The CLI turns any SpareFlashError into one line on stderr and a non-zero exit."""

from __future__ import annotations


class SpareFlashError(Exception):
    """A problem the user can act on (bad input, wrong configuration). Exit code 2 at the CLI."""

    exit_code = 2


class ToolchainError(SpareFlashError):
    """The AVR toolchain (avr-gcc, arduino-builder) failed or is missing."""


class SimulationError(SpareFlashError):
    """The simulated firmware crashed, or ran out of its cycle budget."""

    exit_code = 3
