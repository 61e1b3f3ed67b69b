"""A simulated board behind a real serial port: the simulator runs in a thread, its UART0 connected to a pseudo
terminal, so `spareflash overlay upload --port <pty>` (pyserial, the real code path) talks to simulated firmware.

    with SimSerialBridge("uploader.elf", "atmega328p", peripherals=[nor]) as bridge:
        upload_file("overlays.bin", bridge.port)       # bridge.port: "/dev/pts/N"
    nor.data                                          # what the simulated SPI NOR chip holds now

Bytes the host writes to the pty are queued into the UART's receiver (`Simulator.uart_send`, delivered at the
firmware's baud rate); bytes the firmware transmits go back to the pty. The simulation runs in slices of
`slice_cycles`; the thread stops on exit, or when the firmware ends or crashes (`bridge.result`).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from typing import Any, Sequence

from ..errors import SimulationError


class SimSerialBridge:
    def __init__(self, firmware: Any, mcu: str = "atmega328p", *, peripherals: Sequence[Any] = (),
                 freq: int = 16_000_000, slice_cycles: int = 100_000) -> None:
        from ..sim import Simulator

        self.sim = Simulator(firmware, mcu, peripherals=peripherals, freq=freq)
        self.slice_cycles = slice_cycles
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.result: Any = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spareflash-sim-uart", daemon=True)
        self._sent = 0

    def __enter__(self) -> SimSerialBridge:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _pump(self) -> None:
        ready, _, _ = select.select([self.master], [], [], 0)
        if ready:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                data = b""
            if data:
                self.sim.uart_send(data)
        out = self.sim.serial_bytes
        if len(out) > self._sent:
            chunk = bytes(out[self._sent:])
            os.write(self.master, chunk)
            self._sent += len(chunk)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._pump()
                res = self.sim.run(self.slice_cycles)
                if res.reason in ("sleep", "crash"):
                    self._pump()
                    self.result = res
                    if res.reason == "crash":
                        raise SimulationError(res.message)
                    return
        except BaseException as exc:  # noqa: BLE001 - reported to the caller through .error
            self.error = exc
