"""The memory report: regions add up to the chip's flash, RAM/EEPROM match the ELF, fuses decode field by field."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from mutations.firmware import HAVE_AVR_GCC, build, fuse_defines, hex_of, layout_for
from spareflash.cli import main
from spareflash.report import build_report
from spareflash.verify import synthetic_hex

needs_gcc = pytest.mark.skipif(not HAVE_AVR_GCC, reason="avr-gcc not installed (run ./dev setup)")


def section_sizes(elf: Path) -> dict[str, int]:
    """Section sizes as avr-objdump -h prints them: the independent oracle for the report's figures."""
    out = subprocess.run(["avr-objdump", "-h", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit():
            sizes[parts[1]] = int(parts[2], 16)
    return sizes


def render(report: object, compact: bool) -> str:
    buf = io.StringIO()
    report.render(Console(file=buf, width=120, color_system=None), compact=compact)  # type: ignore[attr-defined]
    return buf.getvalue()


@needs_gcc
@pytest.mark.parametrize("mcu,plan_kw", [("atmega328p", {}), ("atmega328p", {"log_bytes": 1024,
                                          "overlay_slots": 2, "slot_bytes": 512}), ("attiny85", {}),
                                         ("atmega2560", {"backend": "optiboot"})])
def test_regions_tile_the_flash_and_match_the_plan(mcu: str, plan_kw: dict[str, int]) -> None:
    lay = layout_for(mcu, **plan_kw)
    elf = build("app.c", lay, ["-DBIG_RAM=100", *fuse_defines(lay)] + (
        [] if lay.backend == "bootstub" else ["-DNO_STUB"]))
    rep = build_report(elf, lay)
    rows = rep.flash
    assert rows[0].start == 0 and rows[-1].end == lay.chip.flash_size
    assert all(a.end == b.start for a, b in zip(rows, rows[1:])), "regions must tile the flash without gaps"
    sizes = section_sizes(elf)
    assert rep.app_used == sizes[".text"] + sizes.get(".data", 0)
    assert rep.ram["data"] == sizes.get(".data", 0) and rep.ram["bss"] == sizes[".bss"]
    by_start = {r.start: r for r in rows}
    for region in lay.regions:
        if region.size:
            assert by_start[region.start].size == region.size and by_start[region.start].used == 0
    doc = json.loads(json.dumps(rep.to_dict()))
    assert doc["flash"]["max_app_size"] == lay.max_app_size
    assert doc["fuses"] == {k: f"0x{v:02X}" for k, v in lay.fuses.items()}


@needs_gcc
def test_the_full_report_shows_bars_ram_fuse_fields_and_the_largest_symbols() -> None:
    lay = layout_for("atmega328p")
    elf = build("app.c", lay, ["-DBIG_RAM=300", *fuse_defines(lay)])
    text = render(build_report(elf, lay), compact=False)
    for needle in ("FlashStorage", "bootstub", "application", "free", "█", "SRAM", "EEPROM", "BOOTSZ", "SPIEN",
                   "BLB1", "mode 2", "big_ram"):
        assert needle in text, needle
    rep = build_report(elf, lay)
    assert rep.symbols[0].name == "big_ram" and rep.symbols[0].size == 300 and rep.symbols[0].kind == "ram"
    assert all(not s.name.startswith("__fuse") for s in rep.symbols)


@needs_gcc
def test_compact_report_is_three_lines() -> None:
    lay = layout_for("atmega328p")
    elf = build("app.c", lay, fuse_defines(lay))
    lines = render(build_report(elf, lay), compact=True).strip().splitlines()
    assert len(lines) == 3
    assert "FlashStorage 4096 B @0x6E00" in lines[0] and "RAM" in lines[1] and "hfuse=0xDF" in lines[2]


def test_a_hex_report_has_flash_but_no_ram_figures(tmp_path: Path) -> None:
    lay = layout_for("atmega2560")
    path = tmp_path / "full.hex"
    path.write_text(synthetic_hex(lay))
    rep = build_report(path, lay)
    assert rep.app_used == lay.max_app_size and rep.flash[1].size == 0  # application full, nothing free
    assert rep.ram == {} and "unknown" in render(rep, compact=True)


@needs_gcc
def test_report_cli_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lay = layout_for("atmega328p")
    elf = build("app.c", lay, fuse_defines(lay))
    assert main(["report", str(elf), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mcu"] == "atmega328p" and doc["fuses_decoded"]["hfuse"]["fields"]["BOOTSZ"]["bits"] == "11"
    assert main(["report", str(hex_of(elf)), "--mcu", "atmega328p", "--compact"]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.hex"
    bad.write_text(":0400000001020304F3\n:00000001FF\n")
    assert main(["report", str(bad), "--mcu", "atmega328p"]) == 2
    err = capsys.readouterr().err
    assert "hex-malformed" in err and "Traceback" not in err
