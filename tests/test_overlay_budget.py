"""Erase budget and persistent erase counters of the overlay slots (Overlay.setEraseBudget / useEepromCounters).

The firmware (tests/firmware/overlay/budget) loads the two bench segments alternately into ONE slot of an
ATmega328P, so every load after the first erases every page of the slot (8 pages of 128 bytes). Specification:
* the per-slot erase count is kept in EEPROM and survives a reset (a new boot starts from it);
* a load that would exceed the budget returns SF_ERR_WEAR_BUDGET and erases nothing: never a silent erase;
* a call through a stub that needs such a load calls the user's error hook with SF_ERR_WEAR_BUDGET and the
  segment, then halts (the call cannot return a value).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from spareflash.bench.overlay import CHIPS, FIRMWARE, _fill_header
from spareflash.overlay.build import OverlayBuild, build_overlays
from spareflash.plan import PlanConfig
from spareflash.sim import Simulator
from spareflash.sim.spinor import SpiNorFlash

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build" / "tests" / "overlay_budget"
MCU = "atmega328p"
PAGES = 8  # 1024-byte slot, both segments span all of it
SF_ERR_WEAR_BUDGET = 0x45
EE_COUNTERS = 16
BUDGET = 20  # first load from blank flash: 0 erases; second: 8; third: 16; the fourth would need 24


@pytest.fixture(scope="module")
def fw() -> OverlayBuild:
    mega = CHIPS[0]
    _fill_header(mega, BUILD / "include")
    srcs = [ROOT / "tests" / "firmware" / "overlay" / "budget" / "main.cpp", FIRMWARE / "seg_a.cpp",
            FIRMWARE / "seg_b.cpp"]
    return build_overlays(srcs, PlanConfig(MCU, overlay_slots=1, slot_bytes=mega.slot_bytes, storage_bytes=0),
                          BUILD / "fw", defines=[f"BUDGET={BUDGET}"], include_dirs=[BUILD / "include", FIRMWARE])


def _eeprom_nvm(sim: Simulator):  # type: ignore[no-untyped-def]
    """The model's EEPROM (the harness has no EEPROM API: reach the NVM the same way it reaches flash)."""
    import yasimavr.lib.arch_avr as arch
    return sim._nvm(int(arch.ArchAVR_Core.ArchAVR_NVM.EEPROM))


@dataclass
class Boot:
    sim: Simulator
    reason: str
    begin: int
    erases_at_boot: int
    statuses: list[int]
    erases_after: int
    hook: tuple[int, int] | None
    eeprom: bytes


def boot(fw: OverlayBuild, flash_in: bytes | None = None, eeprom: bytes | None = None) -> Boot:
    sim = Simulator(fw.elf, MCU, flash_in=flash_in, peripherals=[SpiNorFlash(fw.overlays_bin.read_bytes())])
    if eeprom is not None:
        _eeprom_nvm(sim).write(eeprom, 0)
    res = sim.run(max_cycles=40_000_000)
    d = sim.debug
    begin, at_boot = d[0], struct.unpack_from("<I", d, 1)[0]
    end = d.index(0xEE, 5)
    statuses = list(d[5:end])
    after = struct.unpack_from("<I", d, end + 1)[0]
    rest = d[end + 5:]
    hook = (rest[1], rest[2]) if rest[:1] == b"H" else None
    return Boot(sim, res.reason, begin, at_boot, statuses, after, hook, bytes(_eeprom_nvm(sim).view()))


def erases(sim: Simulator) -> int:
    return sum(1 for op in sim.page_ops if op.kind == "erase")


def test_exceeding_the_budget_is_refused_before_any_erase_and_the_stub_calls_the_hook(fw: OverlayBuild) -> None:
    b = boot(fw)
    assert b.begin == 0 and b.erases_at_boot == 0
    assert b.statuses == [0, 0, 0, SF_ERR_WEAR_BUDGET]  # the fourth load would take the slot to 24 > 20
    assert b.erases_after == 2 * PAGES == erases(b.sim)  # the refused load erased nothing
    assert b.hook == (SF_ERR_WEAR_BUDGET, 1)  # the stub's load of bench_b: hook, then the CPU halts
    assert b.reason == "sleep" and 0x31 not in [m.value for m in b.sim.markers]
    assert struct.unpack_from("<I", b.eeprom, EE_COUNTERS)[0] == 2 * PAGES


def test_the_erase_counter_survives_a_reset(fw: OverlayBuild) -> None:
    first = boot(fw)
    again = boot(fw, flash_in=first.sim.flash, eeprom=first.eeprom)
    assert again.erases_at_boot == 2 * PAGES  # read back from EEPROM by begin()
    # bench_a is still resident (no erase); bench_b would need 8 more: refused at once, nothing erased
    assert again.statuses == [0, SF_ERR_WEAR_BUDGET] and erases(again.sim) == 0
    assert again.hook == (SF_ERR_WEAR_BUDGET, 1)


def test_without_the_stored_counter_the_same_load_goes_ahead(fw: OverlayBuild) -> None:
    # the control: same flash, EEPROM erased (counter unknown = 0): the load that was refused above now erases
    first = boot(fw)
    fresh = boot(fw, flash_in=first.sim.flash, eeprom=b"\xff" * 1024)
    assert fresh.erases_at_boot == 0 and fresh.statuses[:2] == [0, 0] and erases(fresh.sim) >= PAGES
