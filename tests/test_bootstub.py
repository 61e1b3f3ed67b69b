"""The SpareFlash bootstub: its size budget, its place, and its address fence, proven on the simulated ATmega328P.

The firmware (tests/firmware/backends/fence_main.c) calls sf_flash_* and then the stub directly (bypassing the
library's own checks), reporting each status on the debug console; the flash is then checked from Python.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "firmware" / "backends"))

from fwbuild import (  # noqa: E402
    LIBRARY_STATUSES,
    SF_ERR_ARG,
    SF_ERR_NO_BACKEND,
    SF_ERR_VERIFY,
    SF_OK,
    STUB_STATUSES,
    build_firmware,
    check_flash_after_accepted_run,
    needs_sim,
    run,
    section_size,
    symbol_address,
    with_boot_code,
    with_bootsz,
)

from spareflash.chips import get_chip  # noqa: E402
from spareflash.plan import BOOTSTUB_MAX_BYTES, PlanConfig, plan  # noqa: E402


@pytest.mark.parametrize("mcu", ["atmega328p", "atmega168p", "atmega88p", "atmega32u4", "atmega2560"])
def test_bootstub_is_at_most_64_bytes_and_sits_at_the_boot_section_start(mcu: str) -> None:
    layout = plan(PlanConfig(mcu))
    elf = build_firmware(layout)
    size = section_size(elf, ".spareflash_bootstub")
    assert 0 < size <= BOOTSTUB_MAX_BYTES == 64
    assert symbol_address(elf, "sf_bootstub_spm") == layout.boot_start
    assert layout.boot is not None and layout.boot_start + size <= layout.chip.flash_size


def test_bootstub_size_figures() -> None:
    """The measured sizes (docs/backends.md quotes them): 16-bit fence 54 bytes, 24-bit fence (RAMPZ) 64."""
    assert section_size(build_firmware(plan(PlanConfig("atmega328p"))), ".spareflash_bootstub") == 54
    assert section_size(build_firmware(plan(PlanConfig("atmega2560"))), ".spareflash_bootstub") == 64


@needs_sim
def test_bootstub_fences_page0_app_and_boot_section_and_accepts_storage_pages() -> None:
    layout = plan(PlanConfig("atmega328p"))
    elf = build_firmware(layout)
    # strict_spm=False: the run must also read freshly erased pages back (see docs/backends.md, simulator note)
    sim, result, image = run(elf, layout, layout.fuses, strict=False)
    assert result.reason == "sleep", result.message
    assert list(sim.debug) == LIBRARY_STATUSES + STUB_STATUSES
    check_flash_after_accepted_run(sim, image, layout, stub_erased_first_page=True)
    # every page operation the chip saw was on a storage page
    assert sim.page_ops and all(layout.storage.start <= op.page < layout.storage.end for op in sim.page_ops)
    kinds = [(op.kind, op.page - layout.storage.start) for op in sim.page_ops]
    page = layout.chip.page_size
    assert kinds == [("erase", page), ("write", page), ("write", page), ("write", page), ("erase", 0)]


@needs_sim
@pytest.mark.parametrize("code", [0b10, 0b01])
def test_bootstub_spm_works_with_the_boot_section_its_fuses_select(code: int) -> None:
    """The stub placed at the start of a larger boot section (BOOTSZ=10/01), with fuses selecting that section."""
    chip = get_chip("atmega328p")
    layout = with_boot_code(plan(PlanConfig("atmega328p")), code)
    elf = build_firmware(layout)
    assert symbol_address(elf, "sf_bootstub_spm") == chip.boot_size_by_code(code).start
    sim, result, _ = run(elf, layout, with_bootsz(chip, layout.fuses, code), strict=False)
    assert result.reason == "sleep", result.message
    assert list(sim.debug) == LIBRARY_STATUSES + STUB_STATUSES


@needs_sim
@pytest.mark.parametrize("code", [0b10, 0b01, 0b00])
def test_bootstub_below_the_boot_section_is_refused_by_the_chip(code: int) -> None:
    """Fuses selecting a boot section one size smaller than the stub's: the stub lies in the application section,
    where the chip refuses SPM. Strict: the simulator reports the refused SPM; silicon-like: ignored, and the
    library notices (SF_ERR_VERIFY) instead of claiming success."""
    chip = get_chip("atmega328p")
    layout = with_boot_code(plan(PlanConfig("atmega328p")), code)
    elf = build_firmware(layout)
    smaller = with_bootsz(chip, layout.fuses, code + 1)
    sim, result, image = run(elf, layout, smaller, strict=True)
    assert result.reason == "crash"
    assert "refused" in result.message.lower()
    assert sim.flash == image

    sim, result, image = run(elf, layout, smaller, strict=False)
    assert result.reason == "sleep", result.message
    statuses = list(sim.debug)
    assert statuses[0] == SF_OK  # the stub is in flash, begin cannot see the fuses
    assert statuses[2] == SF_ERR_VERIFY  # the program was ignored by the chip
    assert sim.flash == image


@needs_sim
def test_bootstub_missing_from_flash_gives_no_backend_and_never_calls_into_the_boot_section() -> None:
    """An image uploaded through a bootloader has no stub in the boot section: begin() says so, nothing crashes."""
    layout = plan(PlanConfig("atmega328p"))
    elf = build_firmware(layout)
    from spareflash.sim import load_firmware

    fw = load_firmware(elf)
    image = bytearray(fw.flash + b"\xff" * (layout.chip.flash_size - len(fw.flash)))
    image[layout.boot_start:] = b"\xff" * (layout.chip.flash_size - layout.boot_start)
    from spareflash.sim import Simulator

    sim = Simulator(elf, "atmega328p", fuses=layout.fuses, flash_in=bytes(image), strict_spm=True)
    result = sim.run(max_cycles=30_000_000)
    assert result.reason == "sleep", result.message
    assert list(sim.debug) == [SF_ERR_NO_BACKEND] * 11 + [SF_ERR_ARG, SF_OK]
    assert not sim.page_ops
    assert sim.flash == bytes(image)
