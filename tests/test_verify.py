"""verify_image: the page model, the image loader and the rules that the mutation suite does not reach alone."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import types
from pathlib import Path

import pytest

from mutations.firmware import HAVE_AVR_GCC, build, fuse_defines, hex_of, layout_for
from spareflash.chips import CHIPS, get_chip
from spareflash.image import Chunk, FirmwareImage, ImageError, Section, load_image, spm_addresses
from spareflash.plan import Region
from spareflash.verify import (
    bench_verify_seconds,
    expected_arch,
    stack_margin,
    synthetic_flash,
    synthetic_hex,
    to_hex,
    verify_image,
    verify_loaded,
)

needs_gcc = pytest.mark.skipif(not HAVE_AVR_GCC, reason="avr-gcc not installed (run ./dev setup)")


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def write_chunks(tmp: Path, name: str, chunks: dict[int, bytes]) -> Path:
    """An Intel HEX file holding each `address: bytes` block (one end-of-file record)."""
    lines = [line for start, data in sorted(chunks.items()) for line in to_hex(data, start).splitlines()[:-1]]
    return write(tmp, name, "\n".join([*lines, ":00000001FF"]) + "\n")


SPM = b"\xe8\x95"


# ---- the image loader ------------------------------------------------------------------------------------------
def test_hex_records_above_64k_land_at_their_linear_address(tmp_path: Path) -> None:
    data = bytes(range(32))
    img = load_image(write(tmp_path, "a.hex", to_hex(data, 0x1FFF0)))
    assert [(c.start, c.data) for c in img.chunks] == [(0x1FFF0, data)]


def test_hex_segment_address_records_are_understood(tmp_path: Path) -> None:
    # type 02: segment base 0x1000 << 4 = 0x10000
    text = ":020000021000EC\n:0400000001020304F2\n:00000001FF\n"
    img = load_image(write(tmp_path, "a.hex", text))
    assert [(c.start, c.data) for c in img.chunks] == [(0x10000, b"\x01\x02\x03\x04")]


def test_hex_overlapping_records_are_malformed(tmp_path: Path) -> None:
    text = ":0400000001020304F2\n:0400020001020304F0\n:00000001FF\n"
    with pytest.raises(ImageError) as e:
        load_image(write(tmp_path, "a.hex", text))
    assert e.value.rule == "hex-malformed" and "overlap" in str(e.value)


def test_hex_records_after_the_end_of_file_record_are_malformed(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as e:
        load_image(write(tmp_path, "a.hex", ":0400000001020304F2\n:00000001FF\n:0400040001020304EE\n"))
    assert e.value.rule == "hex-malformed" and "after the end-of-file record" in str(e.value)


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as e:
        load_image(tmp_path / "nope.hex")
    assert e.value.rule == "image-unreadable"


def test_spm_scan_finds_only_word_aligned_opcodes() -> None:
    flash = b"\xff\xe8\x95\xff" + b"\xe8\x95" + b"\x00\xf8\x95\x00" + b"\xf8\x95"
    assert spm_addresses(flash) == [(4, 0x95E8), (10, 0x95F8)]


# ---- layout rules (bad configurations that plan() itself would never produce) --------------------------------
def _good_hex(tmp_path: Path, mcu: str = "atmega328p") -> Path:
    return write(tmp_path, "a.hex", synthetic_hex(layout_for(mcu)))


def test_overlapping_regions_are_rejected(tmp_path: Path) -> None:
    lay = layout_for("atmega328p", log_bytes=512)
    bad = dataclasses.replace(lay, log=Region("log", lay.storage.start + 256, 512))
    assert "region-overlap" in verify_image(_good_hex(tmp_path), bad).rules


def test_a_region_that_is_not_page_aligned_is_rejected(tmp_path: Path) -> None:
    lay = layout_for("atmega328p")
    # a misaligned start with a whole number of pages, and an aligned start with a part page: either one makes
    # an erase of the region's pages take bytes that are not the region's
    for storage in (Region("storage", lay.storage.start + 0x10, lay.storage.size),
                    Region("storage", lay.storage.start + 0x80, lay.storage.size - 0x10)):
        result = verify_image(_good_hex(tmp_path), dataclasses.replace(lay, storage=storage))
        assert "region-alignment" in result.rules, storage


def test_a_region_reaching_into_the_boot_section_is_rejected(tmp_path: Path) -> None:
    lay = layout_for("atmega328p")
    bad = dataclasses.replace(lay, storage=Region("storage", lay.storage.start + 512, lay.storage.size))
    assert "region-bounds" in verify_image(_good_hex(tmp_path), bad).rules


# ---- the boot section the fuses select against the one the plan reserved ---------------------------------------
def test_fuses_selecting_a_smaller_boot_section_than_the_plan_leave_the_stub_and_its_spm_outside(tmp_path: Path
                                                                                                 ) -> None:
    # with overlay slots the ATmega168P's stub + page helper need the 512-byte section (0x3E00); efuse 0xFF selects
    # 256 bytes (0x3F00), so the chip would refuse the SPM the stub makes at 0x3E00
    lay = layout_for("atmega168p", overlay_slots=2, slot_bytes=512)
    assert lay.boot_start == 0x3E00
    path = write_chunks(tmp_path, "a.hex", {0: synthetic_flash(lay), 0x3E00: SPM})
    assert verify_image(path, lay).ok
    assert verify_image(path, lay, fuses={"efuse": 0xFF}).rules == ["stub-outside-boot", "spm-in-app"]


def test_fuses_selecting_a_smaller_boot_section_than_the_bootloader_reserves_are_named(tmp_path: Path) -> None:
    lay = layout_for("atmega2560", backend="optiboot", board="megaatmega2560")  # the Mega's 8 KB boot section
    path = write(tmp_path, "a.hex", synthetic_hex(lay))
    assert verify_image(path, lay).ok
    assert verify_image(path, lay, fuses={"hfuse": 0xDE}).rules == ["fuse-bootsz"]  # BOOTSZ 11: 1 KB


def test_spm_is_allowed_from_the_first_byte_of_the_boot_section_and_not_from_the_word_before(tmp_path: Path
                                                                                             ) -> None:
    lay = layout_for("atmega328p", storage_bytes=0)  # the application reaches the boot section (0x7E00)
    body = bytearray(synthetic_flash(lay))
    assert verify_image(write_chunks(tmp_path, "stub.hex", {0: bytes(body), 0x7E00: SPM}), lay).ok
    body[0x7DFE:0x7E00] = SPM
    assert verify_image(write_chunks(tmp_path, "app.hex", {0: bytes(body)}), lay).rules == ["spm-in-app"]


@pytest.mark.parametrize("gap,ok", [(62, True), (64, False)])
def test_direct_backend_hex_spm_must_fit_one_64_byte_window(gap: int, ok: bool, tmp_path: Path) -> None:
    lay = layout_for("attiny85")
    body = bytearray(synthetic_flash(lay))
    body[0x100:0x102] = SPM
    body[0x100 + gap:0x102 + gap] = SPM
    assert verify_image(write_chunks(tmp_path, "a.hex", {0: bytes(body)}), lay).rules == ([] if ok else ["spm-in-app"])


@pytest.mark.parametrize("backend", ["bootstub", "optiboot"])
def test_a_hex_whose_application_fills_its_region_exactly_may_carry_the_boot_code_right_after(backend: str,
                                                                                              tmp_path: Path) -> None:
    # no storage: the application may use every byte up to the boot section, and a HEX holding the stub (or the
    # bootloader) as well has one unbroken run of records from 0x0000 to the end of flash
    lay = layout_for("atmega328p", backend=backend, board="uno", storage_bytes=0)
    assert len(synthetic_flash(lay)) == lay.max_app_size == 0x7E00
    result = verify_image(write_chunks(tmp_path, "a.hex", {0: synthetic_flash(lay), 0x7E00: SPM + bytes(510)}), lay)
    assert result.ok, [str(v) for v in result.violations]


def test_a_merged_hex_may_fill_flash_up_to_its_last_byte(tmp_path: Path) -> None:
    # Arduino's "export with bootloader": the application plus the bootloader's 512 bytes at 0x7E00-0x7FFF
    lay = layout_for("atmega328p", backend="optiboot", board="uno")
    bootloader = bytes(510) + SPM
    assert verify_image(write_chunks(tmp_path, "a.hex", {0: synthetic_flash(lay), 0x7E00: bootloader}), lay).ok


def _elf_image(lay: object, sections: list[Section] = [], eeprom: list[Chunk] = [],  # noqa: B006 - read only
               extra: list[Chunk] = []) -> FirmwareImage:  # noqa: B006
    """An ELF's view made in memory: the synthetic application as .text, plus `sections` (RAM) and `eeprom`."""
    body = synthetic_flash(lay)  # type: ignore[arg-type]
    text = Section(".text", 0, 0, len(body), True, True, False, False, 1)
    return FirmwareImage(Path("mem.elf"), "elf", [Chunk(0, body, ".text"), *extra], sections=[text, *sections],
                         eeprom=list(eeprom))


def test_code_an_elf_puts_into_the_boot_section_outside_the_stub_overflows_but_a_merged_hex_may(tmp_path: Path
                                                                                                ) -> None:
    lay = layout_for("atmega328p")
    boot_code = Chunk(0x7F00, bytes(16), ".bootloader")
    assert verify_loaded(_elf_image(lay, extra=[boot_code]), lay).rules == ["app-overflow"]
    assert verify_image(write_chunks(tmp_path, "a.hex", {0: synthetic_flash(lay), 0x7F00: bytes(16)}), lay).ok


@pytest.mark.parametrize("noinit_at,ok", [(0x800110, True), (0x8008E0, False)])
def test_ram_sections_must_end_below_the_stack_margin_not_only_fit_in_size(noinit_at: int, ok: bool) -> None:
    # 48 bytes fit the 328P's 2 KB easily, but a .noinit buffer at the top of RAM sits where the stack grows
    lay = layout_for("atmega328p")
    ram = [Section(".data", 0x800100, 0x800100, 16, True, False, True, False, 2),
           Section(".noinit", noinit_at, noinit_at, 32, True, False, True, True, 3)]
    assert verify_loaded(_elf_image(lay, ram), lay).rules == ([] if ok else ["ram-overflow"])


@pytest.mark.parametrize("start,ok", [(924, True), (925, False)])
def test_eeprom_data_must_fit_the_chips_eeprom(start: int, ok: bool) -> None:
    lay = layout_for("atmega328p")  # 1024 bytes of EEPROM
    img = _elf_image(lay, eeprom=[Chunk(start, bytes(100), ".eeprom")])
    assert verify_loaded(img, lay).rules == ([] if ok else ["eeprom-overflow"])


@pytest.mark.parametrize("target,ok", [(0x1BFE, True), (0x1C00, False)])
def test_a_vector_rjmp_is_decoded_to_its_exact_target_wrapping_around_8k_flash(target: int, ok: bool,
                                                                               tmp_path: Path) -> None:
    # ATtiny85: storage at 0x1C00-0x1FFF; from vector 1 (0x0002) an RJMP reaches 0x1C00 only by wrapping around
    lay = layout_for("attiny85")
    assert lay.storage.start == 0x1C00
    body = bytearray(synthetic_flash(lay))
    k = ((target - 4) // 2) & 0xFFF  # RJMP k: PC + 1 + k words, modulo the 4 K words of flash
    body[2:4] = (0xC000 | k).to_bytes(2, "little")
    result = verify_image(write_chunks(tmp_path, "a.hex", {0: bytes(body)}), lay)
    if ok:
        assert result.ok, [str(v) for v in result.violations]
    else:
        assert result.rules == ["vector-table"]
        assert f"jumps to 0x{target:X}, inside a reserved region" in result.violations[0].message


# ---- page model over whole chips -------------------------------------------------------------------------------
@pytest.mark.parametrize("mcu", ["atmega328p", "atmega2560", "atmega32u4", "attiny85", "atmega88p", "attiny84",
                                 "attiny45", "attiny25"])
def test_a_full_application_region_passes_and_one_byte_more_does_not(mcu: str, tmp_path: Path) -> None:
    lay = layout_for(mcu)
    body = synthetic_flash(lay)
    assert verify_image(write(tmp_path, "ok.hex", to_hex(body)), lay).ok
    over = verify_image(write(tmp_path, "over.hex", to_hex(body + b"\x00\x00")), lay)
    assert over.rules[:1] == ["app-overflow"]


def test_the_256k_benchmark_image_verifies_fast_enough_to_run_on_every_build() -> None:
    # a loose bound against per-byte Python creeping in; the figure itself comes from bench_verify_seconds
    assert bench_verify_seconds(repeat=2) < 1.0


def test_a_seeded_region_is_accepted_when_the_storage_validator_says_so(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    lay = layout_for("atmega328p")
    body = bytearray(synthetic_flash(lay)) + b"\xff" * (lay.storage.end - lay.app_end)
    body[lay.storage.start:lay.storage.start + 4] = b"SFS1"
    path = write(tmp_path, "seeded.hex", to_hex(bytes(body)))  # one run of records: app and seed merge
    # no validator: the region must be erased, and in a HEX the bytes may as well be code running over
    assert verify_image(path, lay).rules == ["app-overflow", "region-dirty"]
    seen: list[tuple[str, int]] = []

    def validate_region(name: str, data: bytes, layout: object) -> str | None:
        seen.append((name, len(data)))
        return None if data[:4] == b"SFS1" else "bad magic"

    fake = types.ModuleType("spareflash.storage")
    fake.validate_region = validate_region  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spareflash.storage", fake)
    import spareflash

    monkeypatch.setattr(spareflash, "storage", fake, raising=False)
    assert verify_image(path, lay).ok
    assert seen == [("storage", lay.storage.size)]
    body[lay.storage.start] = ord("X")
    bad = verify_image(write(tmp_path, "bad.hex", to_hex(bytes(body))), lay)
    assert bad.rules == ["app-overflow", "region-dirty"] and "bad magic" in bad.violations[1].message


# ---- facts derived from the chip model -------------------------------------------------------------------------
@needs_gcc
@pytest.mark.parametrize("mcu", sorted(CHIPS))
def test_expected_arch_and_device_note_agree_with_avr_gcc(mcu: str) -> None:
    chip = get_chip(mcu)
    lay = layout_for(mcu)
    img = load_image(build("app.c", lay, ["-DNO_STUB"] if lay.backend != "bootstub" else []))
    assert img.machine_arch == expected_arch(chip)
    assert img.device_info is not None
    assert (img.device_info.name, img.device_info.flash_size, img.device_info.sram_size) == (
        chip.name, chip.flash_size, chip.sram_size)
    assert img.signature == chip.signature


def test_stack_margin_is_a_sixteenth_of_sram_but_at_least_64_bytes() -> None:
    assert stack_margin(get_chip("atmega328p")) == 128
    assert stack_margin(get_chip("atmega2560")) == 512
    assert stack_margin(get_chip("attiny85")) == 64


# ---- ELF-only facts --------------------------------------------------------------------------------------------
@needs_gcc
def test_elf_fuse_and_lock_sections_are_read_and_explicit_fuses_win() -> None:
    lay = layout_for("atmega328p")
    elf = build("app.c", lay, fuse_defines(lay, hfuse=0xDE))
    img = load_image(elf)
    assert img.fuses() == {"lfuse": lay.fuses["lfuse"], "hfuse": 0xDE, "efuse": lay.fuses["efuse"],
                           "lock": lay.fuses["lock"]}
    assert verify_image(elf, lay).rules == ["fuse-bootrst"]
    assert verify_image(elf, lay, fuses={"hfuse": lay.fuses["hfuse"]}).ok


@needs_gcc
def test_the_hex_and_the_elf_of_one_build_hold_the_same_flash_bytes() -> None:
    lay = layout_for("atmega328p")
    elf = build("app.c", lay, fuse_defines(lay))
    a, b = load_image(elf), load_image(hex_of(elf))
    assert a.flash(lay.chip.flash_size) == b.flash(lay.chip.flash_size)


@needs_gcc
def test_a_big_atmega2560_elf_with_code_above_64k_passes() -> None:
    lay = layout_for("atmega2560")
    elf = build("app.c", lay, ["-DBIG_CODE=200000", *fuse_defines(lay)])
    img = load_image(elf)
    assert img.extent > 0x30000
    assert verify_image(elf, lay).ok


@needs_gcc
def test_verify_names_the_mcu_from_the_device_note_when_mcu_is_omitted(tmp_path: Path) -> None:
    lay = layout_for("atmega328p")
    elf = build("app.c", lay, fuse_defines(lay))
    proc = subprocess.run([sys.executable, "-m", "spareflash.cli", "verify", str(elf)], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "ATmega328P" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "spareflash.cli", "verify", str(hex_of(elf))], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "mcu-required" in proc.stderr and "Traceback" not in proc.stderr


# ---- real sketches with the SpareFlash library -----------------------------------------------------------------
@needs_gcc
@pytest.mark.parametrize("board,mcu,backend", [("uno", "atmega328p", "bootstub"), ("uno", "atmega328p", "optiboot"),
                                               ("attiny85", "attiny85", "direct"), ("attiny84", "attiny84", "direct")])
def test_a_real_sketch_with_the_library_passes_every_rule(board: str, mcu: str, backend: str) -> None:
    import spareflash.build as build_mod  # the project's own module: an import error must fail, not skip
    from spareflash.plan import PlanConfig

    cfg = PlanConfig(mcu, backend=backend, board=board if board in get_chip(mcu).boards else None)
    res = build_mod.build_sketch(Path(__file__).parent / "mutations" / "sketch_counter", board=board, plan_config=cfg)
    for image in (res.elf, res.hex):
        result = verify_image(image, res.layout)
        assert result.ok, [str(v) for v in result.violations]
    spm = spm_addresses(load_image(res.hex).flash(res.layout.chip.flash_size))
    if backend == "bootstub":  # the library's stub is linked in, at the boot section, and holds the SPM
        assert spm and all(a >= res.layout.boot_start for a, _ in spm)
    elif backend == "direct":
        assert spm, "the direct backend's SPM routine is in the application"
    else:
        assert not spm
