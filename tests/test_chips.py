"""The chip model agrees with avr-libc's io headers and with the datasheet rules it encodes."""

from __future__ import annotations

import json
import shutil

import pytest

from avrlibc import avr_libc_fuse_bytes, avr_libc_macros
from spareflash.chips import CHIPS, get_chip
from spareflash.cli import main
from spareflash.errors import SpareFlashError

# Only the cross-checks against avr-libc need the toolchain; the datasheet tests below must run (and fail) without it.
needs_avr_gcc = pytest.mark.skipif(shutil.which("avr-gcc") is None, reason="avr-gcc not installed (run ./dev setup)")


def as_int(macros: dict[str, str], text: str) -> int:
    """Evaluate a header's integer macro: a literal with a U/L suffix, or simple arithmetic like (26 * 2)."""
    import ast
    import re


    for _ in range(5):  # expand macros that refer to other macros, e.g. RAMEND = RAMSTART + RAMSIZE - 1
        text = re.sub(r"\b([A-Z_][A-Z0-9_]*)\b", lambda m: f"({macros.get(m.group(1), m.group(1))})", text)
    expr = re.sub(r"(0[xX][0-9a-fA-F]+|\d+)[uUlL]+", r"\1", text)
    tree = ast.parse(expr, mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.UnaryOp, ast.USub)
    assert all(isinstance(node, allowed) for node in ast.walk(tree)), text
    return int(eval(compile(tree, "<macro>", "eval")))


@needs_avr_gcc
@pytest.mark.parametrize("name", sorted(CHIPS))
def test_chip_matches_avr_libc_headers(name: str) -> None:
    chip = CHIPS[name]
    m = avr_libc_macros(name, ("avr/io.h", "avr/boot.h"))
    assert as_int(m, m["SPM_PAGESIZE"]) == chip.page_size
    assert as_int(m, m["FLASHEND"]) == chip.flash_end
    assert as_int(m, m["E2END"]) == chip.eeprom_end
    assert as_int(m, m["RAMEND"]) == chip.ram_end
    assert as_int(m, m["RAMSTART"]) == chip.sram_start
    assert tuple(as_int(m, m[f"SIGNATURE_{i}"]) for i in range(3)) == chip.signature
    assert as_int(m, m["_VECTORS_SIZE"]) == chip.vector_table_bytes


@needs_avr_gcc
@pytest.mark.parametrize("name", sorted(CHIPS))
def test_every_fuse_field_sits_where_avr_libc_puts_it(name: str) -> None:
    """Each fuse byte has exactly avr-libc's bits (a multi-bit field F is avr-libc's F0, F1, ... in order) and its
    factory value (avr-libc's, unless the datasheet disagrees): a BOOTSZ, SPIEN or SELFPRGEN one bit off would
    program the wrong fuse."""
    chip = CHIPS[name]
    libc = avr_libc_fuse_bytes(name)
    assert set(libc) == {fb.name for fb in chip.fuses}
    for fb in chip.fuses:
        bits, default = libc[fb.name]
        ours: dict[str, int] = {}
        for field in fb.bits:
            for i in range(field.width):
                ours[field.name if field.width == 1 else f"{field.name}{i}"] = field.shift + i
        assert ours == bits, fb.name
        factory = DATASHEET_FACTORY_FUSES.get(name, {}).get(fb.name, default)
        assert fb.factory == factory, f"{fb.name} factory 0x{fb.factory:02X}, expected 0x{factory:02X}"


# avr-libc 2.0's iom32u4.h gives LFUSE/HFUSE/EFUSE_DEFAULT 0x51/0xDD/0xFF; the ATmega32U4 datasheet's fuse tables
# (and the parts Microchip ships) say 0x5E/0x99/0xF3: CKSEL 1110, JTAGEN and HWBE programmed, BOOTSZ 00.
DATASHEET_FACTORY_FUSES = {"atmega32u4": {"lfuse": 0x5E, "hfuse": 0x99, "efuse": 0xF3}}


@pytest.mark.parametrize("name", sorted(CHIPS))
def test_boot_sections_sit_at_the_top_of_flash_and_double(name: str) -> None:
    chip = CHIPS[name]
    sizes = sorted(chip.boot_sizes, key=lambda b: b.size)
    for smaller, larger in zip(sizes, sizes[1:]):
        assert larger.size == 2 * smaller.size
    for bs in chip.boot_sizes:
        assert bs.start + bs.size == chip.flash_size
        assert bs.start % chip.page_size == 0
    if chip.nrww_start is not None:
        # the NRWW section is exactly the largest boot section
        assert chip.nrww_start == sizes[-1].start


def test_atmega328p_datasheet_boot_table() -> None:
    chip = get_chip("ATmega328P")
    table = {bs.code: (bs.size, bs.start) for bs in chip.boot_sizes}
    assert table == {0b11: (512, 0x7E00), 0b10: (1024, 0x7C00), 0b01: (2048, 0x7800), 0b00: (4096, 0x7000)}
    # the Uno's shipped hfuse 0xDE selects the 512-byte section with BOOTRST programmed
    assert chip.boot_size_from_fuses({"hfuse": 0xDE}).start == 0x7E00
    assert chip.fuse("hfuse").field("BOOTRST").get(0xDE) == 0


def test_boot_fuses_live_in_efuse_on_the_168p() -> None:
    chip = get_chip("atmega168p")
    assert chip.boot_fuse == "efuse"
    assert chip.boot_size_from_fuses({"efuse": 0xF8}).size == 2048


def test_tiny_parts_have_selfprgen_and_no_boot_section() -> None:
    for name in ("attiny85", "attiny45", "attiny25", "attiny84"):
        chip = CHIPS[name]
        assert not chip.has_boot_section and chip.nrww_start is None
        assert chip.fuse("efuse").field("SELFPRGEN").mask == 0x01


def test_unknown_mcu_is_a_clear_error() -> None:
    with pytest.raises(SpareFlashError, match="unknown MCU 'atmega9'"):
        get_chip("atmega9")


REQUIRED_FIELDS = {"flash_size", "page_size", "eeprom_size", "sram_size", "boot_sizes", "rww", "nrww", "fuses",
                   "lock", "signature", "page_erase_ms", "page_write_ms", "flash_endurance", "eeprom_endurance"}


def test_chips_json_lists_every_chip_and_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chips", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"atmega328p", "atmega168p", "atmega88p", "atmega2560", "atmega32u4", "attiny85",
                         "attiny45", "attiny25", "attiny84"}
    for chip in data.values():
        assert set(chip) >= REQUIRED_FIELDS
        assert chip["fuses"]["lfuse"]["factory"].startswith("0x")
        assert chip["lock"]["modes"]["LB"]
