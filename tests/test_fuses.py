"""Fuse bytes per backend, the safety rules, and `spareflash fuses` (values from spareflash.plan/fuses)."""

from __future__ import annotations

import json

import pytest

from spareflash.chips import CHIPS, get_chip
from spareflash.cli import main
from spareflash.fuses import BACKENDS, FuseError, base_fuses, check_fuses, compute_fuses, decode_fuses, lock_field
from spareflash.plan import PlanConfig, plan


def combos() -> list[tuple[str, str, str | None]]:
    out = []
    for name, chip in sorted(CHIPS.items()):
        for backend in BACKENDS:
            if (backend == "direct") == chip.has_boot_section:
                continue
            for board in [None, *chip.boards]:
                out.append((name, backend, board))
    return out


@pytest.mark.parametrize("mcu,backend,board", combos())
def test_every_planned_fuse_set_is_safe_and_fits_its_backend(mcu: str, backend: str, board: str | None) -> None:
    lay = plan(PlanConfig(mcu, backend=backend, board=board))
    assert check_fuses(lay.chip, lay.fuses, backend) == []
    assert set(lay.fuses) == {"lfuse", "hfuse", "efuse", "lock"}


def test_bootstub_fuses_select_the_smallest_boot_section_and_keep_reset_in_the_application() -> None:
    chip = get_chip("atmega328p")
    f = compute_fuses(chip, "bootstub", base=chip.boards["uno"])
    d = decode_fuses(chip, f)["hfuse"]
    assert d["BOOTSZ"] == 0b11 and d["BOOTRST"] == 1 and d["SPIEN"] == 0
    assert f["hfuse"] == 0xDF and f["lfuse"] == 0xFF and f["efuse"] == 0xFD  # only BOOTRST changes from 0xDE
    assert (lock_field(f["lock"], "BLB0"), lock_field(f["lock"], "BLB1")) == (0b11, 0b10)


def test_bootloader_backends_keep_the_boards_fuses_but_let_the_app_read_the_bootloader() -> None:
    chip = get_chip("atmega328p")
    for backend in ("optiboot", "urboot"):
        f = compute_fuses(chip, backend, base=chip.boards["uno"])
        # clock, BOOTSZ and BOOTRST stay the bootloader's; lock 0xCF (BLB1 mode 3) becomes 0xEF (mode 2), so
        # the library can LPM the bootloader's version word while SPM still cannot overwrite the bootloader
        assert f == {**chip.boards["uno"], "lock": 0xEF}
        assert check_fuses(chip, f, backend) == []
        assert any(p.startswith("fuse-lock") for p in check_fuses(chip, chip.boards["uno"], backend))


@pytest.mark.parametrize("lock,mode", [(0xCF, 3), (0xDF, 4)])
@pytest.mark.parametrize("backend", ["optiboot", "urboot"])
def test_a_boot_section_the_app_may_not_read_becomes_readable_but_stays_write_protected(lock: int, mode: int,
                                                                                        backend: str) -> None:
    # BLB1 mode 3 (00) and mode 4 (01) both forbid the application to LPM the bootloader; mode 2 (10) does not
    chip = get_chip("atmega328p")
    shipped = {**chip.boards["uno"], "lock": lock}
    assert [p.split(":")[0] for p in check_fuses(chip, shipped, backend)] == ["fuse-lock"], f"BLB1 mode {mode}"
    f = compute_fuses(chip, backend, base=shipped)
    assert lock_field(f["lock"], "BLB1") == 0b10 and f["lock"] & ~0x30 == lock & ~0x30
    assert check_fuses(chip, f, backend) == []


def test_without_a_board_the_chips_first_arduino_board_gives_the_base_fuses() -> None:
    # an Uno's ATmega328P runs from a 16 MHz crystal (lfuse 0xFF); the factory lfuse 0x62 (8 MHz RC / 8) would
    # make `spareflash fuses` slow an Uno down to 1 MHz
    chip = get_chip("atmega328p")
    assert base_fuses(chip) == chip.boards["uno"]
    assert plan(PlanConfig("atmega328p")).fuses["lfuse"] == 0xFF
    assert base_fuses(chip, "nanoatmega328") == chip.boards["nanoatmega328"]
    assert base_fuses(get_chip("atmega88p")) == get_chip("atmega88p").factory_fuses()  # a part with no board


def test_direct_programs_selfprgen_only() -> None:
    chip = get_chip("attiny85")
    f = compute_fuses(chip, "direct", base=chip.boards["attiny85"])
    assert f == {**chip.boards["attiny85"], "efuse": 0xFE}


@pytest.mark.parametrize("mcu,backend", [("atmega328p", "direct"), ("attiny85", "bootstub"), ("attiny85", "x")])
def test_a_backend_the_chip_cannot_use_is_refused(mcu: str, backend: str) -> None:
    with pytest.raises(FuseError, match="^backend:"):
        compute_fuses(get_chip(mcu), backend)


@pytest.mark.parametrize("change,rule", [
    ({"hfuse": 0xDF & ~0x80}, "fuse-rstdisbl"),
    ({"hfuse": 0xDF | 0x20}, "fuse-spien"),
    ({"hfuse": 0xDF & ~0x40}, "fuse-dwen"),
    ({"hfuse": 0xDE}, "fuse-bootrst"),
    ({"lock": 0xEB}, "fuse-lock"),
    ({"lock": 0xE3}, "fuse-lock"),
    ({"hfuse": 0x1DF}, "fuse-range"),
    ({"hfuse": -1}, "fuse-range"),
    ({"efuse": 0x1FD}, "fuse-range"),
])
def test_each_unsafe_fuse_is_named(change: dict[str, int], rule: str) -> None:
    chip = get_chip("atmega328p")
    f = {**plan(PlanConfig("atmega328p")).fuses, **change}
    problems = check_fuses(chip, f, "bootstub")
    assert [p.split(":")[0] for p in problems] == [rule]


def test_every_unsafe_fuse_of_a_set_is_named_not_just_the_first() -> None:
    chip = get_chip("atmega328p")
    f = {**plan(PlanConfig("atmega328p")).fuses, "hfuse": 0x3F, "lock": 0xEB}  # SPIEN off, RSTDISBL+DWEN on
    assert [p.split(":")[0] for p in check_fuses(chip, f, "bootstub")] == [
        "fuse-spien", "fuse-rstdisbl", "fuse-dwen", "fuse-lock"]


def test_attiny85_without_selfprgen_cannot_self_program() -> None:
    chip = get_chip("attiny85")
    assert [p.split(":")[0] for p in check_fuses(chip, {**chip.boards["attiny85"]}, "direct")] == ["fuse-selfprgen"]


def test_the_atmega2560_rules_use_its_jtag_fuse_layout() -> None:
    chip = get_chip("atmega2560")
    f = plan(PlanConfig("atmega2560")).fuses
    # the Mega's shipped hfuse 0xD8 with BOOTSZ set to the smallest section and BOOTRST unprogrammed; JTAG stays off
    assert f["hfuse"] == 0xDF
    assert decode_fuses(chip, f)["hfuse"] == {"OCDEN": 1, "JTAGEN": 1, "SPIEN": 0, "WDTON": 1, "EESAVE": 1,
                                              "BOOTSZ": 0b11, "BOOTRST": 1}
    assert check_fuses(chip, {**f, "hfuse": f["hfuse"] | 0x20}, "bootstub")[0].startswith("fuse-spien")


@pytest.mark.parametrize("mcu,backend,board", [("atmega328p", None, None), ("atmega328p", "optiboot", "uno"),
                                               ("attiny85", None, None), ("atmega32u4", "bootstub", None)])
def test_fuses_cli_prints_the_plans_bytes_and_every_field(mcu: str, backend: str | None, board: str | None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fuses", "--mcu", mcu] + (["--backend", backend] if backend else []) + (
        ["--board", board] if board else [])
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    lay = plan(PlanConfig(mcu, backend=backend, board=board))
    assert doc["fuses"] == {k: f"0x{v:02X}" for k, v in lay.fuses.items()}
    chip = lay.chip
    for fb in chip.fuses:
        assert set(doc["decoded"][fb.name]["fields"]) == {b.name for b in fb.bits}
        for b in fb.bits:
            assert doc["decoded"][fb.name]["fields"][b.name]["value"] == b.get(lay.fuses[fb.name])
    assert set(doc["decoded"]["lock"]["fields"]) == set(chip.lock_fields)
    assert doc["problems"] == []
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "SPIEN" in table and f"0x{lay.fuses['hfuse']:02X}" in table


def test_fuses_cli_rejects_bad_input_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuses", "--mcu", "atmega999"]) == 2
    err = capsys.readouterr().err
    assert "unknown MCU" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["fuses", "--mcu", "attiny85", "--backend", "optiboot"]) == 2
    assert capsys.readouterr().err.startswith("spareflash: error: backend:")
