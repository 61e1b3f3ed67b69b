"""The simulator against the ATmega328P datasheet: before anything trusts the harness, it must behave like the chip.

Firmware: tests/firmware/fidelity/spm_fidelity.c (its header describes the marker/debug protocol). Facts checked:
* SPM works only from the boot section that BOOTSZ selects (datasheet "Boot Loader Support": 16 combinations of
  routine address x BOOTSZ);
* a page write ANDs the page buffer into the old content (it cannot set bits: only an erase does);
* page erase and page write each take 4.5 ms (72,000 cycles at 16 MHz);
* an operation on the RWW section sets RWWSB while the CPU runs on in the NRWW section; after RWWSRE the RWW
  section reads again (the erased page reads 0xFF);
* an operation on the NRWW section halts the CPU for its whole duration;
* a power cut during an erase or a write tears the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spareflash.chips import get_chip
from spareflash.sim import Simulator, run_with_power_cut

pytest.importorskip("yasimavr")

CHIP = get_chip("atmega328p")
SRC = Path(__file__).parent / "firmware" / "fidelity" / "spm_fidelity.c"
ROUTINE_ADDRS = (0x7E00, 0x7C00, 0x7800, 0x7000)
VICTIM_ERASE, VICTIM_WRITE, NRWW_PAGE = 0x1000, 0x1080, 0x7400
SPMEN, PGERS, RWWSB = 0x01, 0x02, 0x40
FREQ = 16_000_000
OP_CYCLES = round(CHIP.page_erase_ms * FREQ / 1000)  # 72,000
TOLERANCE = 40  # cycles of instruction overhead between the marker writes and the SPM/poll loop


def build(avr_build, routine_addr: int) -> Path:
    return avr_build([SRC], "atmega328p", [
        f"-Wl,--section-start=.spmroutine=0x{routine_addr:X}",
        f"-Wl,--section-start=.victim_erase=0x{VICTIM_ERASE:X}",
        f"-Wl,--section-start=.victim_write=0x{VICTIM_WRITE:X}",
    ], name=f"spm_fidelity_{routine_addr:04x}")


def hfuse_with_bootsz(code: int) -> int:
    return CHIP.fuse("hfuse").field("BOOTSZ").put(CHIP.factory_fuses()["hfuse"], code)


@pytest.fixture(scope="module")
def firmwares(avr_build) -> dict[int, Path]:
    return {addr: build(avr_build, addr) for addr in ROUTINE_ADDRS}


@pytest.fixture(scope="module")
def full_run(firmwares) -> Simulator:
    """The routine at 0x7E00 with BOOTSZ=11 (512-byte boot section at 0x7E00): everything allowed."""
    sim = Simulator(firmwares[0x7E00], "atmega328p", fuses={"hfuse": hfuse_with_bootsz(0b11)}, freq=FREQ)
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    return sim


@pytest.mark.parametrize("routine_addr", ROUTINE_ADDRS)
def test_spm_accepted_only_from_the_boot_section_bootsz_selects(firmwares, routine_addr):
    original = Simulator(firmwares[routine_addr], "atmega328p").flash[VICTIM_ERASE:VICTIM_ERASE + CHIP.page_size]
    assert original == bytes(CHIP.page_size)  # the victim page starts as 0x00 bytes
    outcomes = {}
    for bs in CHIP.boot_sizes:  # BOOTSZ 11/10/01/00: boot section at 0x7E00/0x7C00/0x7800/0x7000
        sim = Simulator(firmwares[routine_addr], "atmega328p", fuses={"hfuse": hfuse_with_bootsz(bs.code)})
        result = sim.run(2_000_000)
        accepted = routine_addr >= bs.start
        page = sim.flash[VICTIM_ERASE:VICTIM_ERASE + CHIP.page_size]
        if accepted:
            assert result.reason == "sleep", f"BOOTSZ={bs.code:02b}: {result.message}"
            assert page == b"\xff" * CHIP.page_size
        else:
            assert result.reason == "crash", f"BOOTSZ={bs.code:02b}: SPM from 0x{routine_addr:X} was accepted"
            assert "Flash write refused" in result.message
            assert page == original
        outcomes[f"{bs.code:02b}"] = accepted
    # the datasheet's table, spelled out: which BOOTSZ settings put this address inside the boot section
    expected = {0x7E00: {"11": True, "10": True, "01": True, "00": True},
                0x7C00: {"11": False, "10": True, "01": True, "00": True},
                0x7800: {"11": False, "10": False, "01": True, "00": True},
                0x7000: {"11": False, "10": False, "01": False, "00": True}}[routine_addr]
    assert outcomes == expected


def test_refused_spm_is_ignored_without_strict_mode(firmwares):
    sim = Simulator(firmwares[0x7000], "atmega328p", fuses={"hfuse": hfuse_with_bootsz(0b11)}, strict_spm=False)
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    assert sim.flash[VICTIM_ERASE:VICTIM_ERASE + 4] == b"\x00" * 4  # nothing erased
    assert sim.page_ops == []


def test_page_write_ands_the_buffer_into_the_old_content(full_run):
    page = full_run.flash[VICTIM_WRITE:VICTIM_WRITE + CHIP.page_size]
    # old bytes 0x3C, buffer words 0xF00F (bytes 0x0F, 0xF0): 0x3C & 0x0F = 0x0C, 0x3C & 0xF0 = 0x30
    assert page == bytes([0x0C, 0x30]) * (CHIP.page_size // 2)


def test_page_erase_and_page_write_take_4_5_ms(full_run):
    erase = full_run.cycles_between(1, 2)
    write = full_run.cycles_between(3, 4)
    nrww_erase = full_run.cycles_between(5, 6)
    for measured in (erase, write, nrww_erase):
        assert OP_CYCLES <= measured <= OP_CYCLES + TOLERANCE, measured
    assert [(op.kind, op.page) for op in full_run.page_ops] == [
        ("erase", VICTIM_ERASE), ("write", VICTIM_WRITE), ("erase", NRWW_PAGE)]
    assert all(op.end - op.start == OP_CYCLES for op in full_run.page_ops)


def test_rwwsb_is_set_during_an_rww_operation_and_rwwsre_reenables_the_section(full_run):
    during, _after_op, after_rwwsre, readback = full_run.debug[:4]
    assert during & RWWSB and during & SPMEN and during & PGERS
    assert not after_rwwsre & RWWSB
    assert readback == 0xFF  # LPM of the erased RWW page after RWWSRE


def test_nrww_operation_halts_the_cpu(full_run):
    # marker 6 is the instruction right after the SPM: it only runs once the 4.5 ms erase is over
    op = full_run.page_ops[2]
    marker6 = next(m for m in full_run.markers if m.value == 6)
    assert marker6.cycle >= op.end


def cut_in(sim: Simulator, kind: str) -> int:
    op = next(o for o in sim.page_ops if o.kind == kind)
    return op.start + OP_CYCLES // 2


@pytest.mark.parametrize("kind, page", [("erase", VICTIM_ERASE), ("write", VICTIM_WRITE)])
def test_power_cut_tears_the_page_in_flight(firmwares, full_run, kind, page):
    cut_cycle = cut_in(full_run, kind)
    fuses = {"hfuse": hfuse_with_bootsz(0b11)}
    cut = run_with_power_cut(firmwares[0x7E00], "atmega328p", cut_cycle, seed=1, fuses=fuses)
    assert cut.reason == "cut" and cut.op is not None
    assert cut.op.kind == kind and cut.torn_page == page
    torn = cut.flash[page:page + CHIP.page_size]
    before, after = cut.op.before, cut.op.after
    assert torn not in (before, after)
    for t, b, a in zip(torn, before, after):
        if kind == "erase":
            assert t & b == b and t & ~a & 0xFF == 0  # only bits the erase sets, some of them
        else:
            assert t & ~b & 0xFF == 0 and t & a == a  # only bits the write clears, some of them
    # the same seed tears the same way; another seed differently
    again = run_with_power_cut(firmwares[0x7E00], "atmega328p", cut_cycle, seed=1, fuses=fuses)
    other = run_with_power_cut(firmwares[0x7E00], "atmega328p", cut_cycle, seed=2, fuses=fuses)
    assert again.flash == cut.flash and other.flash != cut.flash
    # outside the torn page the flash is the model's own at that cycle
    clean = Simulator(firmwares[0x7E00], "atmega328p", fuses=fuses)
    clean.run_until(cut_cycle)
    assert cut.flash[:page] == clean.flash[:page]
    assert cut.flash[page + CHIP.page_size:] == clean.flash[page + CHIP.page_size:]


def test_cold_boot_continues_from_the_flash_as_it_was_cut(firmwares, full_run):
    fuses = {"hfuse": hfuse_with_bootsz(0b11)}
    cut = run_with_power_cut(firmwares[0x7E00], "atmega328p", cut_in(full_run, "write"), seed=3, fuses=fuses)
    reboot = Simulator(firmwares[0x7E00], "atmega328p", fuses=fuses, flash_in=cut.flash)
    assert reboot.flash == cut.flash  # not the ELF's flash: the victim pages keep their torn/erased state
    assert reboot.flash[VICTIM_ERASE:VICTIM_ERASE + 4] == b"\xff" * 4
    result = reboot.run(2_000_000)
    assert result.reason == "sleep", result.message
    # a write over the torn page ANDs again: every byte is now (torn & buffer) -> at most the clean result
    page = reboot.flash[VICTIM_WRITE:VICTIM_WRITE + CHIP.page_size]
    assert page == bytes([0x0C, 0x30]) * (CHIP.page_size // 2)


def test_cut_outside_any_operation_changes_nothing(firmwares, full_run):
    fuses = {"hfuse": hfuse_with_bootsz(0b11)}
    quiet = full_run.page_ops[0].end + 100  # between the erase and the write
    cut = run_with_power_cut(firmwares[0x7E00], "atmega328p", quiet, seed=1, fuses=fuses)
    assert cut.op is None and cut.torn_page is None
    assert cut.flash[VICTIM_ERASE:VICTIM_ERASE + CHIP.page_size] == b"\xff" * CHIP.page_size
    assert cut.flash[VICTIM_WRITE:VICTIM_WRITE + 4] == b"\x3c" * 4


# -- the temporary page buffer (sf_flash_program loads only the words it programs) ------------------------------
# ATmega328P datasheet, "Filling the Temporary Buffer (Page Loading)": "The temporary buffer will auto-erase after
# a Page Write operation or by writing the RWWSRE bit in SPMCSR. It is also erased after a system reset." So a
# word that is not loaded before a page write is 0xFFFF and leaves its cells unchanged (AND-on-write).
# Firmware: tests/firmware/backends/pagebuf_fidelity.c (its header lists the four victim pages).
PAGEBUF_SRC = Path(__file__).parent / "firmware" / "backends" / "pagebuf_fidelity.c"
PAGEBUF_VICTIM = 0x1000


@pytest.fixture(scope="module")
def pagebuf_run(avr_build) -> Simulator:
    elf = avr_build([PAGEBUF_SRC], "atmega328p", ["-Wl,--section-start=.spmroutine=0x7E00",
                                                  f"-Wl,--section-start=.victims=0x{PAGEBUF_VICTIM:X}"],
                    name="pagebuf_fidelity")
    sim = Simulator(elf, "atmega328p", fuses={"hfuse": hfuse_with_bootsz(0b11)}, freq=FREQ)
    result = sim.run(5_000_000)
    assert result.reason == "sleep", result.message
    assert [m.value for m in sim.markers] == [9]
    assert [(op.kind, op.page) for op in sim.page_ops] == [("write", PAGEBUF_VICTIM + i * 128) for i in range(4)]
    return sim


def _victim_words(sim: Simulator, i: int) -> list[int]:
    page = sim.flash[PAGEBUF_VICTIM + i * 128:PAGEBUF_VICTIM + (i + 1) * 128]
    return [page[j] | page[j + 1] << 8 for j in range(0, 128, 2)]


def test_page_buffer_is_erased_after_reset(pagebuf_run):
    assert _victim_words(pagebuf_run, 0) == [0x1111] + [0xFFFF] * 63


def test_page_buffer_words_not_loaded_leave_their_cells_unchanged(pagebuf_run):
    assert _victim_words(pagebuf_run, 1) == [0xFFFF, 0x2222, 0x2222] + [0xFFFF] * 61


def test_page_write_erases_the_page_buffer(pagebuf_run):
    # page 2 got only word 0 loaded, right after page 1's write of words 1 and 2: those did not carry over
    assert _victim_words(pagebuf_run, 2) == [0x3333] + [0xFFFF] * 63


def test_yasimavr_gap_rwwsre_does_not_erase_the_page_buffer(pagebuf_run):
    # Pinned gap: the datasheet says writing RWWSRE erases the buffer; yasimavr 0.1.6 keeps the loaded word 5
    # (0x0000) and the page write programs it. SpareFlash never relies on RWWSRE for this (the bootstub cannot
    # even request it): only on the erase at reset and after every page write, which the tests above prove.
    words = _victim_words(pagebuf_run, 3)
    assert words[0] == 0x4444 and words[5] == 0x0000
    assert words[1:5] == [0xFFFF] * 4 and words[6:] == [0xFFFF] * 58
