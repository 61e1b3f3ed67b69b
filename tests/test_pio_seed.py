"""Seeding the storage region from platformio.ini: `custom_spareflash_seed = values.json`.

The specification: the seed file maps keys (0..254) to values (a 16-bit int, hex bytes, a list of bytes, or a typed
value such as {"uint32": 41}); the plugin turns it into the storage region FlashStorage would write
(spareflash.storage.seed_region) and links it as the section `.spareflash_seed` at the storage start, so
firmware.hex and the ELF both carry it; spareflash.verify accepts that region because
spareflash.storage.validate_region says it is a valid seeded image, and rejects a damaged one; the firmware's first
boot reads the seeded values with FlashStorage.get. A bad seed file stops the build with one line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spareflash.errors import SpareFlashError
from spareflash.plan import PlanConfig, plan
from spareflash.platformio.plugin import SEED_SECTION, load_seed, seed_image, seed_source
from spareflash.storage import decode_storage, seed_region, validate_region
from test_pio_build import elf_of, elf_section, failed, library, make_project, ok, pio  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[1]
UNO = plan(PlanConfig("atmega328p", board="uno"))


def seed_file(tmp_path: Path, data: object, name: str = "values.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# ---- the seed file format ---------------------------------------------------------------------------------------
def test_seed_file_values_become_the_bytes_the_sketch_reads(tmp_path: Path) -> None:
    values = load_seed(seed_file(tmp_path, {
        "1": {"uint32": 41},  # uint32_t boots
        "2": [0xE8, 0x03, 7, 5],  # struct {uint16_t; uint8_t; uint8_t}
        "0x03": "e8 03 07 00",  # hex bytes in storage order
        "4": -2,  # a plain int is an AVR int: 16 bits, little endian
        "5": {"text": "hi"},
        "6": {"float": 1.5},
        "7": {"int8": -1},
    }))
    assert values == {1: bytes([41, 0, 0, 0]), 2: bytes([0xE8, 3, 7, 5]), 3: bytes([0xE8, 3, 7, 0]),
                      4: b"\xfe\xff", 5: b"hi", 6: bytes([0, 0, 0xC0, 0x3F]), 7: b"\xff"}


@pytest.mark.parametrize("data, words", [
    ("{not json", "not JSON"),
    ([1, 2], "JSON object"),
    ({"255": 1}, "outside 0..254"),
    ({"one": 1}, "not a number"),
    ({"1": 70000}, "does not fit an int"),
    ({"1": "xyz"}, "not hex bytes"),
    ({"1": "abc"}, "not hex bytes"),  # an odd number of digits is not whole bytes
    ({"1": [256]}, "bytes (0..255)"),
    ({"1": []}, "bytes (0..255)"),
    ({"1": {"uint8": 256}}, "does not fit uint8"),
    ({"1": {"uint16": 1.5}}, "needs an integer"),
    ({"1": True}, "true/false"),
    ({"1": {"u32": 1}}, "is not a value"),
    ({"1": 1, "0x1": 2}, "given twice"),
])
def test_bad_seed_files_are_refused_with_one_line(tmp_path: Path, data: object, words: str) -> None:
    with pytest.raises(SpareFlashError) as exc:
        load_seed(seed_file(tmp_path, data))
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_values_too_large_for_storage_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpareFlashError, match="^seed-value-size: custom_spareflash_seed: key 1 is 33 bytes; "):
        seed_image(UNO, {1: bytes(33)})  # FlashStorage values are at most 32 bytes


def test_seed_source_holds_the_region_up_to_its_last_used_page() -> None:
    region = seed_region(UNO, {1: bytes([41, 0, 0, 0])})
    src = seed_source(UNO, region)
    assert f".section {SEED_SECTION}" in src
    data = bytes(int(b, 16) for line in src.splitlines() if line.strip().startswith(".byte")
                 for b in line.split(None, 1)[1].split(","))
    assert data == region[:UNO.chip.page_size]  # only page 0 is used; the erased rest is left out
    assert region[len(data):] == b"\xff" * (len(region) - len(data))


# ---- the storage validator that spareflash.verify uses -------------------------------------------------------------
def test_validate_region_accepts_a_seeded_region_and_names_what_is_wrong_with_a_damaged_one() -> None:
    good = seed_region(UNO, {1: bytes([41, 0, 0, 0]), 2: b"abc"})
    assert validate_region("storage", good, UNO) is None
    bad_record = bytearray(good)
    bad_record[8 + 2] ^= 0x01  # a value byte of the first record
    assert "fails its CRC" in (validate_region("storage", bytes(bad_record), UNO) or "")
    tail = bytearray(good)
    tail[100] = 0x00
    assert "not erased" in (validate_region("storage", bytes(tail), UNO) or "")
    foreign = bytearray(good)
    foreign[UNO.chip.page_size + 5] = 0x12  # a page with bytes but no header
    assert "no valid page header" in (validate_region("storage", bytes(foreign), UNO) or "")
    assert "log page 0" in (validate_region("log", good, UNO) or "")  # a storage page is not a log page
    assert validate_region("slots", good, UNO) is not None


# ---- a real pio run, then the firmware in the simulator ----------------------------------------------------------
def storage_basics_project(tmp_path: Path, library: Path, extra: str) -> Path:  # noqa: F811
    proj = make_project(tmp_path, library, "uses", "uno", extra)
    shutil.rmtree(proj / "src")
    (proj / "src").mkdir()
    shutil.copy(ROOT / "examples" / "StorageBasics" / "StorageBasics.ino", proj / "src" / "StorageBasics.ino")
    return proj


def test_pio_run_seeds_storage_and_the_first_boot_reads_it(tmp_path: Path, library: Path) -> None:  # noqa: F811
    pytest.importorskip("yasimavr")
    from spareflash.sim import Simulator
    from spareflash.storage import read_image
    from spareflash.verify import verify_image

    proj = storage_basics_project(tmp_path, library, "custom_spareflash_seed = values.json")
    seed_file(proj, {"1": {"uint32": 41}, "2": [0xE8, 0x03, 7, 5]})
    out = ok(pio(proj))
    assert "SpareFlash: storage seeded from values.json: keys 1, 2 at 0x6E00" in out
    assert "SpareFlash: verification passed (firmware.elf)" in out  # the seeded region passed validate_region
    elf = elf_of(proj, "uno")
    expected = seed_region(UNO, {1: bytes([41, 0, 0, 0]), 2: bytes([0xE8, 3, 7, 5])})
    seed = elf_section(elf, SEED_SECTION)
    assert seed is not None and expected.startswith(seed)
    # firmware.hex (what avrdude uploads) carries the region too
    assert read_image(elf.with_suffix(".hex"), UNO)["storage"].data == expected
    assert verify_image(elf.with_suffix(".hex"), UNO).ok

    sim = Simulator(str(elf), "atmega328p")  # fuses and flash from the ELF: seed included
    result = sim.run(max_cycles=80_000_000)
    assert result.ok, result.message
    assert "boots: 42 put: 0" in sim.serial_text  # the first boot read the seeded 41
    assert "settings: 1000 7 6" in sim.serial_text  # and the seeded settings (flags 5 -> 6)
    region = sim.flash[UNO.storage.start:UNO.storage.end]
    assert decode_storage(region, UNO.chip.page_size)["values"][1] == (42).to_bytes(4, "little").hex()

    # a seed file that changes makes an incremental build relink with the new values
    seed_file(proj, {"1": {"uint32": 99}})
    again = ok(pio(proj))
    assert "Linking" in again and "keys 1 at" in again
    assert elf_section(elf, SEED_SECTION) == seed_region(UNO, {1: bytes([99, 0, 0, 0])})[:UNO.chip.page_size]


def test_a_bad_seed_file_fails_the_build_with_one_line(tmp_path: Path, library: Path) -> None:  # noqa: F811
    proj = storage_basics_project(tmp_path, library, "custom_spareflash_seed = values.json")
    seed_file(proj, {"1": 1, "300": 2})
    out = failed(pio(proj))
    assert "Error: SpareFlash: seed-key: custom_spareflash_seed values.json: key 300 is outside 0..254" in out
    assert "Traceback" not in out


# ---- storage format 2 (ATtiny25/45): the same option, the v2 twin's region ------------------------------------
TINY45 = plan(PlanConfig("attiny45", board="attiny45"))


def test_pio_run_seeds_a_format_2_region_and_the_first_boot_reads_it(tmp_path: Path, library: Path  # noqa: F811
                                                                       ) -> None:
    pytest.importorskip("yasimavr")
    from spareflash.sim import Simulator
    from spareflash.storage import read_image
    from spareflash.verify import verify_image

    assert TINY45.storage_format == 2
    proj = make_project(tmp_path, library, "storage_tiny", "attiny45",
                        "lib_compat_mode = off\ncustom_spareflash_seed = values.json", framework=None)
    seed_file(proj, {"1": {"uint16": 41}, "2": [0xE8, 0x03, 7, 5]})
    out = ok(pio(proj))
    start = f"0x{TINY45.storage.start:X}"
    assert f"SpareFlash: storage seeded from values.json: keys 1, 2 at {start}" in out
    assert "SpareFlash: verification passed (firmware.elf)" in out  # validate_region's format-2 check held
    values = {1: bytes([41, 0]), 2: bytes([0xE8, 3, 7, 5])}
    expected = seed_region(TINY45, values)
    elf = elf_of(proj, "attiny45")
    seed = elf_section(elf, SEED_SECTION)
    assert seed is not None and expected.startswith(seed)
    for image in (elf, elf.with_suffix(".hex")):  # the ELF and what avrdude uploads carry the v2 region
        region = read_image(image, TINY45)["storage"].data
        assert region == expected
        decoded = decode_storage(region, TINY45.chip.page_size, 2)
        assert decoded["values"] == {k: v.hex() for k, v in values.items()} and decoded["damaged_pages"] == []
        assert verify_image(image, TINY45).ok
    # the format-1 twin does not read a format-2 region: the decode above is the v2 twin's
    assert decode_storage(expected, TINY45.chip.page_size, 1)["values"] == {}

    sim = Simulator(str(elf), "attiny45", strict_spm=True, freq=8_000_000)  # fuses (SELFPRGEN) from the ELF
    result = sim.run(max_cycles=40_000_000)
    assert result.reason == "sleep", result.message
    # begin OK, get(1) OK 41, get(2) OK e8 03 07 05, put(1, 42) OK
    assert sim.debug == bytes([0, 0, 41, 0, 0, 0xE8, 3, 7, 5, 0])
    region = sim.flash[TINY45.storage.start:TINY45.storage.end]
    assert decode_storage(region, TINY45.chip.page_size, 2)["values"] == {1: "2a00", 2: "e8030705"}
    sim.close()


# values format 2 cannot store: refused at seed time, one line, the rule first. MAXV = min(32, page - 10); a
# record is 4 + len bytes behind a 6-byte page header, one page stays free for compaction (N - 1 pages of records)
@pytest.mark.parametrize(("mcu", "data", "rule", "words"), [
    ("attiny45", {"1": "00" * 33}, "seed-value-size", "key 1 is 33 bytes; storage format 2 on the ATtiny45 "
     "(64-byte pages) stores values of 1..32 bytes"),
    ("attiny25", {"1": "00" * 23}, "seed-value-size", "key 1 is 23 bytes; storage format 2 on the ATtiny25 "
     "(32-byte pages) stores values of 1..22 bytes"),
    ("attiny45", {"255": 1}, "seed-key", "key 255 is outside 0..254"),  # 0xFF ends a page's records
    # one 36-byte record per 64-byte page: 7 of the 8 pages hold records, the 8th value does not fit
    ("attiny45", {str(k): "00" * 32 for k in range(8)}, "seed-full", "key 7 does not fit: 8 values of 256 bytes"),
    # 26-byte records in 32-byte pages: the same on the ATtiny25
    ("attiny25", {str(k): "00" * 22 for k in range(8)}, "seed-full", "key 7 does not fit: 8 values of 176 bytes"),
])
def test_values_format_2_cannot_store_are_refused_by_their_rule(tmp_path: Path, mcu: str, data: object, rule: str,
                                                                words: str) -> None:
    layout = plan(PlanConfig(mcu, board=mcu))
    assert layout.storage_format == 2
    with pytest.raises(SpareFlashError) as exc:
        seed_image(layout, load_seed(seed_file(tmp_path, data)), "values.json")
    msg = str(exc.value)
    assert msg.startswith(f"{rule}: custom_spareflash_seed") and words in msg and "\n" not in msg


@pytest.mark.parametrize(("mcu", "values"), [
    ("attiny45", {k: bytes([k]) * 32 for k in range(7)}),  # the largest values, as many as fit
    ("attiny25", {k: bytes([k]) * 22 for k in range(7)}),
    ("attiny25", {1: b"\x01"}),  # the smallest value
])
def test_the_limits_of_format_2_are_seeded_and_read_back(mcu: str, values: dict[int, bytes]) -> None:
    layout = plan(PlanConfig(mcu, board=mcu))
    region = seed_image(layout, values)
    assert decode_storage(region, layout.chip.page_size, 2)["values"] == {k: v.hex() for k, v in values.items()}
    assert validate_region("storage", region, layout) is None


def test_a_format_2_seed_that_cannot_be_stored_fails_the_build_with_one_line(tmp_path: Path,
                                                                           library: Path) -> None:  # noqa: F811
    proj = make_project(tmp_path, library, "storage_tiny", "attiny45",
                        "lib_compat_mode = off\ncustom_spareflash_seed = values.json", framework=None)
    seed_file(proj, {"1": "00" * 33})
    out = failed(pio(proj))
    lines = [ln for ln in out.splitlines() if "SpareFlash: seed-" in ln]
    assert lines == ["Error: SpareFlash: seed-value-size: custom_spareflash_seed values.json: key 1 is 33 bytes; "
                     "storage format 2 on the ATtiny45 (64-byte pages) stores values of 1..32 bytes"], out[-3000:]
    assert "Traceback" not in out
    build = proj / ".pio" / "build" / "attiny45"
    assert not (build / "firmware.elf").exists() and not (build / "spareflash" / "spareflash_seed.S").exists()
