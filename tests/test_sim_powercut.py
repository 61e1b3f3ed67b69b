"""Power cuts: the torn-page model and a cut at any cycle followed by a cold boot."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from spareflash.sim import PageOp, Simulator, run_with_power_cut, tear

FW = Path(__file__).parent / "firmware" / "fidelity"


def op(kind: str, before: bytes, after: bytes) -> PageOp:
    return PageOp(kind, 0x1000, 0, 72_000, before, after)


def test_torn_write_only_clears_bits_the_write_clears():
    before, after = bytes([0xFF, 0x3C, 0xF0, 0x00]) * 32, bytes([0x00, 0x0C, 0xF0, 0x00]) * 32
    torn = tear(op("write", before, after), random.Random(1))
    assert torn not in (before, after)
    for t, b, a in zip(torn, before, after):
        assert t & ~b & 0xFF == 0  # never sets a bit
        assert t & a == a  # never clears a bit the write keeps


def test_torn_erase_only_sets_bits():
    before, after = bytes([0x00, 0x5A, 0xFF, 0x0F]) * 32, b"\xff" * 128
    torn = tear(op("erase", before, after), random.Random(1))
    assert torn not in (before, after)
    for t, b in zip(torn, before):
        assert t & b == b  # never clears a bit


def test_tearing_is_seeded():
    o = op("erase", bytes(128), b"\xff" * 128)
    assert tear(o, random.Random(5)) == tear(o, random.Random(5)) != tear(o, random.Random(6))


def fidelity(avr_build) -> Path:
    return avr_build([FW / "spm_fidelity.c"], "atmega328p", [
        "-Wl,--section-start=.spmroutine=0x7E00", "-Wl,--section-start=.victim_erase=0x1000",
        "-Wl,--section-start=.victim_write=0x1080"], name="spm_fidelity_7e00")


def test_cut_after_the_firmware_ended_is_reported(avr_build):
    cut = run_with_power_cut(fidelity(avr_build), "atmega328p", 5_000_000, seed=0)
    assert cut.reason == "sleep" and cut.op is None and cut.result.ok


@pytest.mark.slow
def test_cut_anywhere_then_cold_boot_always_completes(avr_build):
    """Sweep: cut every 997 cycles through the whole run; each cold boot from the cut flash must end cleanly."""
    elf = fidelity(avr_build)
    total = Simulator(elf, "atmega328p").run(2_000_000).cycles
    torn = 0
    for cycle in range(1, total, 997):
        cut = run_with_power_cut(elf, "atmega328p", cycle, seed=cycle)
        torn += cut.torn
        reboot = Simulator(elf, "atmega328p", flash_in=cut.flash).run(2_000_000)
        assert reboot.ok, f"cut at {cycle}: {reboot.message}"
    assert torn > 0
