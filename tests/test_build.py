"""spareflash.build: sketches compiled by the real toolchain carry the flash plan (symbols, size limit, fuses)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from spareflash.build import BOARDS, build_sketch, first_error_line, fuse_section_source, get_board
from spareflash.chips import get_chip
from spareflash.cli import main as cli_main
from spareflash.errors import SpareFlashError, ToolchainError
from spareflash.plan import PlanConfig, plan

PROBE = """\
#include <spareflash_layout.h>
// Uses a plan symbol so the link needs the plan's --defsym flags.
void setup() { GPIOR0 = (uint8_t)(sf_storage_start() >> 8); }
void loop() {}
"""

TINY_MAIN = """\
#include <avr/io.h>
int main(void) { GPIOR0 = 1; for (;;) {} }
"""


def make_sketch(root: Path, name: str, text: str) -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.ino").write_text(text)
    return d


def elf_info(elf: Path) -> tuple[dict[str, int], dict[str, bytes]]:
    """(absolute symbols, contents of .fuse/.lock) of an ELF."""
    with open(elf, "rb") as fh:
        e = ELFFile(fh)
        symtab = e.get_section_by_name(".symtab")
        syms = {s.name: s["st_value"] for s in symtab.iter_symbols()
                if s.name.startswith("__spareflash_") and s["st_shndx"] != "SHN_UNDEF"}
        sections = {n: e.get_section_by_name(n).data() for n in (".fuse", ".lock") if e.get_section_by_name(n)}
    return syms, sections


@pytest.fixture(scope="module")
def sketches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sketches")
    make_sketch(root, "Probe", PROBE)
    make_sketch(root, "TinyMain", TINY_MAIN)
    make_sketch(root, "Broken", "void setup() { no_such_function(); }\nvoid loop() {}\n")
    # 20 KB of constant data: fits an Uno, not an Uno with 12 KB reserved for storage.
    make_sketch(root, "Big", "const uint8_t blob[20000] PROGMEM = {1};\n"
                             "void setup() { GPIOR0 = pgm_read_byte(&blob[GPIOR1]); }\nvoid loop() {}\n")
    return root


@pytest.mark.parametrize("board", ["uno", "leonardo", "mega", "attiny85", "attiny84", "attiny45", "attiny25"])
def test_build_applies_the_plan_symbols_and_fuses(sketches: Path, board: str, tmp_path: Path) -> None:
    b = get_board(board)
    cfg = PlanConfig(mcu=b.mcu, storage_bytes=4 * get_chip(b.mcu).page_size, board=b.plan_board)
    result = build_sketch(sketches / "Probe", board=board, plan_config=cfg, build_dir=tmp_path / "b")
    assert result.elf.is_file() and result.hex.is_file()
    assert result.layout == plan(cfg)
    syms, sections = elf_info(result.elf)
    assert syms == result.layout.symbols()
    chip = result.layout.chip
    fuse_bytes = bytes(result.layout.fuses[f.name] for f in chip.fuses)
    assert sections[".fuse"] == fuse_bytes
    assert sections[".lock"] == bytes([result.layout.fuses["lock"]])
    assert 0 < result.size["flash"] <= result.layout.max_app_size
    # the hex holds only program flash: nothing at or above the reserved regions
    from intelhex import IntelHex

    ih = IntelHex(str(result.hex))
    in_regions = [a for a in ih.addresses() if result.layout.app_end <= a < result.layout.boot_start]
    assert in_regions == [] and ih.maxaddr() < chip.flash_size


def test_default_plan_is_the_boards_and_build_dir_is_reused(sketches: Path) -> None:
    first = build_sketch(sketches / "Probe", board="uno")
    assert first.layout is not None
    assert first.layout == plan(PlanConfig(mcu="atmega328p", board="uno"))
    assert first.elf.is_relative_to(Path(__file__).resolve().parents[1] / ".build")
    again = build_sketch(sketches / "Probe", board="uno")
    assert again.elf == first.elf  # same options, same build folder
    # the Arduino core comes from the shared cache, not compiled into each build folder
    assert not list((first.elf.parent / "core").glob("*.o"))
    assert list((Path(__file__).resolve().parents[1] / ".build" / "core-cache").glob("*/core/core_arduino_avr_uno_*.a"))


def test_plan_changes_the_symbols(sketches: Path) -> None:
    small = build_sketch(sketches / "Probe", plan_config=PlanConfig("atmega328p", storage_bytes=1024))
    large = build_sketch(sketches / "Probe", plan_config=PlanConfig("atmega328p", storage_bytes=8192, log_bytes=1024))
    assert small.elf != large.elf
    s_syms, _ = elf_info(small.elf)
    l_syms, _ = elf_info(large.elf)
    assert s_syms["__spareflash_storage_start"] == 0x7E00 - 1024
    assert l_syms["__spareflash_storage_start"] == 0x7E00 - 1024 - 8192
    assert l_syms["__spareflash_log_start"] == 0x7E00 - 1024


def test_without_plan_there_are_no_symbols_or_fuses(sketches: Path, tmp_path: Path) -> None:
    result = build_sketch(sketches / "TinyMain", board="attiny85", apply_plan=False, build_dir=tmp_path)
    syms, sections = elf_info(result.elf)
    assert result.layout is None and syms == {} and sections == {}


def test_plan_symbols_are_required_at_link(sketches: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="undefined reference to `__spareflash_storage_start'"):
        build_sketch(sketches / "Probe", board="attiny85", apply_plan=False, build_dir=tmp_path)


def test_attiny85_sketch_may_define_main_or_setup_loop(sketches: Path) -> None:
    own_main = build_sketch(sketches / "TinyMain", board="attiny85")
    setup_loop = build_sketch(sketches / "Probe", board="attiny85")
    assert own_main.layout is not None and own_main.layout.backend == "direct"
    assert own_main.layout.fuses["efuse"] & 1 == 0  # SELFPRGEN programmed
    for r in (own_main, setup_loop):
        out = subprocess.run(["avr-nm", str(r.elf)], capture_output=True, text=True, check=True).stdout
        names = {line.split()[-1] for line in out.splitlines()}
        assert "main" in names
    assert "setup" not in subprocess.run(["avr-nm", str(own_main.elf)], capture_output=True, text=True).stdout


def test_compile_error_is_one_line_toolchain_error(sketches: Path, tmp_path: Path) -> None:
    for board in ("uno", "attiny85"):
        with pytest.raises(ToolchainError) as info:
            build_sketch(sketches / "Broken", board=board, build_dir=tmp_path / board)
        msg = str(info.value)
        assert "\n" not in msg and "no_such_function" in msg and "error" in msg


def test_sketch_too_big_for_the_reduced_limit(sketches: Path) -> None:
    ok = build_sketch(sketches / "Big", plan_config=PlanConfig("atmega328p", storage_bytes=4096))
    assert ok.size["flash"] > 20000
    with pytest.raises(ToolchainError, match="too big|more than"):
        build_sketch(sketches / "Big", plan_config=PlanConfig("atmega328p", storage_bytes=12288))


SIZE_ERROR = re.compile(r"^size: code ([\d,]+) B does not fit the ([\d,]+) B application region of (\w+) "
                        r"\(([\d,]+) B of the ([\d,]+) B flash reserved above it\): ([\d,]+) B too big$")


def size_error(exc: pytest.ExceptionInfo[SpareFlashError]) -> tuple[int, ...]:
    m = SIZE_ERROR.match(str(exc.value))
    assert m, str(exc.value)
    assert m.group(3) == "ATtiny25"
    return tuple(int(g.replace(",", "")) for g in m.groups() if g != "ATtiny25")


def test_code_too_big_for_a_tiny_is_one_line_with_the_sizes(tmp_path: Path) -> None:
    """The code does not fit the part's flash at all (the linker's own "region `text' overflowed" names neither the
    part nor the size) or only not the application region below the plan's regions: the same one line."""
    layout = plan(PlanConfig("attiny25", board="attiny25"))
    assert (layout.max_app_size, layout.reserved_bytes) == (1792, 256)
    blob = "const uint8_t blob[{}] PROGMEM = {{1}};\nint main(void) {{ GPIOR0 = pgm_read_byte(&blob[GPIOR1]); }}\n"
    over_flash = make_sketch(tmp_path, "OverFlash", blob.format(2100))
    with pytest.raises(SpareFlashError) as info:
        build_sketch(over_flash, board="attiny25", build_dir=tmp_path / "a")
    code, region, reserved, flash, too_big = size_error(info)
    assert (region, reserved, flash) == (1792, 256, 2048) and code > 2100 and too_big == code - region
    assert not list((tmp_path / "a").glob("*.elf"))  # neither the failed link nor the measuring one is left
    over_region = make_sketch(tmp_path, "OverRegion", blob.format(1900))
    with pytest.raises(SpareFlashError) as info:
        build_sketch(over_region, board="attiny25", build_dir=tmp_path / "b")
    code, region, reserved, flash, too_big = size_error(info)
    assert (region, reserved, flash) == (1792, 256, 2048) and 1900 < code <= 2048 and too_big == code - region
    fits = build_sketch(over_region, board="attiny25", plan_config=PlanConfig("attiny25", storage_bytes=64))
    assert fits.size["flash"] == code  # the same measure as a build that links


def test_bad_input_is_a_clear_error(sketches: Path, tmp_path: Path) -> None:
    with pytest.raises(SpareFlashError, match="unknown board 'due'"):
        build_sketch(sketches / "Probe", board="due")
    with pytest.raises(SpareFlashError, match="does not exist"):
        build_sketch(tmp_path / "missing")
    with pytest.raises(SpareFlashError, match="plan is for attiny85"):
        build_sketch(sketches / "Probe", board="uno", plan_config=PlanConfig("attiny85"))


def test_fuse_section_source_uses_avr_libc_macros() -> None:
    layout = plan(PlanConfig("atmega328p", board="uno"))
    src = fuse_section_source(layout)
    assert "FUSES = {" in src and f".high = 0x{layout.fuses['hfuse']:02X}," in src
    assert f"LOCKBITS = 0x{layout.fuses['lock']:02X};" in src


def test_every_board_maps_to_a_chip_in_the_chip_model() -> None:
    for b in BOARDS.values():
        # a bare chip (no Arduino board, e.g. atmega88p) names its chip and plans from the factory fuses
        assert b.plan_board in get_chip(b.mcu).boards or (b.plan_board is None and b.bare_chip == b.mcu)


def test_first_error_line_skips_noise() -> None:
    out = "Using library X\nfoo.ino:3:1: error: expected ';'\nexit status 1\n"
    assert first_error_line(out) == "foo.ino:3:1: error: expected ';'"


def test_cli_build_json_and_errors(sketches: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["build", str(sketches / "Probe"), "--board", "uno", "--storage", "2048", "--log", "1024",
                   "--out", str(tmp_path / "o"), "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layout"]["regions"]["storage"]["size"] == 2048
    assert data["layout"]["regions"]["log"]["size"] == 1024
    assert Path(data["elf"]).is_file()
    rc = cli_main(["build", str(sketches / "Probe"), "--storage", "100"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("spareflash: error: region-alignment") and err.count("\n") == 1
