"""`spareflash dump` and `spareflash report` on storage format 2 (the ATtiny25/45).

The specification: both commands read the storage region with the Python twin of the format the plan gives the
chip (Layout.storage_format, 2 on parts with at most 4 KB of flash) and say which format that is. dump (human and
--json) lists the seeded values, the pages, stats and erase counts the v2 twin finds, and names damaged pages; a
FlashLog, which format 2 does not have, is refused by its rule. report shows the storage row (no FlashLog row),
what the first boot finds there (erased, seeded keys, or not a valid region with verify's reason), in the full,
compact and JSON forms. The images are the verification suite's (tests/test_verify_mutations.py): the direct-SPM
app built by avr-gcc, with a seeded region in its HEX or linked into its ELF as the PlatformIO plugin does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from mutations.firmware import HAVE_AVR_GCC, layout_for
from spareflash.cli import main
from spareflash.report import build_report
from spareflash.storage import decode_storage
from test_verify_mutations import V2_VALUES, app_elf, hex_of, seeded_elf, v2_hex, v2_region

pytestmark = pytest.mark.skipif(not HAVE_AVR_GCC, reason="avr-gcc not installed (run ./dev setup)")

T45 = ["--mcu", "attiny45"]
HEX_VALUES = {str(k): v.hex() for k, v in V2_VALUES.items()}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def render(report: object, compact: bool) -> str:
    buf = io.StringIO()
    report.render(Console(file=buf, width=200, color_system=None), compact=compact)  # type: ignore[attr-defined]
    return buf.getvalue()


# ---- dump ------------------------------------------------------------------------------------------------------
def test_dump_json_decodes_a_format_2_region_with_the_v2_twin(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    lay = layout_for("attiny45")
    path = v2_hex("attiny45", v2_region())(tmp_path)
    code, out, err = cli(capsys, "dump", str(path), *T45, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert "log" not in doc  # format 2 has no FlashLog
    st = doc["storage"]
    assert (st["format"], st["start"], st["size"], st["pages"], st["page_size"]) == (2, lay.storage.start, 512, 8, 64)
    assert st["values"] == HEX_VALUES and st["damaged_pages"] == [] and st["pages_in_use"] == 1
    # records 4 + 2 and 4 + 3 bytes behind the 6-byte header of page 0; free: the rest of page 0 and 7 x (64 - 6)
    assert st["live_bytes"] == 13 and st["free_bytes"] == (64 - 19) + 7 * 58
    assert st["erase_counts"] == [0] * 8 and (st["head_page"], st["head_seq"]) == (0, 0)
    # the format-1 twin finds nothing in these bytes: the values above are the v2 twin's reading
    assert decode_storage(v2_region(), 64, 1)["values"] == {}


def test_dump_says_the_format_lists_the_values_and_names_a_damaged_page(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    good = v2_hex("attiny45", v2_region())(tmp_path)
    code, out, _ = cli(capsys, "dump", str(good), *T45)
    out = " ".join(out.split())  # rich wraps at the terminal width
    assert code == 0
    assert "storage (format 2) 0xE00-0xFFF: 8 pages of 64 B, 1 in use, live 13 B, free 451 B" in out
    assert "2900" in out and "616263" in out and "erase counts: 0 0 0 0 0 0 0 0" in out
    assert "without a valid header" not in out
    (tmp_path / "torn").mkdir()
    torn = v2_hex("attiny45", v2_region(patches={4: 0xFF, 5: 0xFF}))(tmp_path / "torn")  # header check bytes
    code, out, _ = cli(capsys, "dump", str(torn), *T45, "--json")
    st = json.loads(out)["storage"]
    assert code == 0 and st["damaged_pages"] == [0] and st["values"] == {} and st["pages_in_use"] == 0
    code, out, _ = cli(capsys, "dump", str(torn), *T45)
    assert "storage: 1 of 8 pages hold data without a valid header" in " ".join(out.split())


def test_dump_of_a_format_2_part_with_a_log_region_is_refused_by_its_rule(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = v2_hex("attiny45", v2_region())(tmp_path)
    code, out, err = cli(capsys, "dump", str(path), *T45, "--log", "128")
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "log-unsupported: " in err


# ---- report ----------------------------------------------------------------------------------------------------
def test_report_reads_a_seeded_format_2_elf(capsys: pytest.CaptureFixture[str]) -> None:
    lay = layout_for("attiny45")
    elf = seeded_elf("attiny45", v2_region())
    rep = build_report(elf, lay)
    assert [r.name for r in rep.flash] == ["application", "free", "FlashStorage"]  # no FlashLog row
    assert rep.flash[-1].end == lay.chip.flash_size and rep.flash[-1].used == 19
    full = render(rep, compact=False)
    assert "FlashStorage: format 2, seeded: the first boot finds key(s) 1, 2" in full and "FlashLog" not in full
    compact = render(rep, compact=True).splitlines()
    assert len(compact) == 3 and "FlashStorage 512 B @0xE00 (format 2, seeded with 2 key(s))" in compact[0]
    code, out, _ = cli(capsys, "report", str(elf), "--json")  # the MCU from the ELF's device note
    assert code == 0
    assert json.loads(out)["storage"] == {"format": 2, "state": "seeded", "values": HEX_VALUES, "problem": None}


def test_report_says_when_the_region_is_erased_or_not_a_valid_format_2_region(tmp_path: Path) -> None:
    lay = layout_for("attiny45")
    erased = build_report(hex_of(app_elf("attiny45", cflags=("-DSF_SPM",))), lay)
    assert erased.storage is not None and (erased.storage.format, erased.storage.state) == (2, "erased")
    assert "FlashStorage 512 B @0xE00 (format 2, erased)" in render(erased, compact=True)
    assert "format 2, erased: the first boot finds an empty store" in render(erased, compact=False)
    bad = v2_hex("attiny45", v2_region(patches={8: 0x28}))(tmp_path)  # a value byte of key 1's record
    rep = build_report(bad, lay)
    assert rep.storage is not None and rep.storage.state == "invalid"
    assert rep.storage.problem == "storage page 0: the record at +6 fails its check bytes"  # verify's reason
    assert "not a valid seeded region: storage page 0: the record at +6" in render(rep, compact=False)


def test_a_format_1_report_names_its_format_too() -> None:
    lay = layout_for("attiny85")
    assert lay.storage_format == 1
    rep = build_report(hex_of(app_elf("attiny85", cflags=("-DSF_SPM",))), lay)
    assert rep.storage is not None and (rep.storage.format, rep.storage.state) == (1, "erased")
