"""The simulator harness (yasimavr): devices, markers, console capture, flash access, power cuts.

See docs/simulator.md. Importing this package does not import yasimavr; building a Simulator does.
"""

from __future__ import annotations

from .firmware import Firmware, load_firmware, read_hex, write_hex
from .harness import (
    DeviceSpec,
    Marker,
    PageOp,
    RunResult,
    Simulator,
    device_spec,
    load_yaml_device,
    register_device,
    registered_devices,
    run_firmware,
)
from .powercut import PowerCutResult, run_with_power_cut, tear

__all__ = [
    "DeviceSpec", "Firmware", "Marker", "PageOp", "PowerCutResult", "RunResult", "Simulator", "device_spec",
    "load_firmware", "load_yaml_device", "read_hex", "register_device", "registered_devices", "run_firmware",
    "run_with_power_cut", "tear", "write_hex",
]
