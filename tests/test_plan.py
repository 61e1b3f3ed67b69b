"""The flash plan: regions top-down below the boot section, page aligned, and the symbols the linker gets."""

from __future__ import annotations

import json

import pytest

from mutations.firmware import HAVE_AVR_GCC, build, layout_for
from spareflash.chips import CHIPS, get_chip
from spareflash.image import load_image
from spareflash.plan import BOOTSTUB_MAX_BYTES, V2_MAX_FLASH, PlanConfig, PlanError, Region, plan


def configs() -> list[PlanConfig]:
    out = []
    for name, chip in sorted(CHIPS.items()):
        backends = ["bootstub", "optiboot", "urboot"] if chip.has_boot_section else ["direct"]
        for backend in backends:
            out.append(PlanConfig(name, backend))
            p = chip.page_size
            log = 2 * p if chip.flash_size > V2_MAX_FLASH else 0  # format 2 has no FlashLog
            out.append(PlanConfig(name, backend, storage_bytes=4 * p, log_bytes=log, overlay_slots=2,
                                  slot_bytes=4 * p))
    return out


@pytest.mark.parametrize("cfg", configs(), ids=lambda c: f"{c.mcu}-{c.backend}-{c.overlay_slots}")
def test_regions_sit_directly_below_the_boot_section_in_page_aligned_order(cfg: PlanConfig) -> None:
    lay = plan(cfg)
    chip = lay.chip
    page = chip.page_size
    # top-down: slots, then log, then storage, contiguous, ending at boot_start
    assert lay.slots.end == lay.boot_start
    assert lay.log.end == lay.slots.start and lay.storage.end == lay.log.start
    for r in lay.regions:
        assert r.start % page == 0 and r.size % page == 0
    assert lay.app_end == lay.boot_start - lay.reserved_bytes == lay.max_app_size
    assert lay.slots.size == lay.slot_count * lay.slot_size
    if cfg.backend == "direct":
        assert lay.boot is None and lay.boot_start == chip.flash_size
    else:
        assert lay.boot is not None and lay.boot_start == lay.boot.start
        assert chip.boot_size_from_fuses(lay.fuses) == lay.boot, "the fuses must select the planned boot section"


def test_bootstub_uses_the_smallest_boot_section_that_holds_it() -> None:
    for name, chip in CHIPS.items():
        if chip.has_boot_section:
            lay = plan(PlanConfig(name, "bootstub"))
            assert lay.boot == min(chip.boot_sizes, key=lambda b: b.size)
            assert lay.boot is not None and lay.boot.size >= BOOTSTUB_MAX_BYTES


def test_bootloader_backends_keep_the_boot_section_the_boards_fuses_select() -> None:
    # the Mega's stock fuses (hfuse 0xD8) select an 8 KB boot section; BLB1 locks all of it against SPM
    lay = plan(PlanConfig("atmega2560", "optiboot", board="megaatmega2560"))
    assert lay.boot is not None and lay.boot.size == 8192 and lay.boot_start == 0x3E000
    assert lay.storage.end == 0x3E000
    uno = plan(PlanConfig("atmega328p", "optiboot", board="uno"))
    assert uno.boot_start == 0x7E00 and uno.storage.start == 0x6E00


def test_default_storage_sizes() -> None:
    assert plan(PlanConfig("atmega328p")).storage.size == 4096
    assert plan(PlanConfig("atmega2560")).storage.size == 4096
    assert plan(PlanConfig("attiny85")).storage.size == 1024


def test_symbols_flags_and_defines() -> None:
    lay = plan(PlanConfig("atmega328p", log_bytes=512, overlay_slots=2, slot_bytes=1024))
    syms = lay.symbols()
    assert syms == {
        "__spareflash_app_end": 0x6400, "__spareflash_storage_start": 0x6400, "__spareflash_storage_end": 0x7400,
        "__spareflash_log_start": 0x7400, "__spareflash_log_end": 0x7600, "__spareflash_slots_start": 0x7600,
        "__spareflash_slots_end": 0x7E00, "__spareflash_slot_size": 0x400, "__spareflash_boot_start": 0x7E00,
    }
    flags = lay.linker_flags()
    for name, value in syms.items():
        assert f"-Wl,--defsym={name}=0x{value:X}" in flags
    assert "-Wl,--section-start=.spareflash_bootstub=0x7E00" in flags
    assert lay.defines() == ["SPAREFLASH_BACKEND=SPAREFLASH_BACKEND_BOOTSTUB", "SPAREFLASH_STORAGE_FORMAT=1"]
    assert not any("section-start" in f for f in plan(PlanConfig("atmega328p", "optiboot")).linker_flags())
    assert plan(PlanConfig("attiny85")).defines() == ["SPAREFLASH_BACKEND=SPAREFLASH_BACKEND_DIRECT",
                                                      "SPAREFLASH_STORAGE_FORMAT=1"]
    doc = json.loads(json.dumps(lay.to_dict()))
    assert doc["regions"]["log"] == {"start": 0x7400, "size": 512, "end": 0x7600}
    assert doc["symbols"] == syms
    # what `spareflash plan --json` tells a build: the application's size limit and the boot section
    assert (doc["app_end"], doc["max_app_size"], doc["boot_start"], doc["boot_size"]) == (0x6400, 0x6400, 0x7E00, 512)
    assert (doc["backend"], doc["slot_count"], doc["slot_size"]) == ("bootstub", 2, 1024)


def test_the_storage_format_reaches_every_compile_as_a_define() -> None:
    # the library picks its FlashStorage engine by it (FlashStorage.h, flashstorage_v2.S)
    assert "SPAREFLASH_STORAGE_FORMAT=2" in plan(PlanConfig("attiny25")).defines()
    assert plan(PlanConfig("attiny45", storage_bytes=128)).defines()[-1] == "SPAREFLASH_STORAGE_FORMAT=2"
    assert plan(PlanConfig("attiny85")).defines()[-1] == "SPAREFLASH_STORAGE_FORMAT=1"


def test_regions_overlap_only_when_they_share_a_byte() -> None:
    low, high = Region("storage", 0x6000, 0x400), Region("log", 0x6400, 0x200)
    assert not low.overlaps(high) and not high.overlaps(low)  # adjacent: low.end == high.start
    over = Region("log", 0x63FF, 0x200)
    assert low.overlaps(over) and over.overlaps(low)
    assert not Region("slots", 0x6200, 0).overlaps(low)  # an empty region overlaps nothing


@pytest.mark.skipif(not HAVE_AVR_GCC, reason="avr-gcc not installed (run ./dev setup)")
@pytest.mark.parametrize("mcu", ["atmega328p", "atmega2560", "attiny85"])
def test_the_linker_gets_every_symbol_with_its_planned_value(mcu: str) -> None:
    lay = layout_for(mcu, log_bytes=2 * get_chip(mcu).page_size)
    img = load_image(build("app.c", lay, [] if lay.backend == "bootstub" else ["-DNO_STUB"]))
    linked = {s.name: s.value for s in img.symbols if s.name.startswith("__spareflash_")}
    assert linked == lay.symbols()
    if lay.backend == "bootstub":
        stub = img.section(".spareflash_bootstub")
        assert stub is not None and stub.lma == lay.boot_start


@pytest.mark.parametrize("cfg,rule", [
    (PlanConfig("atmega328p", storage_bytes=1000), "region-alignment"),
    (PlanConfig("atmega328p", log_bytes=100), "region-alignment"),
    (PlanConfig("atmega328p", overlay_slots=1, slot_bytes=300), "region-alignment"),
    (PlanConfig("atmega328p", storage_bytes=-128), "region-size"),
    (PlanConfig("atmega328p", overlay_slots=-1), "region-size"),
    (PlanConfig("atmega328p", overlay_slots=-1, slot_bytes=512), "region-size"),
    (PlanConfig("atmega328p", overlay_slots=2), "region-size"),
    (PlanConfig("atmega328p", storage_bytes=128), "region-size"),
    (PlanConfig("atmega328p", storage_bytes=32768), "region-fit"),
    (PlanConfig("attiny85", storage_bytes=8192 - 64), "region-fit"),
    (PlanConfig("atmega328p", backend="direct"), "backend"),
    (PlanConfig("attiny85", backend="bootstub"), "backend"),
    (PlanConfig("atmega328p", backend="nope"), "backend"),
    (PlanConfig("attiny45", log_bytes=128), "log-unsupported"),
    (PlanConfig("attiny25", log_bytes=64), "log-unsupported"),
])
def test_impossible_plans_name_their_rule(cfg: PlanConfig, rule: str) -> None:
    with pytest.raises(PlanError) as e:
        plan(cfg)
    assert str(e.value).startswith(f"{rule}: ")


def test_storage_may_be_zero_and_then_the_application_keeps_everything_below_the_boot_section() -> None:
    lay = plan(PlanConfig("atmega328p", storage_bytes=0))
    assert lay.reserved_bytes == 0 and lay.app_end == lay.boot_start == 0x7E00
    assert lay.storage.start == lay.storage.end


def test_the_overlay_page_helper_goes_after_the_stub_and_only_overlays_count_it_in_the_boot_section() -> None:
    from spareflash.plan import BOOTPAGE_MAX_BYTES, BOOTPAGE_SECTION

    for name, chip in CHIPS.items():
        if not chip.has_boot_section:
            continue
        plain = plan(PlanConfig(name, "bootstub"))
        ovl = plan(PlanConfig(name, "bootstub", overlay_slots=2, slot_bytes=4 * chip.page_size))
        assert plain.boot == min(chip.boot_sizes, key=lambda b: b.size)  # storage-only layouts are unchanged
        assert ovl.boot is not None and ovl.boot.size >= BOOTSTUB_MAX_BYTES + BOOTPAGE_MAX_BYTES
        assert ovl.boot == chip.boot_size_for(BOOTSTUB_MAX_BYTES + BOOTPAGE_MAX_BYTES)
        assert f"-Wl,--section-start={BOOTPAGE_SECTION}=0x{ovl.boot_start + BOOTSTUB_MAX_BYTES:X}" in ovl.linker_flags()
    assert plan(PlanConfig("atmega328p", "bootstub", overlay_slots=2, slot_bytes=512)).boot_start == 0x7E00
    assert not any(BOOTPAGE_SECTION in f for f in plan(PlanConfig("atmega328p", "optiboot")).linker_flags())


@pytest.mark.parametrize("mcu", sorted(CHIPS))
def test_parts_with_at_most_4_kb_of_flash_use_storage_format_2(mcu: str) -> None:
    """The v1 engine (~4.8 KB) does not fit the ATtiny45/25's application region; format 2's does
    (docs/storage-format.md 5.10). Exactly those parts: the ATtiny85 (8 KB) keeps format 1 and its log."""
    chip = get_chip(mcu)
    want = 2 if mcu in ("attiny25", "attiny45") else 1
    assert plan(PlanConfig(mcu)).storage_format == want
    assert (chip.flash_size <= 4096) == (want == 2)
    if want == 1:
        assert plan(PlanConfig(mcu, log_bytes=2 * chip.page_size)).log.size == 2 * chip.page_size
