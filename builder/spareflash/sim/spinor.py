"""A W25Q32-like SPI NOR flash chip for the simulator (4 MB, 256-byte pages, 4 KB sectors, 64 KB blocks).

The part is a Python `yasimavr.utils.spi.SPISimpleClient` (SPI mode 0, MSB first) whose four wires are attached
to the AVR's pins (see `WIRING`). It decodes the commands the SpareFlash overlay loader and tests use:

=====  ==========================  ===========================================================================
code   command                     behaviour
=====  ==========================  ===========================================================================
0x9F   JEDEC ID                    EF 40 16 (Winbond, SPI, 32 Mbit), then FF
0x90   manufacturer/device ID      3 address bytes, then EF 15 repeated
0x03   read                        3 address bytes, then data; the address wraps at the end of the chip
0x0B   fast read                   3 address bytes + 1 dummy byte, then data
0x05   read status register 1      SR1 repeated while CS is low: bit 0 BUSY, bit 1 WEL
0x06   write enable                sets WEL (at CS high)
0x04   write disable               clears WEL (at CS high)
0x02   page program                3 address bytes + 1..256 data bytes; executed at CS high; the address wraps
                                   inside its 256-byte page (more than 256 bytes: the last 256 win); NOR
                                   semantics: new = old AND data (programming only turns 1s into 0s)
0x20   sector erase (4 KB)         3 address bytes; executed at CS high
0xD8   block erase (64 KB)         3 address bytes; executed at CS high
0xC7   chip erase (also 0x60)      executed at CS high
=====  ==========================  ===========================================================================

Program and erase need WEL (set by 0x06; cleared by 0x04 and when a program/erase completes) and must be ended
by CS high right after the last byte (an erase with a wrong byte count is ignored, as the datasheet says).
While BUSY every command except 0x05 is ignored. Other commands are ignored too. Every ignored command byte is
appended to `ignored`.

Timings are the W25Q32JV datasheet's *typical* values (`NorTimings`), converted to CPU cycles with the
simulator's clock: page program 0.4 ms (max 3 ms), sector erase 45 ms (max 400 ms), block erase 150 ms (max
2000 ms), chip erase 10 s (max 50 s). Pass other `NorTimings` to model slow or worn parts.

The operation is applied to the contents when it starts (like yasimavr does for the AVR's own flash) and BUSY
stays set until its time has elapsed. `erase_counts[sector]` counts erases per 4 KB sector (a block erase
counts once for each of its 16 sectors, a chip erase once for every sector), for wear tests.
On a power cut during an operation (`on_power_off`) the affected bytes are torn like the harness tears AVR pages:
each bit the operation changed is kept with probability 1/2.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import SpareFlashError

# W25Q32JV geometry
JEDEC_ID = (0xEF, 0x40, 0x16)
DEVICE_ID = 0x15  # 0x90 "manufacturer/device ID" second byte
SIZE = 4 * 1024 * 1024
PAGE = 256
SECTOR = 4096
BLOCK = 65536

SR1_BUSY = 0x01
SR1_WEL = 0x02

CMD_WRITE_ENABLE = 0x06
CMD_WRITE_DISABLE = 0x04
CMD_READ_STATUS1 = 0x05
CMD_READ = 0x03
CMD_FAST_READ = 0x0B
CMD_PAGE_PROGRAM = 0x02
CMD_SECTOR_ERASE = 0x20
CMD_BLOCK_ERASE = 0xD8
CMD_CHIP_ERASE = 0xC7
CMD_CHIP_ERASE_ALT = 0x60
CMD_JEDEC_ID = 0x9F
CMD_MANUFACTURER_ID = 0x90


class SpiFlashError(SpareFlashError):
    """The SPI flash image file is unusable (too large, unreadable)."""


@dataclass(frozen=True)
class NorTimings:
    """Operation times in microseconds (defaults: W25Q32JV datasheet, typical column)."""

    page_program_us: float = 400.0  # tPP typ 0.4 ms, max 3 ms
    sector_erase_us: float = 45_000.0  # tSE typ 45 ms, max 400 ms
    block_erase_us: float = 150_000.0  # tBE2 (64 KB) typ 150 ms, max 2000 ms
    chip_erase_us: float = 10_000_000.0  # tCE typ 10 s, max 50 s


@dataclass(frozen=True)
class SpiWiring:
    """Which AVR pins the flash's CS, CLK, DI (data into the flash) and DO (data out of the flash) sit on."""

    cs: str
    sck: str
    mosi: str  # AVR output -> flash DI
    miso: str  # flash DO -> AVR input


# How the simulated boards wire the flash. ATmega: the hardware SPI pins, chip select on SS (PB2), so SS is an
# output and the SPI stays master. ATtiny85: the USI in three-wire mode (USCK = PB2, DO = PB1 -> flash DI,
# DI = PB0 <- flash DO), chip select on PB3 (a free GPIO).
WIRING: dict[str, SpiWiring] = {
    "atmega328p": SpiWiring(cs="PB2", sck="PB5", mosi="PB3", miso="PB4"),
    "atmega168p": SpiWiring(cs="PB2", sck="PB5", mosi="PB3", miso="PB4"),
    "atmega88p": SpiWiring(cs="PB2", sck="PB5", mosi="PB3", miso="PB4"),
    "attiny85": SpiWiring(cs="PB3", sck="PB2", mosi="PB1", miso="PB0"),
    "attiny45": SpiWiring(cs="PB3", sck="PB2", mosi="PB1", miso="PB0"),
    "attiny25": SpiWiring(cs="PB3", sck="PB2", mosi="PB1", miso="PB0"),
    # the ATtiny84's USI is on PORTA (USCK PA4, DO PA5, DI PA6); PB3 is its RESET pin, so CS is PA3
    "attiny84": SpiWiring(cs="PA3", sck="PA4", mosi="PA5", miso="PA6"),
}


@dataclass
class _Op:
    kind: str  # "program" | "erase"
    start: int  # byte address
    before: bytes  # contents of [start, start + len(before)) before the operation
    end_cycle: int


class SpiNorFlash:
    """The flash chip. Use `attach(sim)` (peripheral protocol of `spareflash.sim.Simulator`) or `connect()`."""

    def __init__(self, contents: bytes | bytearray | None = None, *, size: int = SIZE,
                 timings: NorTimings | None = None, wiring: SpiWiring | None = None) -> None:
        if size % BLOCK:
            raise SpiFlashError(f"SPI flash size {size} is not a multiple of the 64 KB block")
        self.size = size
        self.timings = timings or NorTimings()
        self.wiring = wiring
        self.data = bytearray(b"\xFF" * size)
        if contents is not None:
            if len(contents) > size:
                raise SpiFlashError(f"SPI flash image is {len(contents)} bytes, more than the chip's {size}")
            self.data[: len(contents)] = contents
        self.erase_counts = [0] * (size // SECTOR)
        self.program_count = 0
        self.ignored: list[int] = []  # command bytes ignored (unknown, busy, no WEL, bad length)
        self.commands: list[int] = []  # every command byte received, in order
        self.wel = False
        self._op: _Op | None = None
        self._freq = 16_000_000
        self._now: Callable[[], int] = lambda: 0
        self._client: Any = None
        self._frame: list[int] = []  # bytes received since CS went low
        self._selected = False
        self.busy_seen = 0  # status reads that returned BUSY (tests check BUSY was observed)

    # -- files --------------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> SpiNorFlash:
        """Contents from a raw binary file (shorter files are padded with erased 0xFF); a missing file is a
        blank chip."""
        p = os.fspath(path)
        if not os.path.exists(p):
            return cls(None, **kwargs)
        try:
            with open(p, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise SpiFlashError(f"cannot read SPI flash image {p}: {e.strerror}") from None
        return cls(raw, **kwargs)

    def save(self, path: str | os.PathLike[str]) -> None:
        """The whole contents as a raw binary file."""
        try:
            with open(os.fspath(path), "wb") as f:
                f.write(self.data)
        except OSError as e:
            raise SpiFlashError(f"cannot write SPI flash image {os.fspath(path)}: {e.strerror}") from None

    # -- wiring --------------------------------------------------------------------------------------
    def attach(self, sim: Any) -> None:
        """Peripheral protocol: wire to `sim.device`'s pins (WIRING[sim.chip.name] unless `wiring` was given)."""
        wiring = self.wiring or WIRING.get(sim.chip.name)
        if wiring is None:
            raise SpiFlashError(f"no SPI flash wiring for {sim.chip.name} (known: {', '.join(sorted(WIRING))})")
        loop = sim.loop
        self.connect(sim.device, lambda: loop.cycle(), sim.freq, wiring)

    def connect(self, device: Any, now: Callable[[], int], freq: int, wiring: SpiWiring) -> None:
        """Attach the chip's wires to `device`'s pins; `now()` returns the current cycle, `freq` is in Hz."""
        from yasimavr.lib import core

        self._now = now
        self._freq = freq
        self.wiring = wiring
        client = _Client(self)
        pins = {}
        for name in (wiring.cs, wiring.sck, wiring.mosi, wiring.miso):
            pin = device.find_pin(core.sim_id_t(name))
            if pin is None:
                raise SpiFlashError(f"the device has no pin {name}")
            pins[name] = pin
        client.select_line.attach(pins[wiring.cs])
        client.clock_line.attach(pins[wiring.sck])
        client.mosi_line.attach(pins[wiring.mosi])
        client.miso_line.attach(pins[wiring.miso])
        client.enabled = True
        self._client = client
        self._pins = pins  # keep the wires' owners alive as long as the chip

    # -- time ------------------------------------------------------------------------------------------
    def _cycles(self, us: float) -> int:
        return int(round(us * self._freq / 1_000_000))

    def _update(self) -> None:
        if self._op is not None and self._now() >= self._op.end_cycle:
            self._op = None
            self.wel = False  # cleared when the program/erase cycle completes

    @property
    def busy(self) -> bool:
        self._update()
        return self._op is not None

    def status(self) -> int:
        self._update()
        return (SR1_BUSY if self._op is not None else 0) | (SR1_WEL if self.wel else 0)

    # -- the SPI transaction ---------------------------------------------------------------------------
    def _select(self, selected: bool) -> int:
        """CS edge. Returns the first byte to shift out."""
        if selected and not self._selected:
            self._frame = []
        elif not selected and self._selected:
            self._execute()
        self._selected = selected
        return 0xFF

    def _byte(self, value: int) -> int:
        """One byte received while CS is low; returns the byte to shift out next."""
        self._frame.append(value)
        f = self._frame
        cmd = f[0]
        n = len(f)
        if n == 1:
            self.commands.append(cmd)
            if self.busy and cmd != CMD_READ_STATUS1:
                self.ignored.append(cmd)
                self._frame = [-1]  # swallow the rest of this transaction
                return 0xFF
        if cmd == -1:
            return 0xFF
        if cmd == CMD_READ_STATUS1:
            s = self.status()
            if s & SR1_BUSY:
                self.busy_seen += 1
            return s
        if cmd == CMD_JEDEC_ID:
            return JEDEC_ID[n - 1] if n <= len(JEDEC_ID) else 0xFF
        if cmd == CMD_MANUFACTURER_ID:
            if n < 4:
                return 0xFF
            return 0xEF if (n - 4) % 2 == 0 else DEVICE_ID
        if cmd in (CMD_READ, CMD_FAST_READ):
            first = 4 if cmd == CMD_READ else 5
            if n < first:
                return 0xFF
            addr = ((f[1] << 16) | (f[2] << 8) | f[3]) + (n - first)
            return self.data[addr % self.size]
        return 0xFF

    def _execute(self) -> None:
        """CS went high: commands that act at the end of the transaction."""
        f = self._frame
        self._frame = []
        if not f or f[0] == -1:
            return
        cmd = f[0]
        if cmd == CMD_WRITE_ENABLE and len(f) == 1:
            self.wel = True
        elif cmd == CMD_WRITE_DISABLE and len(f) == 1:
            self.wel = False
        elif cmd == CMD_PAGE_PROGRAM:
            if len(f) < 5 or not self.wel:
                self.ignored.append(cmd)
                return
            self.page_program((f[1] << 16) | (f[2] << 8) | f[3], bytes(f[4:]))
        elif cmd in (CMD_SECTOR_ERASE, CMD_BLOCK_ERASE):
            if len(f) != 4 or not self.wel:
                self.ignored.append(cmd)
                return
            addr = (f[1] << 16) | (f[2] << 8) | f[3]
            self.erase(addr, SECTOR if cmd == CMD_SECTOR_ERASE else BLOCK)
        elif cmd in (CMD_CHIP_ERASE, CMD_CHIP_ERASE_ALT):
            if len(f) != 1 or not self.wel:
                self.ignored.append(cmd)
                return
            self.erase(0, self.size)
        elif cmd not in (CMD_READ_STATUS1, CMD_JEDEC_ID, CMD_MANUFACTURER_ID, CMD_READ, CMD_FAST_READ):
            self.ignored.append(cmd)

    # -- operations (also usable directly from Python) -------------------------------------------------
    def page_program(self, addr: int, payload: bytes) -> None:
        """Program `payload` at `addr`, wrapping inside the 256-byte page; bits only go 1 -> 0."""
        addr %= self.size
        page = addr - addr % PAGE
        offsets: dict[int, int] = {}
        for i, b in enumerate(payload):  # more than 256 bytes: the later ones overwrite the earlier ones
            offsets[(addr + i - page) % PAGE] = b
        before = bytes(self.data[page:page + PAGE])
        for off, b in offsets.items():
            self.data[page + off] &= b
        self.program_count += 1
        self._op = _Op("program", page, before, self._now() + self._cycles(self.timings.page_program_us))

    def erase(self, addr: int, length: int) -> None:
        """Erase the `length`-aligned unit holding `addr` (4 KB sector, 64 KB block or the whole chip)."""
        start = (addr % self.size) - (addr % self.size) % length
        before = bytes(self.data[start:start + length])
        self.data[start:start + length] = b"\xFF" * length
        for s in range(start // SECTOR, (start + length) // SECTOR):
            self.erase_counts[s] += 1
        us = {SECTOR: self.timings.sector_erase_us, BLOCK: self.timings.block_erase_us}.get(
            length, self.timings.chip_erase_us)
        self._op = _Op("erase", start, before, self._now() + self._cycles(us))

    def on_power_off(self, sim: Any = None, seed: int | None = None) -> None:
        """Power cut: an operation in flight is torn (each bit it changed is kept with probability 1/2)."""
        self._update()
        op = self._op
        if op is None:
            return
        if seed is None:
            seed = int(getattr(sim, "power_cut_seed", 0) or 0)
        rng = random.Random(seed)
        for i, old in enumerate(op.before):
            new = self.data[op.start + i]
            changed = old ^ new
            if changed:
                keep = rng.getrandbits(8) & changed  # the changed bits that made it
                self.data[op.start + i] = (old & ~changed) | (new & keep) | (old & changed & ~keep)
        self._op = None
        self.wel = False

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.data[addr:addr + n])


def _make_client_class() -> type:
    from yasimavr.lib import core
    from yasimavr.utils.spi import SPISimpleClient

    class Client(SPISimpleClient):  # type: ignore[misc]
        """Bridges the bit-level SPI end point to the byte-level chip model."""

        def __init__(self, chip: SpiNorFlash) -> None:
            super().__init__()
            self._chip = chip

        def _select_hook_raised(self, sigdata: Any, hooktag: Any) -> None:
            if sigdata.sigid == core.Wire.SignalId.DigitalChange:
                selected = not sigdata.data.as_uint()
                if selected != self.active():
                    self.set_miso_frame(self._chip._select(selected))
            super()._select_hook_raised(sigdata, hooktag)

        def frame_completed(self) -> None:
            super().frame_completed()
            self.set_miso_frame(self._chip._byte(self.mosi_frame))

    return Client


_CLIENT_CLASS: type | None = None


def _Client(chip: SpiNorFlash) -> Any:  # noqa: N802 - a factory standing in for the lazily created class
    global _CLIENT_CLASS
    if _CLIENT_CLASS is None:
        _CLIENT_CLASS = _make_client_class()
    return _CLIENT_CLASS(chip)


def open_spi_flash(path: str | os.PathLike[str], **kwargs: Any) -> SpiNorFlash:
    """The CLI's `--spi-flash FILE`: a chip holding FILE's contents (blank if FILE does not exist yet);
    `save(path)` writes them back after the run."""
    return SpiNorFlash.from_file(path, **kwargs)
