"""Format 2 on the chip: the assembly engine (library/src/flashstorage_v2.S), built with the real toolchain for
each part with the plan's layout, direct SPM backend and fuses (SELFPRGEN), runs in the simulator against its
Python twin StorageModelV2 (docs/storage-format-v2.md, the oracle). The StorageDriver firmware
(tests/firmware/storage_driver, SPAREFLASH_STORAGE_FORMAT=2) runs the script language of
spareflash.storage.script on the engine; each sequence is patched into its flash (simdriver.py).

Two parts, two paths of the engine, every shared check run on both (test ids name the part):
* the ATtiny45: 8 pages of 64 B at 0x0E00, MAXV 32, the full driver (stats `S` included) with a ~1,580-byte
  script array, so a sequence is one script;
* the ATtiny25: 32-byte pages, MAXV 22 (more page starts and compactions per byte), a 4-page (128 B) region
  beside the driver's small build (simdriver.small_driver_flags: no `S`, which the ATtiny45 covers on the chip)
  and its ~330-byte script array; a sequence longer than one script runs as several (simdriver.chunk_script:
  each after the first starts with `B`, a reboot on the flash the last one left) and the twin runs the same
  lines. Its store can be legitimately full.

* Random sequences (puts of 1..MAXV bytes and refused ones, removes, gets of the right and wrong sizes, sizes,
  reboots, formats, stats, cold keys that compaction must copy) give the same result on every line and leave a
  byte-identical region on chip and twin.
* Power cuts (docs/storage-format-v2.md 8): every page operation kind is cut (erase, append, start header,
  compaction copies, compaction header, and between operations), torn at random or near completion; after
  the reboot every committed value reads back, the operation in flight reads old or new, mount and reads
  write nothing, a new put succeeds (or, on the ATtiny25, finds the store full exactly where the twin does)
  and survives a reboot, and chip and twin agree line for line and byte for byte on the torn region.
* Corruption (random bytes, bit flips, garbage pages): mount never crashes or hangs (a cycle bound), never
  writes, every value whose record, walked key/len bytes and chain headers are untouched reads back, the chip
  reads what the twin reads, and the store takes new values.
* The ATtiny25's RAM: 128 bytes; the driver's data and the deepest stack (a compacting put) leave a margin.
Each check is shown to fail on a broken expectation, a broken twin or a broken region.
"""

from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass

import pytest
from elftools.elf.elffile import ELFFile

pytest.importorskip("yasimavr")

from spareflash.sim import Simulator, run_with_power_cut  # noqa: E402
from spareflash.storage import store_v2  # noqa: E402
from spareflash.storage.simdriver import (  # noqa: E402
    CorruptionCase,
    DriverError,
    DriverFirmware,
    DriverRun,
    begin_cycle_bound,
    blank,
    build_driver_v2,
    check_after_cut_v2,
    check_corruption_case,
    chunk_script,
    classify_ops_v2,
    default_budget,
    expected_state,
    first_difference,
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


@dataclass(frozen=True)
class Workload:
    """The knobs of storage_workload_v2 / powercut_workload_v2: `keys` keys, `cold` more written once at the
    start, `big` the share of puts of 1..MAXV bytes (the rest 1..8), `nops` commands (None: as many as fit one
    script array)."""

    keys: int
    cold: int
    big: float
    nops: int | None = None


@dataclass(frozen=True)
class Part:
    """One part's figures: its plan and driver build, the workloads and the least counts each campaign must
    reach (the default run's and the slow sweep's)."""

    mcu: str
    storage_bytes: int | None  # None: the plan's default region
    geometry: tuple[int, int, int, int]  # page size, pages, region start, region end
    maxv: int
    buf: int  # the driver's data buffer: the longest put it takes
    script_min: int
    ram_max: int  # .data + .bss
    example_region: bytes  # how the region starts after the spec's worked example
    example_stats: str | None  # the example's `S` line (None: a driver built without `S`)
    busy_puts: int  # 1-byte puts that fill the head page for mount's walk
    begin_bound: int
    seq: Workload
    seq_seed: int
    seq_kinds: dict[str, int]  # at least this many page operations of each kind in the 100 sequences
    seq_statuses: dict[str, int]  # and this many results of each command and status
    sweep_seed: int
    cut: Workload
    full_ok: bool  # a new put after a cut may find the store full where the twin does too (counted)
    cuts: int
    cut_seed: int
    cut_kinds: dict[str, int]  # at least this many cuts of each kind
    near_complete: int
    probe_full_max: int
    sweep_cut_seed: int
    sweep_gc_header: int
    sweep_probe_full_max: int
    corrupt_keys: int
    corrupt_len: int
    corrupt_seed: int
    intact_min: int
    sweep_corrupt_seed: int


ATTINY45 = Part(
    "attiny45", None, (64, 8, 3584, 4096), maxv=32, buf=40, script_min=1200,
    ram_max=64,  # of the ATtiny45's 256 bytes; the stack has the rest
    example_region=bytes.fromhex("00000000d124" "07012afe12"),  # docs/storage-format-v2.md 3
    # 36 live bytes in 1 record; page 0 holds 6 + 5 + 36 + 4 bytes: 13 + 7 x 58 free; (10,000 - 0) x 8 x 1
    example_stats="0 8 64 36 1 419 0 0 80000",
    busy_puts=11, begin_bound=2_000 + 120 * (8 * 6 + 2 * 64),
    seq=Workload(keys=10, cold=3, big=0.5), seq_seed=5000,
    seq_kinds={"copies": 300, "gc-header": 300, "header": 1000},
    seq_statuses={f"P {ERR_ARG}": 100, f"G {ERR_ARG}": 200, "F 0": 50, f"G {NOT_FOUND}": 100, "R 0": 500},
    sweep_seed=100_000,
    cut=Workload(keys=10, cold=4, big=0.17), full_ok=False, cuts=800, cut_seed=2026,
    cut_kinds={"erase": 100, "copies": 50, "gc-header": 50, "header": 100, "write": 100, "idle": 100},
    near_complete=300, probe_full_max=0, sweep_cut_seed=77, sweep_gc_header=300, sweep_probe_full_max=0,
    corrupt_keys=8, corrupt_len=16, corrupt_seed=4343, intact_min=900, sweep_corrupt_seed=91,
)

# The driver's 1,578 B of code leave 326 B of script beside 4 pages of 32 B (beside the default 256 B: 198 B).
ATTINY25 = Part(
    "attiny25", 128, (32, 4, 1920, 2048), maxv=22, buf=23, script_min=300,
    ram_max=40,  # engine state 12 + buffer 23 + script position 2, of 128 bytes
    # the 22-byte value's record does not fit beside page 0's first one: page 1 starts (seq 1, erase count 0)
    example_region=(bytes.fromhex("00000000d124" "07012afe12") + b"\xff" * 21 + bytes.fromhex("01000100")
                    + store_v2.check_bytes(bytes.fromhex("01000100"))),
    example_stats=None,
    busy_puts=5, begin_bound=2_000 + 120 * (4 * 6 + 2 * 32),
    # 6 keys, 1 put in 4 up to MAXV: ~1 put in 5 finds the store full
    seq=Workload(keys=5, cold=1, big=0.25, nops=150), seq_seed=25_000,
    seq_kinds={"copies": 5000, "gc-header": 5000, "header": 500, "write": 1000},
    seq_statuses={f"P {FULL}": 500, "P 0": 4000, f"P {ERR_ARG}": 100, f"G {ERR_ARG}": 200, f"G {NOT_FOUND}": 200,
                  "F 0": 50, "R 0": 500},
    sweep_seed=250_000,
    # 4 keys, 1 put in 33 up to MAXV: the store stays below full, so the check's new put after a cut succeeds but
    # in rare states where no page start can place it beside the oldest page's live records (the twin is full too)
    cut=Workload(keys=4, cold=1, big=0.03), full_ok=True, cuts=1000, cut_seed=2525,
    cut_kinds={"erase": 130, "copies": 130, "gc-header": 130, "header": 100, "write": 130, "idle": 130},
    near_complete=400, probe_full_max=20, sweep_cut_seed=7725, sweep_gc_header=500, sweep_probe_full_max=100,
    # 3 keys of up to 8 bytes: beside them the 3 probe puts of 4 bytes must fit the 4-page store
    corrupt_keys=3, corrupt_len=8, corrupt_seed=2543, intact_min=450, sweep_corrupt_seed=9125,
)


@functools.cache
def driver_for(mcu: str) -> DriverFirmware:
    part = {p.mcu: p for p in (ATTINY45, ATTINY25)}[mcu]
    return build_driver_v2(mcu, storage_bytes=part.storage_bytes)


@pytest.fixture(scope="module", params=[ATTINY45, ATTINY25], ids=lambda p: p.mcu)
def part(request: pytest.FixtureRequest) -> Part:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def driver(part: Part) -> DriverFirmware:
    return driver_for(part.mcu)


@pytest.fixture(scope="module")
def attiny25() -> DriverFirmware:
    return driver_for("attiny25")


def sequence(fw: DriverFirmware, w: Workload, seed: int) -> list[str]:
    return storage_workload_v2(fw, random.Random(seed), w.keys, w.cold, nops=w.nops, big=w.big)


def run_sequence(fw: DriverFirmware, lines: list[str]) -> tuple[list[str], list[str], list[DriverRun], list[str]]:
    """(the lines the twin runs, the chip's results, the chip's runs, the twin's results) for a sequence cut
    into script arrays (one, where it fits) and ended by a region dump."""
    chunks = [lines] if fw.fits(lines) else chunk_script(fw, lines)  # chunk_script re-encodes each prefix
    runs = run_chunks(fw, chunks, regions=blank(fw))
    flat = [*(ln for ch in chunks for ln in ch), "D"]
    return flat, [r for run in runs for r in run.results], runs, run_model(fw, flat, regions=blank(fw))[0]


def short_of(counts: dict[str, int], least: dict[str, int]) -> dict[str, int]:
    """The entries of `least` that `counts` does not reach."""
    return {k: n for k, n in least.items() if counts.get(k, 0) < n}


# -- the driver -------------------------------------------------------------------------------------------------


def test_the_driver_runs_the_real_engine_on_the_planned_layout(part: Part, driver: DriverFirmware) -> None:
    """The plan's layout and fuses; the driver and its script fit the application region below the storage;
    its data leaves the stack room; results as the v1 driver prints them; the bytes of the spec's worked
    example."""
    lay = driver.layout
    assert (lay.chip.name, lay.storage_format, lay.backend) == (part.mcu, 2, "direct")
    assert (driver.page_size, driver.storage_pages, driver.region_start, driver.region_end) == part.geometry
    assert driver.firmware.fuses["efuse"] == lay.fuses["efuse"] == 0xFE  # SELFPRGEN: SPM from the application
    assert driver.max_value == part.maxv and driver.buf == part.buf and driver.freq == 8_000_000
    assert driver.script_addr + driver.script_cap <= lay.storage.start and driver.script_cap >= part.script_min
    with driver.elf.open("rb") as fh:
        ram = sum(sec["sh_size"] for sec in ELFFile(fh).iter_sections() if sec.name in (".data", ".bss"))
    assert ram <= part.ram_max, ram
    stats = ["S"] if part.example_stats else []
    lines = ["B", "P 7 2a", "G 7 1", "G 7 2", "G 9 1", "Z 7", "V 7", "C 7", "P 255 01", "P 3",
             f"P 4 {'11' * (part.maxv + 1)}", f"P 4 {'22' * part.maxv}", "R 7", "C 7", "R 7", *stats, "D"]
    run = run_script(driver, lines, regions=blank(driver))
    assert run.results[:15] == ["0", "0", "0 2a", f"{ERR_ARG} ", f"{NOT_FOUND} ", "1", "1 0 2a", "1", f"{ERR_ARG}",
                                f"{ERR_ARG}", f"{ERR_ARG}", "0", "0", "0", "0"]
    if part.example_stats:
        assert run.results[15] == part.example_stats
    assert run.results == run_model(driver, lines)[0]
    region = bytes.fromhex(run.results[-1])
    assert region.startswith(part.example_region)
    assert region == run.flash[driver.region_start:driver.region_end]
    assert run.page_ops and all(driver.region_start <= op.page < driver.region_end for op in run.page_ops)


def test_a_bad_script_is_refused_with_one_line(part: Part, driver: DriverFirmware) -> None:
    """A command the format does not have, a value longer than the driver's buffer and a script longer than its
    array are refused; chunk_script runs the long one as two scripts, the second starting with a reboot."""
    with pytest.raises(DriverError, match="format-2 storage driver has no command 'LA'"):
        run_script(driver, ["B", "LA 01"])
    with pytest.raises(DriverError, match=f"at most {part.buf}"):
        run_script(driver, ["B", f"P 1 {'00' * (part.buf + 1)}"])
    long = ["B", *[f"P 1 {'00' * part.maxv}"] * (driver.script_cap // part.maxv + 1)]
    with pytest.raises(DriverError, match="does not fit"):
        run_script(driver, long)
    chunks = chunk_script(driver, long)
    assert len(chunks) == 2 and chunks[1][0] == "B" and sum(len(c) for c in chunks) == len(long) + 1


def test_the_attiny25s_small_driver_fits_beside_its_region_without_stats(attiny25: DriverFirmware) -> None:
    """The ATtiny45's driver build (~1,990 B) does not fit the ATtiny25's 1,920-byte application region; the small
    build (no `S`: the Python side refuses it in one line) leaves a 300+ byte script array."""
    assert "S" not in attiny25.commands and not attiny25.has_stats
    code = len(attiny25.firmware.flash) - attiny25.script_cap
    print(f"ATtiny25 driver: {code} B of code, {attiny25.script_cap} B script array, region "
          f"{attiny25.region_end - attiny25.region_start} B at 0x{attiny25.region_start:X}")
    assert code <= 1_600
    with pytest.raises(DriverError, match="built without command 'S'") as exc:
        run_script(attiny25, ["B", "S"])
    assert "\n" not in str(exc.value)


def test_the_attiny25s_stack_leaves_a_margin_in_128_bytes_of_ram(attiny25: DriverFirmware) -> None:
    """RAM painted before power-on: the lowest byte the stack reached, over a sequence with compactions, FULL,
    a format and wrong-size gets, stays above the driver's data (.bss) with a margin."""
    fw = attiny25
    with fw.elf.open("rb") as fh:
        bss_end = next(int(s["st_value"]) for s in ELFFile(fh).get_section_by_name(".symtab").iter_symbols()
                       if s.name == "__bss_end") - 0x800000
    ram_start, ram_end = fw.layout.chip.sram_start, fw.layout.chip.sram_start + fw.layout.chip.sram_size
    deepest = ram_end
    for seed in range(3):
        lines = storage_workload_v2(fw, random.Random(700 + seed), ATTINY25.seq.keys, ATTINY25.seq.cold, big=0.6)
        img = fw.flash_image(fw.encode(lines), blank(fw))
        sim = Simulator(fw.firmware, fw.mcu, flash_in=img, freq=fw.freq)
        try:
            sim.probe.write_data(bss_end, b"\xa5" * (ram_end - bss_end))
            assert sim.run(max_cycles=default_budget(lines)).ok
            ram = bytes(sim.probe.read_data(ram_start, ram_end - ram_start))
            kinds = classify_ops_v2(_as_run(sim), fw.page_size)
        finally:
            sim.close()
        assert "copies" in kinds and "gc-header" in kinds
        deepest = min(deepest, ram_start + next(i for i in range(bss_end - ram_start, len(ram)) if ram[i] != 0xA5))
    print(f"stack: {ram_end - deepest} B deepest, data ends at 0x{bss_end:X}: {deepest - bss_end} B free")
    assert deepest - bss_end >= 16


def _as_run(sim: Simulator) -> DriverRun:
    from spareflash.storage.simdriver import MARK_CMD, MARK_DONE

    cmd = [m.cycle for m in sim.markers if m.value == MARK_CMD]
    done = [m.cycle for m in sim.markers if m.value == MARK_DONE]
    return DriverRun([], [], b"", sim.flash, list(sim.page_ops), cmd, done)


# -- random sequences -------------------------------------------------------------------------------------------


def test_random_sequences_leave_byte_identical_regions(part: Part, driver: DriverFirmware) -> None:
    """100 sequences (the ATtiny45's each as long as one script array holds, ~180 commands; the ATtiny25's 150
    commands, a few script arrays each): every result line and the final region are the same on the chip and the
    twin. The ring wraps in every sequence and compaction copies; on the ATtiny25's 4-page store puts find the
    store full (SF_ERR_FULL, nothing lost) often."""
    t0 = time.perf_counter()
    ops = lines_run = wrapped = scripts = 0
    kinds: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for seed in range(part.seq_seed, part.seq_seed + 100):
        flat, got, runs, expected = run_sequence(driver, sequence(driver, part.seq, seed))
        assert got == expected, f"seed {seed}: " + first_difference(flat, expected, got)
        lines_run += len(flat)
        scripts += len(runs)
        all_ops = [op for run in runs for op in run.page_ops]
        ops += len(all_ops)
        wrapped += any(op.kind == "erase" and op.before != b"\xff" * driver.page_size for op in all_ops)
        for run in runs:
            for k in classify_ops_v2(run, driver.page_size):
                kinds[k] = kinds.get(k, 0) + 1
        for ln, r in zip(flat, got):
            if ln[0] in "PGRF":
                key = f"{ln[0]} {r.split()[0]}"
                statuses[key] = statuses.get(key, 0) + 1
    print(f"100 sequences, {lines_run} commands in {scripts} scripts, {ops} page operations {kinds}, statuses "
          f"{statuses}, {time.perf_counter() - t0:.1f} s")
    assert wrapped == 100 and lines_run >= 15_000 and ops >= 15_000
    assert not short_of(kinds, part.seq_kinds), kinds
    assert not short_of(statuses, part.seq_statuses), statuses


def test_the_comparison_catches_a_twin_that_differs(part: Part, driver: DriverFirmware,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A twin whose MAXV is one byte short differs in a status; one that counts erases from 1 differs only in
    the region's bytes (every result line agrees until the dump)."""
    flat, got, _, expected = run_sequence(driver, sequence(driver, part.seq, part.seq_seed + 1))
    assert got == expected
    with monkeypatch.context() as m:
        m.setattr(store_v2, "max_value", lambda page_size: part.maxv - 1)
        assert got != run_model(driver, flat, regions=blank(driver))[0]
    with monkeypatch.context() as m:
        real = store_v2.header_bytes
        m.setattr(store_v2, "header_bytes", lambda seq, oldest, erase: real(seq, oldest, erase + 1))
        # without the stats lines, whose erase figures would differ too
        kept = [i for i, ln in enumerate(flat) if ln != "S"]
        wrong = run_model(driver, [flat[i] for i in kept], regions=blank(driver))[0]
        right = [got[i] for i in kept]
        assert wrong[:-1] == right[:-1] and wrong[-1] != right[-1]


@pytest.mark.slow
def test_random_sequences_sweep(part: Part, driver: DriverFirmware) -> None:
    for seed in range(part.sweep_seed, part.sweep_seed + 1000):
        flat, got, _, expected = run_sequence(driver, sequence(driver, part.seq, seed))
        assert got == expected, f"seed {seed}: " + first_difference(flat, expected, got)


@pytest.mark.slow
def test_random_sequences_on_the_attiny25s_default_region_sweep() -> None:
    """The plan's default ATtiny25 region (256 B, 8 pages; the script array is then 198 B): 300 sequences."""
    fw = build_driver_v2("attiny25")
    assert fw.storage_pages == 8 and fw.script_cap >= 150
    for seed in range(260_000, 260_300):
        flat, got, _, expected = run_sequence(fw, sequence(fw, Workload(8, 2, ATTINY25.seq.big, nops=200), seed))
        assert got == expected, f"seed {seed}: " + first_difference(flat, expected, got)


# -- power cuts -------------------------------------------------------------------------------------------------


def cut_workload(part: Part, driver: DriverFirmware, seed: int) -> list[str]:
    w = part.cut
    return powercut_workload_v2(driver, random.Random(seed), w.keys, w.cold, big=w.big)


def test_rebuilt_cut_flash_equals_a_real_power_cut(part: Part, driver: DriverFirmware) -> None:
    """Cutting a real run and rebuilding the flash from the uncut run's page operations give the same bytes, in
    each kind of page operation and between operations; the kinds are what the spec's write path does."""
    run = run_script(driver, cut_workload(part, driver, 21), regions=blank(driver))
    kinds = classify_ops_v2(run, driver.page_size)
    picks: dict[str, int] = {}
    for op, kind in zip(run.page_ops, kinds):
        picks.setdefault(kind, (op.start + op.end) // 2)
    picks["idle"] = run.page_ops[-1].end + 500
    assert set(picks) == {"erase", "write", "header", "copies", "gc-header", "idle"}, picks
    for i, (op, kind) in enumerate(zip(run.page_ops, kinds)):
        if kind == "copies":  # compaction: erase np, copies into np, then np's header (docs 6.2)
            assert kinds[i - 1] == "erase" and kinds[i + 1] == "gc-header"
            assert run.page_ops[i - 1].page == op.page == run.page_ops[i + 1].page
    for kind, cycle in picks.items():
        real = run_with_power_cut(driver.firmware, driver.mcu, cycle, seed=7, flash_in=run.flash_in, freq=driver.freq)
        rebuilt, op = flash_at_cut(run.flash_in, run.page_ops, cycle, seed=7)
        assert (real.op is None) == (op is None) == (kind == "idle"), kind
        assert real.flash == rebuilt, kind


def test_the_recovery_check_catches_a_lost_value_a_resurrected_one_and_a_twin_that_differs(
        part: Part, driver: DriverFirmware, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check reads every key, the probe and the twin (without the S line where the driver has none)."""
    run = run_script(driver, cut_workload(part, driver, 22), regions=blank(driver))
    cut = run.done_cycles[-1] + 10
    flash, op = flash_at_cut(run.flash_in, run.page_ops, cut, seed=1)
    values, _, inflight = expected_state(run, cut)
    assert op is None and inflight is None and values
    keys, rng = part.cut.keys, random.Random(1)
    assert check_after_cut_v2(driver, flash, values, inflight, keys, rng) is None
    k = next(iter(values))
    wrong = dict(values)
    wrong[k] = bytes(b ^ 1 for b in values[k])
    assert f"key {k}" in (check_after_cut_v2(driver, flash, wrong, inflight, keys, rng) or "")
    removed = dict(values)
    del removed[k]
    assert f"key {k}" in (check_after_cut_v2(driver, flash, removed, inflight, keys, rng) or "")
    # twins that refuse a region of this many pages, as too many and as too few
    for limit, pages in (("MAX_PAGES", driver.storage_pages - 1), ("MIN_PAGES", driver.storage_pages + 1)):
        with monkeypatch.context() as m:
            m.setattr(store_v2, limit, pages)
            assert "chip and twin differ" in (check_after_cut_v2(driver, flash, values, inflight, keys, rng) or "")


def test_a_full_attiny25_store_is_accepted_only_where_the_twin_is_full_too(attiny25: DriverFirmware,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Three 22-byte values fill the three chain pages of a 4-page store: no start can place another record
    (docs 6), so the check's new put finds the store full. That fails the strict check; with the `full` counter
    it passes and is counted, and a twin that differs still fails it."""
    vals = {k: bytes([k + 1]) * 22 for k in range(3)}
    run = run_script(attiny25, ["B", *(f"P {k} {v.hex()}" for k, v in vals.items()), "P 3 01"],
                     regions=blank(attiny25))
    assert run.results == ["0", "0", "0", "0", str(FULL)]
    rng = random.Random(3)
    assert "failed with status 32" in (check_after_cut_v2(attiny25, run.flash, vals, None, 3, rng) or "")
    full = [0]
    assert check_after_cut_v2(attiny25, run.flash, vals, None, 3, rng, full) is None and full == [1]
    with monkeypatch.context() as m:  # a twin that refuses a 4-page region
        m.setattr(store_v2, "MAX_PAGES", 3)
        assert "differ" in (check_after_cut_v2(attiny25, run.flash, vals, None, 3, rng, full) or "")
    assert full == [1]


def test_power_cuts_keep_every_committed_write(part: Part, driver: DriverFirmware) -> None:
    """800 cuts on the ATtiny45, 1,000 on the ATtiny25: torn erases, appends, start headers, compaction copies
    and compaction headers (2 in 5 torn as the simulator's cut_power tears, the rest near completion), and cuts
    between operations."""
    t0 = time.perf_counter()
    w = part.cut
    res = sim_power_cut_campaign_v2(driver, seed=part.cut_seed, cuts=part.cuts, keys=w.keys, cold=w.cold, big=w.big,
                                    full_ok=part.full_ok)
    print(f"{res.cut_points} cuts {res.by_kind} ({res.near_complete} near-complete tears, {res.probe_full} new puts "
          f"full as in the twin) from {res.workloads} workloads ({res.sim_cycles} workload cycles) in "
          f"{time.perf_counter() - t0:.1f} s")
    assert not res.failures, "\n".join(res.failures)
    assert res.cut_points == part.cuts and res.near_complete >= part.near_complete
    assert res.probe_full <= part.probe_full_max
    assert not short_of(res.by_kind, part.cut_kinds), res.by_kind


@pytest.mark.slow
def test_power_cut_campaign_five_thousand_points(part: Part, driver: DriverFirmware) -> None:
    w = part.cut
    res = sim_power_cut_campaign_v2(driver, seed=part.sweep_cut_seed, cuts=5000, keys=w.keys, cold=w.cold, big=w.big,
                                    full_ok=part.full_ok)
    print(f"{res.cut_points} cuts {res.by_kind} ({res.near_complete} near-complete, {res.probe_full} new puts full "
          f"as in the twin) from {res.workloads} workloads")
    assert not res.failures, "\n".join(res.failures)
    assert res.cut_points == 5000 and res.by_kind["gc-header"] >= part.sweep_gc_header
    assert res.probe_full <= part.sweep_probe_full_max


# -- corruption -------------------------------------------------------------------------------------------------


def test_begin_bound_follows_from_the_region_size(part: Part, driver: DriverFirmware) -> None:
    """Format 2's bound: 6 header bytes a page and two passes over the head page at 120 cycles a byte, plus
    2,000 cycles; a blank region, a busy head page and a region of zeros all mount well inside it."""
    bound = begin_cycle_bound(driver)
    assert bound == part.begin_bound
    blank_run = run_script(driver, ["B"], regions=blank(driver))
    busy = run_script(driver, ["B", *(f"P {i % 3} 01" for i in range(part.busy_puts)), "B"], regions=blank(driver))
    zeros = run_script(driver, ["B"], regions=bytes(len(blank(driver))))
    cycles = (blank_run.command_cycles(0), busy.command_cycles(len(busy.fw_lines) - 1), zeros.command_cycles(0))
    print(f"begin(): blank {cycles[0]}, busy head page {cycles[1]}, zeros {cycles[2]} cycles; bound {bound}")
    assert max(cycles) < bound


def test_the_corruption_check_is_not_vacuous(part: Part, driver: DriverFirmware) -> None:
    """A key claimed intact whose record is in fact gone fails the check (and only that: the probes fit)."""
    case = CorruptionCase("bytes", blank(driver), {2: b"\x01\x02"}, {2})
    fails, begin = check_corruption_case(driver, case, random.Random(5), part.corrupt_keys)
    assert begin > 0 and any("intact key 2" in f for f in fails)
    assert not any("probe" in f for f in fails)


def test_three_hundred_corrupted_regions_mount_like_the_twin(part: Part, driver: DriverFirmware) -> None:
    t0 = time.perf_counter()
    res = sim_corruption_campaign(driver, seed=part.corrupt_seed, cases=300, keys=part.corrupt_keys,
                                  max_len=part.corrupt_len)
    print(f"{res.cases} cases {res.by_kind}, {res.intact_checked} intact values checked, longest begin() "
          f"{res.max_begin_cycles} cycles (bound {begin_cycle_bound(driver)}), {time.perf_counter() - t0:.1f} s")
    assert not res.failures, "\n".join(res.failures[:10])
    assert res.cases == 300 and min(res.by_kind.values()) >= 50 and len(res.by_kind) == 4, res.by_kind
    assert res.intact_checked >= part.intact_min


@pytest.mark.slow
def test_corruption_campaign_five_thousand_regions(part: Part, driver: DriverFirmware) -> None:
    res = sim_corruption_campaign(driver, seed=part.sweep_corrupt_seed, cases=5000, keys=part.corrupt_keys,
                                  max_len=part.corrupt_len)
    assert not res.failures, "\n".join(res.failures[:10])


# -- the campaign command ---------------------------------------------------------------------------------------


def test_campaign_command_runs_the_format_2_campaigns_on_the_attiny45(capsys: pytest.CaptureFixture[str]) -> None:
    """`spareflash campaign storage --format 2`: the ATtiny45 driver's power cuts and corruption cases and the
    twin's own campaigns, with their figures in the JSON; a format it does not know is one line of error."""
    import json

    from spareflash.cli import main

    rc = main(["campaign", "storage", "--format", "2", "--cuts", "30", "--corruption", "4", "--model-cuts", "400",
               "--model-corruption", "50", "--seed", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["failures"] == [] and out["format"] == 2
    assert out["driver"] == {"mcu": "attiny45", "pages": 8, "page_size": 64, "script_bytes": 1582}
    cuts = out["sim_power_cuts"]
    assert cuts["cut_points"] == 30 and cuts["near_complete_tears"] > 0 and cuts["by_kind"]["gc-header"] >= 1
    assert out["sim_corruption"]["cases"] == 4 and out["sim_corruption"]["max_begin_cycles"] > 0
    assert out["model_power_cuts"]["cut_points"] == 400 and out["model_corruption"]["cases"] == 50
    with pytest.raises(SystemExit) as exc:
        main(["campaign", "storage", "--format", "3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") <= 1 and "--format" in err
