"""Format 2 on the ATtiny25 (32-byte pages): the assembly engine (library/src/flashstorage_v2.S) built with
SPM_PAGESIZE = 32 and MAXV = 22, a distinct path of the engine (more page starts and compactions per byte), runs
in the simulator against its Python twin StorageModelV2 (docs/storage-format-v2.md, the oracle), as
tests/test_storage_v2_sim.py does on the ATtiny45.

The StorageDriver (tests/firmware/storage_driver) is ~1,990 B in its ATtiny45 build, more than the ATtiny25's
application region; its small build (simdriver.small_driver_flags: no `S` stats command, which the ATtiny45 run
covers on the chip) is 1,578 B and leaves a 326-byte script array beside a 128 B (4-page) storage region. A
sequence longer than one script runs as several (simdriver.chunk_script: each after the first starts with `B`, a
reboot on the flash the last one left), and the twin runs the same lines.

* Random sequences give the same result on every line and a byte-identical region on chip and twin.
* Power cuts: every page operation kind is cut (erase, append, start header, compaction copies, compaction
  header, between operations), torn at random or near completion; every committed value survives, and chip and
  twin agree on the torn region.
* Corruption: mount never crashes, hangs or writes; intact values read back; the chip reads what the twin reads.
* RAM: 128 bytes; the driver's data and the deepest stack (a compacting put) leave a margin, measured.
Each comparison is shown to fail on a broken twin.
"""

from __future__ import annotations

import random
import time

import pytest
from elftools.elf.elffile import ELFFile

pytest.importorskip("yasimavr")

from spareflash.sim import Simulator, run_with_power_cut  # noqa: E402
from spareflash.storage import store_v2  # noqa: E402
from spareflash.storage.simdriver import (  # noqa: E402
    CorruptionCase,
    DriverError,
    DriverFirmware,
    begin_cycle_bound,
    build_driver_v2,
    check_after_cut_v2,
    check_corruption_case,
    chunk_script,
    classify_ops_v2,
    default_budget,
    expected_state,
    flash_at_cut,
    powercut_workload_v2,
    run_chunks,
    run_model,
    run_script,
    sim_corruption_campaign,
    sim_power_cut_campaign_v2,
    storage_workload_v2,
)

OK, ERR_ARG, FULL, NOT_FOUND = 0x00, 0x08, 0x20, 0x21  # spareflash_status.h
REGION = 128  # 4 pages of 32 B: the driver's 1,578 B of code leave 326 B of script (the default 256 B: 198 B)
SEQ_KEYS, SEQ_COLD, SEQ_BIG = 5, 1, 0.25  # 6 keys, 1 put in 4 up to MAXV: ~1 put in 5 finds the store full
# 4 keys, 1 put in 33 up to MAXV: the store stays below full, so the check's new put after a cut succeeds but in
# rare states where no page start can place it beside the oldest page's live records (then the twin is full too)
CUT_KEYS, CUT_COLD, CUT_BIG = 4, 1, 0.03
# 3 keys of up to 8 bytes: beside them the 3 probe puts of 4 bytes must fit the 4-page store
CORRUPT_KEYS, CORRUPT_LEN = 3, 8


@pytest.fixture(scope="module")
def driver() -> DriverFirmware:
    return build_driver_v2("attiny25", storage_bytes=REGION)


def blank(fw: DriverFirmware) -> bytes:
    return b"\xff" * (fw.region_end - fw.region_start)


def run_sequence(fw: DriverFirmware, lines: list[str]) -> tuple[list[str], list[str], list, list[str]]:
    """(the lines the twin runs, the chip's results, the chip's runs, the twin's results) for a sequence cut
    into script arrays."""
    chunks = chunk_script(fw, lines)
    runs = run_chunks(fw, chunks, regions=blank(fw))
    flat = [*(ln for ch in chunks for ln in ch), "D"]
    return flat, [r for run in runs for r in run.results], runs, run_model(fw, flat, regions=blank(fw))[0]


def first_difference(lines: list[str], expected: list[str], got: list[str]) -> str:
    for i, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            return f"line {i} {lines[i][:40]!r}: twin {a[:70]!r} chip {b[:70]!r}"
    return f"{len(expected)} results from the twin, {len(got)} from the chip"


# -- the driver -------------------------------------------------------------------------------------------------


def test_the_small_driver_fits_the_attiny25_beside_its_region(driver: DriverFirmware) -> None:
    """The plan's ATtiny25 layout with a 4-page region and fuses; the driver's code and a 300+ byte script fit
    the 1,920-byte application region; the spec's worked example for 32-byte pages."""
    lay = driver.layout
    assert (lay.chip.name, lay.storage_format, lay.backend) == ("attiny25", 2, "direct")
    assert (driver.page_size, driver.storage_pages, driver.region_start, driver.region_end) == (32, 4, 1920, 2048)
    assert driver.firmware.fuses["efuse"] == lay.fuses["efuse"] == 0xFE  # SELFPRGEN
    assert driver.max_value == 22 and driver.buf == 23 and driver.freq == 8_000_000
    assert "S" not in driver.commands and not driver.has_stats
    code = len(driver.firmware.flash) - driver.script_cap
    print(f"ATtiny25 driver: {code} B of code, {driver.script_cap} B script array, region {REGION} B at "
          f"0x{driver.region_start:X}")
    assert driver.script_addr + driver.script_cap <= lay.storage.start and driver.script_cap >= 300
    assert code <= 1_600
    with driver.elf.open("rb") as fh:
        ram = sum(sec["sh_size"] for sec in ELFFile(fh).iter_sections() if sec.name in (".data", ".bss"))
    assert ram <= 40, ram  # engine state 12 + buffer 23 + script position 2, of 128 bytes
    lines = ["B", "P 7 2a", "G 7 1", "G 7 2", "G 9 1", "Z 7", "V 7", "C 7", "P 255 01", "P 3",
             f"P 4 {'11' * 23}", f"P 4 {'22' * 22}", "R 7", "C 7", "R 7", "D"]
    run = run_script(driver, lines, regions=blank(driver))
    assert run.results[:15] == ["0", "0", "0 2a", f"{ERR_ARG} ", f"{NOT_FOUND} ", "1", "1 0 2a", "1", f"{ERR_ARG}",
                                f"{ERR_ARG}", f"{ERR_ARG}", "0", "0", "0", "0"]
    assert run.results == run_model(driver, lines)[0]
    region = bytes.fromhex(run.results[-1])
    assert region[:32] == bytes.fromhex("00000000d124" "07012afe12") + b"\xff" * 21  # docs/storage-format-v2.md 3
    assert region[32:38] == bytes.fromhex("01000100") + store_v2.check_bytes(bytes.fromhex("01000100"))
    assert region == run.flash[1920:2048]


def test_a_command_the_build_lacks_is_refused_with_one_line(driver: DriverFirmware) -> None:
    with pytest.raises(DriverError, match="built without command 'S'") as exc:
        run_script(driver, ["B", "S"])
    assert "\n" not in str(exc.value)
    with pytest.raises(DriverError, match="format-2 storage driver has no command 'LA'"):
        run_script(driver, ["B", "LA 01"])
    with pytest.raises(DriverError, match="at most 23"):
        run_script(driver, ["B", f"P 1 {'00' * 24}"])
    with pytest.raises(DriverError, match="does not fit"):
        run_script(driver, ["B", *[f"P 1 {'00' * 22}"] * 15])
    chunks = chunk_script(driver, ["B", *[f"P 1 {'00' * 22}"] * 15])
    assert len(chunks) == 2 and chunks[1][0] == "B" and sum(len(c) for c in chunks) == 17


def test_the_stack_leaves_a_margin_in_128_bytes_of_ram(driver: DriverFirmware) -> None:
    """RAM painted before power-on: the lowest byte the stack reached, over a sequence with compactions, FULL,
    a format and wrong-size gets, stays above the driver's data (.bss) with a margin."""
    with driver.elf.open("rb") as fh:
        bss_end = next(int(s["st_value"]) for s in ELFFile(fh).get_section_by_name(".symtab").iter_symbols()
                       if s.name == "__bss_end") - 0x800000
    ram_start, ram_end = driver.layout.chip.sram_start, driver.layout.chip.sram_start + driver.layout.chip.sram_size
    deepest = ram_end
    for seed in range(3):
        lines = storage_workload_v2(driver, random.Random(700 + seed), SEQ_KEYS, SEQ_COLD, big=0.6)
        img = driver.flash_image(driver.encode(lines), blank(driver))
        sim = Simulator(driver.firmware, driver.mcu, flash_in=img, freq=driver.freq)
        try:
            sim.probe.write_data(bss_end, b"\xa5" * (ram_end - bss_end))
            assert sim.run(max_cycles=default_budget(lines)).ok
            ram = bytes(sim.probe.read_data(ram_start, ram_end - ram_start))
            kinds = classify_ops_v2(_as_run(sim), driver.page_size)
        finally:
            sim.close()
        assert "copies" in kinds and "gc-header" in kinds
        deepest = min(deepest, ram_start + next(i for i in range(bss_end - ram_start, len(ram)) if ram[i] != 0xA5))
    print(f"stack: {ram_end - deepest} B deepest, data ends at 0x{bss_end:X}: {deepest - bss_end} B free")
    assert deepest - bss_end >= 16


def _as_run(sim: Simulator):  # type: ignore[no-untyped-def]
    from spareflash.storage.simdriver import MARK_CMD, MARK_DONE, DriverRun

    cmd = [m.cycle for m in sim.markers if m.value == MARK_CMD]
    done = [m.cycle for m in sim.markers if m.value == MARK_DONE]
    return DriverRun([], [], b"", sim.flash, list(sim.page_ops), cmd, done)


# -- random sequences -------------------------------------------------------------------------------------------


def test_random_sequences_leave_byte_identical_regions(driver: DriverFirmware) -> None:
    """100 sequences of ~170 commands (each a few script arrays long): every result line and the final region are
    the same on the chip and the twin. The 4-page ring wraps and compacts in every sequence, and puts find the
    store full (SF_ERR_FULL, nothing lost) often."""
    t0 = time.perf_counter()
    ops = lines_run = wrapped = chunks = 0
    kinds: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for seed in range(100):
        lines = storage_workload_v2(driver, random.Random(25_000 + seed), SEQ_KEYS, SEQ_COLD, nops=150, big=SEQ_BIG)
        flat, got, runs, expected = run_sequence(driver, lines)
        assert got == expected, f"seed {25_000 + seed}: " + first_difference(flat, expected, got)
        lines_run += len(flat)
        chunks += len(runs)
        all_ops = [op for run in runs for op in run.page_ops]
        ops += len(all_ops)
        wrapped += any(op.kind == "erase" and op.before != b"\xff" * 32 for op in all_ops)
        for run in runs:
            for k in classify_ops_v2(run, driver.page_size):
                kinds[k] = kinds.get(k, 0) + 1
        for ln, r in zip(flat, got):
            if ln[0] in "PGRF":
                key = f"{ln[0]} {r.split()[0]}"
                statuses[key] = statuses.get(key, 0) + 1
    print(f"100 sequences, {lines_run} commands in {chunks} scripts, {ops} page operations {kinds}, statuses "
          f"{statuses}, {time.perf_counter() - t0:.1f} s")
    assert wrapped == 100 and lines_run >= 15_000 and ops >= 15_000
    assert kinds["copies"] >= 5000 and kinds["gc-header"] >= 5000 and kinds["header"] >= 500 and kinds["write"] >= 1000
    assert statuses[f"P {FULL}"] >= 500 and statuses["P 0"] >= 4000 and statuses[f"P {ERR_ARG}"] >= 100
    assert statuses[f"G {ERR_ARG}"] >= 200 and statuses[f"G {NOT_FOUND}"] >= 200 and statuses["F 0"] >= 50
    assert statuses["R 0"] >= 500


def test_the_comparison_catches_a_twin_that_differs(driver: DriverFirmware, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    """A twin with the 64-byte pages' MAXV rule off by one (21 on 32-byte pages) differs; so does one that
    counts erases from 1 (only in the region's bytes)."""
    lines = storage_workload_v2(driver, random.Random(25_001), SEQ_KEYS, SEQ_COLD, nops=150, big=SEQ_BIG)
    flat, got, _, expected = run_sequence(driver, lines)
    assert got == expected
    with monkeypatch.context() as m:
        m.setattr(store_v2, "max_value", lambda page_size: 21)
        assert got != run_model(driver, flat, regions=blank(driver))[0]
    with monkeypatch.context() as m:
        real = store_v2.header_bytes
        m.setattr(store_v2, "header_bytes", lambda seq, oldest, erase: real(seq, oldest, erase + 1))
        wrong = run_model(driver, flat, regions=blank(driver))[0]
        assert wrong[:-1] == got[:-1] and wrong[-1] != got[-1]


@pytest.mark.slow
def test_random_sequences_sweep(driver: DriverFirmware) -> None:
    for seed in range(1000):
        lines = storage_workload_v2(driver, random.Random(250_000 + seed), SEQ_KEYS, SEQ_COLD, nops=150,
                                    big=SEQ_BIG)
        flat, got, _, expected = run_sequence(driver, lines)
        assert got == expected, f"seed {250_000 + seed}: " + first_difference(flat, expected, got)


@pytest.mark.slow
def test_random_sequences_on_the_default_region_sweep() -> None:
    """The plan's default ATtiny25 region (256 B, 8 pages; the script array is then 198 B): 300 sequences."""
    fw = build_driver_v2("attiny25")
    assert fw.storage_pages == 8 and fw.script_cap >= 150
    for seed in range(300):
        lines = storage_workload_v2(fw, random.Random(260_000 + seed), 8, 2, nops=200, big=SEQ_BIG)
        flat, got, _, expected = run_sequence(fw, lines)
        assert got == expected, f"seed {260_000 + seed}: " + first_difference(flat, expected, got)


# -- power cuts -------------------------------------------------------------------------------------------------


def test_rebuilt_cut_flash_equals_a_real_power_cut_on_the_attiny25(driver: DriverFirmware) -> None:
    """Cutting a real run and rebuilding the flash from the uncut run's page operations give the same bytes, in
    each kind of page operation and between operations."""
    lines = powercut_workload_v2(driver, random.Random(21), CUT_KEYS, CUT_COLD, big=CUT_BIG)
    run = run_script(driver, lines, regions=blank(driver))
    kinds = classify_ops_v2(run, driver.page_size)
    picks: dict[str, int] = {}
    for op, kind in zip(run.page_ops, kinds):
        picks.setdefault(kind, (op.start + op.end) // 2)
    picks["idle"] = run.page_ops[-1].end + 500
    assert set(picks) == {"erase", "write", "header", "copies", "gc-header", "idle"}, picks
    for kind, cycle in picks.items():
        real = run_with_power_cut(driver.firmware, "attiny25", cycle, seed=7, flash_in=run.flash_in,
                                  freq=driver.freq)
        rebuilt, op = flash_at_cut(run.flash_in, run.page_ops, cycle, seed=7)
        assert (real.op is None) == (op is None) == (kind == "idle"), kind
        assert real.flash == rebuilt, kind


def test_the_recovery_check_catches_a_lost_value_a_resurrected_one_and_a_twin_that_differs(
        driver: DriverFirmware, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check without the S line (this driver has none) still reads every key, the probe and the twin."""
    lines = powercut_workload_v2(driver, random.Random(22), CUT_KEYS, CUT_COLD, big=CUT_BIG)
    run = run_script(driver, lines, regions=blank(driver))
    cut = run.done_cycles[-1] + 10
    flash, op = flash_at_cut(run.flash_in, run.page_ops, cut, seed=1)
    values, _, inflight = expected_state(run, cut)
    assert op is None and inflight is None and values
    rng = random.Random(1)
    assert check_after_cut_v2(driver, flash, values, inflight, CUT_KEYS, rng) is None
    k = next(iter(values))
    wrong = dict(values)
    wrong[k] = bytes(b ^ 1 for b in values[k])
    assert f"key {k}" in (check_after_cut_v2(driver, flash, wrong, inflight, CUT_KEYS, rng) or "")
    removed = dict(values)
    del removed[k]
    assert f"key {k}" in (check_after_cut_v2(driver, flash, removed, inflight, CUT_KEYS, rng) or "")
    with monkeypatch.context() as m:  # a twin whose MAXV is one short on 32-byte pages
        m.setattr(store_v2, "max_value", lambda page_size: 21)
        m.setattr(store_v2, "MIN_PAGES", 5)  # and that refuses a 4-page region
        assert "chip and twin differ" in (check_after_cut_v2(driver, flash, values, inflight, CUT_KEYS, rng) or "")


def test_a_full_store_is_accepted_only_where_the_twin_is_full_too(driver: DriverFirmware,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Three 22-byte values fill the three chain pages of a 4-page store: no start can place another record
    (docs 6), so the check's new put finds the store full. That fails the strict check; with the `full` counter
    it passes and is counted, and a twin that differs still fails it."""
    vals = {k: bytes([k + 1]) * 22 for k in range(3)}
    run = run_script(driver, ["B", *(f"P {k} {v.hex()}" for k, v in vals.items()), "P 3 01"], regions=blank(driver))
    assert run.results == ["0", "0", "0", "0", str(FULL)]
    rng = random.Random(3)
    assert "failed with status 32" in (check_after_cut_v2(driver, run.flash, vals, None, 3, rng) or "")
    full = [0]
    assert check_after_cut_v2(driver, run.flash, vals, None, 3, rng, full) is None and full == [1]
    with monkeypatch.context() as m:  # a twin that refuses a 4-page region
        m.setattr(store_v2, "MAX_PAGES", 3)
        assert "differ" in (check_after_cut_v2(driver, run.flash, vals, None, 3, rng, full) or "")
    assert full == [1]


def test_a_thousand_power_cuts_keep_every_committed_write(driver: DriverFirmware) -> None:
    """Torn erases, appends, start headers, compaction copies and compaction headers (2 in 5 torn as the
    simulator's cut_power tears, the rest near completion), and cuts between operations."""
    t0 = time.perf_counter()
    res = sim_power_cut_campaign_v2(driver, seed=2525, cuts=1000, keys=CUT_KEYS, cold=CUT_COLD, big=CUT_BIG,
                                    full_ok=True)
    print(f"{res.cut_points} cuts {res.by_kind} ({res.near_complete} near-complete tears, {res.probe_full} new puts "
          f"full as in the twin) from {res.workloads} workloads ({res.sim_cycles} workload cycles) in "
          f"{time.perf_counter() - t0:.1f} s")
    assert not res.failures, "\n".join(res.failures)
    assert res.cut_points == 1000 and res.near_complete >= 400 and res.probe_full <= 20
    k = res.by_kind
    assert k["erase"] >= 130 and k["copies"] >= 130 and k["gc-header"] >= 130 and k["header"] >= 100, k
    assert k["write"] >= 130 and k["idle"] >= 130, k


@pytest.mark.slow
def test_power_cut_campaign_five_thousand_points(driver: DriverFirmware) -> None:
    res = sim_power_cut_campaign_v2(driver, seed=7725, cuts=5000, keys=CUT_KEYS, cold=CUT_COLD, big=CUT_BIG,
                                    full_ok=True)
    print(f"{res.cut_points} cuts {res.by_kind} ({res.near_complete} near-complete, {res.probe_full} new puts full "
          f"as in the twin) from {res.workloads} workloads")
    assert not res.failures, "\n".join(res.failures)
    assert res.cut_points == 5000 and res.by_kind["gc-header"] >= 500 and res.probe_full <= 100


# -- corruption -------------------------------------------------------------------------------------------------


def test_begin_bound_on_the_attiny25(driver: DriverFirmware) -> None:
    bound = begin_cycle_bound(driver)
    assert bound == 2_000 + 120 * (4 * 6 + 2 * 32)
    blank_run = run_script(driver, ["B"], regions=blank(driver))
    busy = run_script(driver, ["B", *(f"P {i % 3} 01" for i in range(5)), "B"], regions=blank(driver))
    zeros = run_script(driver, ["B"], regions=bytes(REGION))
    cycles = (blank_run.command_cycles(0), busy.command_cycles(len(busy.fw_lines) - 1), zeros.command_cycles(0))
    print(f"begin(): blank {cycles[0]}, busy head page {cycles[1]}, zeros {cycles[2]} cycles; bound {bound}")
    assert max(cycles) < bound


def test_the_corruption_check_is_not_vacuous(driver: DriverFirmware) -> None:
    """A key claimed intact whose record is in fact gone fails the check (indices without the S line)."""
    case = CorruptionCase("bytes", blank(driver), {2: b"\x01\x02"}, {2})
    fails, begin = check_corruption_case(driver, case, random.Random(5), CORRUPT_KEYS)
    assert begin > 0 and any("intact key 2" in f for f in fails)
    assert not any("probe" in f for f in fails)


def test_three_hundred_corrupted_regions_mount_like_the_twin(driver: DriverFirmware) -> None:
    t0 = time.perf_counter()
    res = sim_corruption_campaign(driver, seed=2543, cases=300, keys=CORRUPT_KEYS, max_len=CORRUPT_LEN)
    print(f"{res.cases} cases {res.by_kind}, {res.intact_checked} intact values checked, longest begin() "
          f"{res.max_begin_cycles} cycles (bound {begin_cycle_bound(driver)}), {time.perf_counter() - t0:.1f} s")
    assert not res.failures, "\n".join(res.failures[:10])
    assert res.cases == 300 and min(res.by_kind.values()) >= 50 and len(res.by_kind) == 4, res.by_kind
    assert res.intact_checked >= 450


@pytest.mark.slow
def test_corruption_campaign_five_thousand_regions(driver: DriverFirmware) -> None:
    res = sim_corruption_campaign(driver, seed=9125, cases=5000, keys=CORRUPT_KEYS, max_len=CORRUPT_LEN)
    assert not res.failures, "\n".join(res.failures[:10])
