"""The bootloader and direct SPM backends (optiboot, urboot, direct) on the simulated chips.

Each backend runs the same test firmware as the bootstub (tests/firmware/backends/fence_main.c): begin, erase,
program (partial words at both ends), append into the same page, a program needing 0->1 bits (SF_ERR_VERIFY), the
fence and argument checks. The bootloaders are our own test doubles implementing Optiboot 8's do_spm and urboot's
pgm_write_page ABIs (tests/firmware/backends/*_double.S), linked into the boot section; the stock Uno bootloader
(Optiboot 4.4, Debian's hex) is used as is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "firmware" / "backends"))

from fwbuild import (  # noqa: E402
    HERE,
    LIBRARY_STATUSES,
    SF_ERR_ARG,
    SF_ERR_NO_BACKEND,
    SF_ERR_VERIFY,
    SF_OK,
    build_firmware,
    check_flash_after_accepted_run,
    needs_sim,
    read_hex_last_wins,
    run,
    symbol_address,
    with_boot_code,
    with_bootsz,
)

from spareflash.chips import get_chip  # noqa: E402
from spareflash.plan import Layout, PlanConfig, plan  # noqa: E402

SF_ERR_BOOTLOADER_VERSION = 7
STOCK_OPTIBOOT = Path("/usr/share/arduino/hardware/arduino/avr/bootloaders/optiboot/optiboot_atmega328.hex")
# begin() failed: every erase/program is refused without touching SPM (the NULL and n == 0 checks come first)
NOT_READY = [SF_ERR_NO_BACKEND] * 10 + [SF_ERR_ARG, SF_OK]


def double_flags(backend: str, layout: Layout) -> tuple[list[Path], list[str]]:
    """The test double of `backend`'s bootloader at the layout's boot start, its table at the top of flash."""
    top = layout.chip.flash_size
    if backend == "optiboot":
        src, table, size, syms = "optiboot8_double.S", ".testbootver", 2, ("optiboot_double_start",
                                                                         "optiboot_double_version")
    else:
        src, table, size, syms = "urboot_double.S", ".testboottab", 6, ("urboot_double_start", "urboot_double_table")
    flags = [f"-Wl,--section-start=.testboot=0x{layout.boot_start:X}",
             f"-Wl,--section-start={table}=0x{top - size:X}", *(f"-Wl,-u,{s}" for s in syms)]
    return [HERE / src], flags


def build_with_double(backend: str, layout: Layout) -> Path:
    sources, flags = double_flags(backend, layout)
    return build_firmware(layout, extra_sources=sources, extra_link_flags=flags)


def uno_layout(backend: str) -> Layout:
    return plan(PlanConfig("atmega328p", backend=backend, board="uno"))


# The Uno ships lock 0xCF: BLB1 mode 3 forbids LPM from the application into the boot section, so sf_flash_begin()
# could not read the bootloader's version/table (yasimavr crashes on such a read; silicon returns no usable data).
# The bootloader backends need BLB1 mode 2 (0xEF: SPM still cannot write the boot section). docs/backends.md.
READABLE_BOOT_LOCK = 0xEF


def bootloader_fuses(layout: Layout) -> dict[str, int]:
    return dict(layout.fuses, lock=READABLE_BOOT_LOCK)


@needs_sim
@pytest.mark.parametrize("backend", ["optiboot", "urboot"])
def test_bootloader_backend_programs_storage_with_the_boards_fuses(backend: str) -> None:
    layout = uno_layout(backend)
    assert layout.boot_start == 0x7E00 and layout.fuses["hfuse"] == 0xDE  # the Uno's own fuses, BOOTRST on
    elf = build_with_double(backend, layout)
    sim, result, image = run(elf, layout, bootloader_fuses(layout), strict=False)
    assert result.reason == "sleep", result.message
    assert list(sim.debug) == LIBRARY_STATUSES
    check_flash_after_accepted_run(sim, image, layout, stub_erased_first_page=False)
    page = layout.chip.page_size
    kinds = [op.kind for op in sim.page_ops if op.page == layout.storage.start + page]
    assert all(layout.storage.start <= op.page < layout.storage.end for op in sim.page_ops)
    if backend == "optiboot":  # in-place programming: one erase, then writes without erase
        assert kinds == ["erase", "write", "write", "write"]
    else:  # urboot writes whole pages from RAM: every program is an erase + write of the page
        assert kinds == ["erase", "write"] * 4


@needs_sim
@pytest.mark.parametrize("backend", ["optiboot", "urboot"])
def test_bootloader_below_the_boot_section_is_refused(backend: str) -> None:
    """The bootloader double at the start of the 1 KB boot section, the fuses selecting the 512-byte one."""
    chip = get_chip("atmega328p")
    layout = with_boot_code(uno_layout(backend), 0b10)
    elf = build_with_double(backend, layout)
    sym = "optiboot_double_start" if backend == "optiboot" else "urboot_double_start"
    assert symbol_address(elf, sym) == 0x7C00
    sim, result, _ = run(elf, layout, with_bootsz(chip, bootloader_fuses(layout), 0b10), strict=False)
    assert result.reason == "sleep", result.message
    assert list(sim.debug) == LIBRARY_STATUSES  # the section it was built for: accepted

    smaller = with_bootsz(chip, bootloader_fuses(layout), 0b11)
    smaller["hfuse"] |= 1  # BOOTRST off: the reset vector would be 0x7E00, where this layout has no bootloader
    sim, result, image = run(elf, layout, smaller, strict=True)
    assert result.reason == "crash" and "refused" in result.message.lower()
    assert sim.flash == image
    sim, result, image = run(elf, layout, smaller, strict=False)
    assert result.reason == "sleep", result.message
    assert list(sim.debug)[2] == SF_ERR_VERIFY and sim.flash == image


def flash_with_stock_optiboot(elf: Path) -> bytes:
    from spareflash.sim import load_firmware

    chip = get_chip("atmega328p")
    app = load_firmware(elf).flash
    boot = read_hex_last_wins(STOCK_OPTIBOOT, chip.flash_size)
    image = bytearray(app + b"\xff" * (chip.flash_size - len(app)))
    image[0x7E00:] = boot[0x7E00:chip.flash_size]
    return bytes(image)


@needs_sim
@pytest.mark.skipif(not STOCK_OPTIBOOT.exists(), reason="Debian's arduino-core-avr Optiboot hex missing")
@pytest.mark.parametrize("backend", ["optiboot", "urboot"])
def test_stock_uno_optiboot4_is_reported_not_called(backend: str) -> None:
    """Optiboot 4.4 (stock Uno) exports neither do_spm nor pgm_write_page: begin() says so and no SPM happens."""
    from spareflash.sim import Simulator

    layout = uno_layout(backend)
    elf = build_firmware(layout)
    image = flash_with_stock_optiboot(elf)
    assert image[0x7FFE:0x8000] == bytes([4, 4])  # Optiboot's version word: 4.4
    sim = Simulator(elf, "atmega328p", fuses=bootloader_fuses(layout), flash_in=image, strict_spm=True)
    result = sim.run(max_cycles=30_000_000)
    assert result.reason == "sleep", result.message  # reset ran Optiboot 4, which started the application
    assert list(sim.debug) == [SF_ERR_BOOTLOADER_VERSION, *NOT_READY]
    assert not sim.page_ops and sim.flash == image


@needs_sim
@pytest.mark.parametrize("backend", ["optiboot", "urboot"])
def test_no_bootloader_at_all_is_no_backend(backend: str) -> None:
    from spareflash.sim import Simulator

    layout = uno_layout(backend)
    elf = build_firmware(layout)
    # BOOTRST off: there is nothing to run in the boot section
    fuses = dict(bootloader_fuses(layout), hfuse=layout.fuses["hfuse"] | 1)
    sim = Simulator(elf, "atmega328p", fuses=fuses, strict_spm=True)
    result = sim.run(max_cycles=30_000_000)
    assert result.reason == "sleep", result.message
    assert list(sim.debug) == [SF_ERR_NO_BACKEND, *NOT_READY]
    assert not sim.page_ops


def test_backends_compile_for_the_atmega2560_with_24_bit_addresses() -> None:
    """No simulator model of the 2560: the far-address paths (ELPM, RAMPZ, 24-bit fence) are build-checked."""
    for backend in ("bootstub", "optiboot", "urboot"):
        layout = plan(PlanConfig("atmega2560", backend=backend))
        assert layout.storage.start > 0xFFFF
        assert build_firmware(layout).exists()


@needs_sim
def test_direct_backend_on_attiny85_with_selfprgen() -> None:
    layout = plan(PlanConfig("attiny85"))
    assert layout.backend == "direct" and layout.fuses["efuse"] & 1 == 0  # SELFPRGEN programmed
    elf = build_firmware(layout, f_cpu=8_000_000)
    sim, result, image = run(elf, layout, layout.fuses, strict=False, mcu="attiny85")
    assert result.reason == "sleep", result.message
    assert list(sim.debug) == LIBRARY_STATUSES
    check_flash_after_accepted_run(sim, image, layout, stub_erased_first_page=False)
    page = layout.chip.page_size
    assert [op.kind for op in sim.page_ops] == ["erase", "write", "write", "write"]
    assert all(op.page == layout.storage.start + page for op in sim.page_ops)


@needs_sim
def test_direct_backend_without_selfprgen_is_refused() -> None:
    layout = plan(PlanConfig("attiny85"))
    elf = build_firmware(layout, f_cpu=8_000_000)
    fuses = dict(layout.fuses, efuse=layout.fuses["efuse"] | 1)
    sim, result, image = run(elf, layout, fuses, strict=True, mcu="attiny85")
    assert result.reason == "crash" and "refused" in result.message.lower()
    sim, result, image = run(elf, layout, fuses, strict=False, mcu="attiny85")
    assert result.reason == "sleep", result.message
    statuses = list(sim.debug)
    assert statuses[0] == SF_OK and statuses[2] == SF_ERR_VERIFY  # SELFPRGEN cannot be read: verify catches it
    assert sim.flash == image
