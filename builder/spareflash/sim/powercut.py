"""Power cuts: stop a run at any cycle and tear the flash page whose erase/write is in flight.

yasimavr commits a page erase or write to its flash array when the SPM executes, then waits the 4.5 ms
programming time. Real flash changes cells gradually during that time, so a cut inside the window leaves a page
that is neither the old nor the new content. The harness records each operation's page before and after
(`Simulator.page_ops`); a cut inside `[start, end)` mixes them bit by bit with a seeded RNG:

* write: each bit the write moves 1 -> 0 is applied with probability 1/2 (a write only ever clears bits);
* erase: each bit the erase moves 0 -> 1 is set with probability 1/2 (an erase only ever sets bits).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .firmware import FirmwareSource
from .harness import FlashInput, PageOp, RunResult, Simulator


@dataclass
class PowerCutResult:
    flash: bytes  # the whole flash after the cut, torn page applied
    op: PageOp | None  # the page operation in flight at the cut
    torn_page: int | None  # byte address of the torn page
    reason: str  # "cut", or "sleep"/"crash" when the firmware ended before the cut cycle
    cycle: int
    result: RunResult
    seed: int = 0

    @property
    def torn(self) -> bool:
        return self.op is not None


def tear(op: PageOp, rng: random.Random) -> bytes:
    """The page as a cut during `op` leaves it (see the module docstring)."""
    out = bytearray(op.before)
    for i, (old, new) in enumerate(zip(op.before, op.after)):
        if op.kind == "write":
            flips = old & ~new & 0xFF  # bits going 1 -> 0
            applied = flips & rng.getrandbits(8)
            out[i] = old & ~applied & 0xFF
        else:
            flips = ~old & new & 0xFF  # bits going 0 -> 1
            applied = flips & rng.getrandbits(8)
            out[i] = old | applied
    return bytes(out)


def run_with_power_cut(firmware: FirmwareSource, mcu: str, cut_cycle: int, seed: int = 0, *,
                       flash_in: FlashInput | None = None, fuses: Mapping[str, int] | None = None,
                       freq: int = 16_000_000, peripherals: Sequence[Any] = ()) -> PowerCutResult:
    """Power the chip on (from `flash_in` if given), run to `cut_cycle`, cut the power."""
    sim = Simulator(firmware, mcu, fuses=fuses, flash_in=flash_in, freq=freq, peripherals=peripherals)
    sim.run_until(cut_cycle)
    result: PowerCutResult = sim.cut_power(seed)
    return result
