"""FlashStorage format 2 (library/src/flashstorage_v2.S) as the library's storage on the ATtiny45/25.

The plan builds parts with at most 4 KB of flash with SPAREFLASH_STORAGE_FORMAT=2 (Layout.storage_format): there
`FlashStorage` is a thin C++ API over the assembly engine with format 1's calls, status codes and
FlashStorageStats. Specified here, in the simulator with the plan's fuses and strict SPM:

* every public call of the API on the ATtiny45 (default region, 8 x 64 B) and the ATtiny25 (4 and 2 pages of
  32 B; the default 8-page region leaves too little application flash for a sketch calling all of them): the
  statuses, the values and the stats (the figures follow from the format: 6-byte page header, 4 + len per record,
  free = (P - append offset) + unused pages x (P - 6), remaining = (10,000 - max erase) x pages x ((P - 6) / 8));
* format() and stats() cost nothing in a sketch that does not call them (--gc-sections drops their sections), and
  the image passes the verifier (SPM only inside the library's sf_* routine);
* FlashLog, FlashEEPROM and Overlay are a compile-time error that names the reason on a format-2 build.

StorageBasics' calls on both parts with the default layout run in tests/test_backend_matrix.py.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from spareflash.build import build_sketch
from spareflash.errors import ToolchainError
from spareflash.plan import PlanConfig, plan
from spareflash.verify import verify_image

pytest.importorskip("yasimavr")

from spareflash.sim import Simulator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
API_CONSOLE = ROOT / "tests" / "firmware" / "storage_v2" / "StorageApiConsole"
STORAGE_CONSOLE = ROOT / "tests" / "firmware" / "matrix" / "StorageConsole"
OK, ARG, FULL, NOT_BEGUN = 0x00, 0x08, 0x20, 0x24
# put before begin, begin, format, put 1, put 2, put 3, remove 3, remove 3 again (absent: nothing written, OK),
# sizeOf(2), contains(3), get(2) with a wrong size, put key 255, put of MAXV + 1 bytes
FIRST = [NOT_BEGUN, OK, OK, OK, OK, OK, OK, OK, 4, 0, ARG, ARG, ARG]
STATS = struct.Struct("<7HI")


def symbols(elf: Path) -> set[str]:
    with elf.open("rb") as fh:
        return {s.name for s in ELFFile(fh).get_section_by_name(".symtab").iter_symbols()}


# (part, storage bytes or None for the default) -> put(4, MAXV bytes), then stats: pages, page size, live bytes,
# live records, free bytes, min/max erase count, remaining writes
CASES = {
    # MAXV 32: the 36-byte record does not fit behind the first page's 31 bytes: page 2 (erase count 1) holds it
    # and its tombstone: 46 B used there, 6 pages unused: 18 + 6 x 58 = 366 free; (10,000 - 1) x 8 x (58 // 8)
    ("attiny45", None): (OK, (8, 64, 16, 2, 366, 0, 1), 9999 * 8 * 7),
    # MAXV 22: pages 2 and 3 are started (the second by the tombstone): 22 + 1 x 26 = 48 free; max erase 2
    ("attiny25", 128): (OK, (4, 32, 16, 2, 48, 0, 2), 9998 * 4 * 3),
    # 2 pages: the 26-byte record does not fit beside the 16 live bytes after compaction: SF_ERR_FULL, nothing
    # lost; the compacted page (erase count 1) holds the two live records: 32 - 22 + 1 x 26 = 36 free
    ("attiny25", 64): (FULL, (2, 32, 16, 2, 36, 1, 1), 9999 * 2 * 3),
}


@pytest.mark.parametrize(("mcu", "storage"), list(CASES), ids=lambda v: str(v))
def test_the_whole_api_on_a_format_2_part(mcu: str, storage: int | None) -> None:
    layout = plan(PlanConfig(mcu, storage_bytes=storage))
    assert layout.storage_format == 2
    result = build_sketch(API_CONSOLE, mcu, layout=layout)
    assert {"sf2_format", "sf2_stats"} <= symbols(result.elf)
    sim = Simulator(str(result.elf), mcu, strict_spm=True, freq=8_000_000)
    res = sim.run(max_cycles=200_000_000)
    assert res.reason == "sleep", res.message
    out = bytes(sim.debug)
    put_max, stats, remaining = CASES[(mcu, storage)]
    assert list(out[:13]) == FIRST
    assert list(out[13:16]) == [put_max, OK, OK]  # put of MAXV bytes, remove(4), stats()
    fields = STATS.unpack(out[16:34])
    assert fields[:7] == stats and fields[7] == remaining
    assert struct.unpack("<I", out[34:38])[0] == 7  # get(1) after all of it
    assert all(layout.storage.start <= op.page < layout.storage.end for op in sim.page_ops)
    sim.close()


@pytest.mark.parametrize("mcu", ["attiny45", "attiny25"])
def test_format_and_stats_cost_nothing_when_not_called_and_the_image_verifies(mcu: str) -> None:
    layout = plan(PlanConfig(mcu))
    result = build_sketch(STORAGE_CONSOLE, mcu, layout=layout)
    names = symbols(result.elf)
    assert {"sf2_begin", "sf2_put", "sf2_get", "sf2_remove", "sf2_size"} <= names
    assert not {"sf2_format", "sf2_stats"} & names
    # the engine's SPM sits in a sized sf_ function, the only place the verifier accepts it on a direct part
    res = verify_image(result.elf, layout)
    assert res.ok, [f"{v.rule}: {v.message}" for v in res.violations]


USES = {
    "FlashLog": "#include <SpareFlash.h>\nFlashLog flog;\nvoid setup() { flog.begin(); }\nvoid loop() {}\n",
    "FlashEEPROM": "#include <FlashEEPROM.h>\nvoid setup() { EEPROM.write(0, 1); }\nvoid loop() {}\n",
    "Overlay": "#include <SpareFlash.h>\n#include <Overlay.h>\nvoid setup() { Overlay.begin(); }\nvoid loop() {}\n",
}


@pytest.mark.parametrize("name", list(USES))
def test_format_2_builds_name_what_they_do_not_offer_at_compile_time(tmp_path: Path, name: str) -> None:
    sketch = tmp_path / f"Uses{name}"
    sketch.mkdir()
    (sketch / f"Uses{name}.ino").write_text(USES[name])
    with pytest.raises(ToolchainError) as info:
        build_sketch(sketch, "attiny45", layout=plan(PlanConfig("attiny45")), build_dir=tmp_path / "build")
    msg = str(info.value)
    assert msg.startswith(f"compiling Uses{name}.ino failed")  # the sketch's compile, not the link
    assert f"{name} is not available on parts built with FlashStorage format 2" in msg
    assert "\n" not in msg
