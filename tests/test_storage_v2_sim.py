"""Format 2 on the chip: the assembly engine (library/src/flashstorage_v2.S), built with the real toolchain for the
ATtiny45 with the plan's layout (8 pages of 64 B at 0x0E00), direct SPM backend and fuses (SELFPRGEN), runs in the
simulator against its Python twin StorageModelV2 (docs/storage-format-v2.md, the oracle). The StorageDriver
firmware (tests/firmware/storage_driver, SPAREFLASH_STORAGE_FORMAT=2) runs the script language of
spareflash.storage.script on the engine; each sequence is patched into its flash (simdriver.py).

* Random sequences (puts of 1..MAXV bytes and refused ones, removes, gets of the right and wrong sizes, sizes,
  reboots, formats, stats, cold keys that compaction must copy) give the same result on every line and leave a
  byte-identical region on chip and twin.
* Power cuts (docs/storage-format-v2.md 8): every page operation kind is cut (erase, append, start header,
  compaction copies, compaction header, and between operations), torn at random or near completion; after
  the reboot every committed value reads back, the operation in flight reads old or new, mount and reads
  write nothing, a new put succeeds and survives a reboot, and chip and twin agree line for line and byte for
  byte on the torn region.
* Corruption (random bytes, bit flips, garbage pages): mount never crashes or hangs (a cycle bound), never
  writes, every value whose record, walked key/len bytes and chain headers are untouched reads back, the chip
  reads what the twin reads, and the store takes new values.
Each check is shown to fail on a broken expectation, a broken twin or a broken region.
"""

from __future__ import annotations

import random
import time

import pytest
from elftools.elf.elffile import ELFFile

pytest.importorskip("yasimavr")

from spareflash.sim import run_with_power_cut  # noqa: E402
from spareflash.storage import store_v2  # noqa: E402
from spareflash.storage.simdriver import (  # noqa: E402
    CorruptionCase,
    DriverError,
    DriverFirmware,
    begin_cycle_bound,
    build_driver_v2,
    check_after_cut_v2,
    check_corruption_case,
    classify_ops_v2,
    expected_state,
    flash_at_cut,
    powercut_workload_v2,
    run_model,
    run_script,
    sim_corruption_campaign,
    sim_power_cut_campaign_v2,
    storage_workload_v2,
)

OK, ERR_ARG, FULL, NOT_FOUND = 0x00, 0x08, 0x20, 0x21  # spareflash_status.h
KEYS = 10


@pytest.fixture(scope="module")
def driver() -> DriverFirmware:
    return build_driver_v2()


def blank(fw: DriverFirmware) -> bytes:
    return b"\xff" * (fw.region_end - fw.region_start)


def first_difference(lines: list[str], expected: list[str], got: list[str]) -> str:
    for i, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            return f"line {i} {lines[i][:40]!r}: twin {a[:70]!r} chip {b[:70]!r}"
    return f"{len(expected)} results from the twin, {len(got)} from the chip"


# -- the driver -------------------------------------------------------------------------------------------------


def test_the_driver_runs_the_real_engine_on_the_planned_layout(driver: DriverFirmware) -> None:
    """The plan's default ATtiny45 layout and fuses; the driver and its script fit the 3,584-byte application
    region; results as the v1 driver prints them; the bytes of the spec's worked example."""
    lay = driver.layout
    assert (lay.chip.name, lay.storage_format, lay.backend) == ("attiny45", 2, "direct")
    assert (driver.page_size, driver.storage_pages, driver.region_start, driver.region_end) == (64, 8, 3584, 4096)
    assert driver.firmware.fuses["efuse"] == lay.fuses["efuse"] == 0xFE  # SELFPRGEN: SPM from the application
    assert driver.max_value == 32 and driver.freq == 8_000_000
    assert driver.script_addr + driver.script_cap <= lay.storage.start and driver.script_cap >= 1200
    with driver.elf.open("rb") as fh:
        ram = sum(sec["sh_size"] for sec in ELFFile(fh).iter_sections() if sec.name in (".data", ".bss"))
    assert ram <= 64, ram  # of the ATtiny45's 256 bytes; the stack has the rest
    lines = ["B", "P 7 2a", "G 7 1", "G 7 2", "G 9 1", "Z 7", "V 7", "C 7", "P 255 01", "P 3", f"P 4 {'11' * 33}",
             f"P 4 {'22' * 32}", "R 7", "C 7", "R 7", "S", "D"]
    run = run_script(driver, lines, regions=blank(driver))
    assert run.results[:15] == ["0", "0", "0 2a", f"{ERR_ARG} ", f"{NOT_FOUND} ", "1", "1 0 2a", "1", f"{ERR_ARG}",
                                f"{ERR_ARG}", f"{ERR_ARG}", "0", "0", "0", "0"]
    # stats: 36 live bytes in 1 record; page 0 holds 6 + 5 + 36 + 4 bytes: 13 + 7 x 58 free; (10,000 - 0) x 8 x 1
    assert run.results[15] == "0 8 64 36 1 419 0 0 80000"
    assert run.results == run_model(driver, lines)[0]
    region = bytes.fromhex(run.results[-1])
    assert region[:11] == bytes.fromhex("00000000d124" "07012afe12")  # docs/storage-format-v2.md 3
    assert region == run.flash[3584:4096]
    assert run.page_ops and all(3584 <= op.page < 4096 for op in run.page_ops)


def test_a_bad_script_is_refused_with_one_line(driver: DriverFirmware) -> None:
    with pytest.raises(DriverError, match="format-2 storage driver has no command 'LA'"):
        run_script(driver, ["B", "LA 01"])
    with pytest.raises(DriverError, match="at most 40"):
        run_script(driver, ["B", f"P 1 {'00' * 41}"])
    with pytest.raises(DriverError, match="does not fit"):
        run_script(driver, ["B", *[f"P 1 {'00' * 32}"] * 60])


# -- random sequences -------------------------------------------------------------------------------------------


def test_random_sequences_leave_byte_identical_regions(driver: DriverFirmware) -> None:
    """100 sequences, each as long as the script array holds (~180 commands): every result line and the final
    region are the same on the chip and the twin. The ring wraps in every sequence and compaction copies."""
    t0 = time.perf_counter()
    ops = lines_run = wrapped = 0
    kinds: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for seed in range(100):
        lines = [*storage_workload_v2(driver, random.Random(5000 + seed)), "D"]
        run = run_script(driver, lines, regions=blank(driver))
        expected, _ = run_model(driver, lines, regions=blank(driver))
        assert run.results == expected, f"seed {5000 + seed}: " + first_difference(lines, expected, run.results)
        lines_run += len(lines)
        ops += len(run.page_ops)
        wrapped += any(op.kind == "erase" and op.before != b"\xff" * 64 for op in run.page_ops)
        for k in classify_ops_v2(run, driver.page_size):
            kinds[k] = kinds.get(k, 0) + 1
        for ln, r in zip(lines, run.results):
            if ln[0] in "PGRF":
                key = f"{ln[0]} {r.split()[0]}"
                statuses[key] = statuses.get(key, 0) + 1
    print(f"100 sequences, {lines_run} commands, {ops} page operations {kinds}, statuses {statuses}, "
          f"{time.perf_counter() - t0:.1f} s")
    assert wrapped == 100 and lines_run >= 15_000 and ops >= 15_000
    assert kinds["copies"] >= 300 and kinds["gc-header"] >= 300 and kinds["header"] >= 1000
    assert statuses[f"P {ERR_ARG}"] >= 100 and statuses[f"G {ERR_ARG}"] >= 200 and statuses["F 0"] >= 50
    assert statuses[f"G {NOT_FOUND}"] >= 100 and statuses["R 0"] >= 500


def test_the_comparison_catches_a_twin_that_differs(driver: DriverFirmware, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    """A twin whose MAXV is one byte short differs in a status; one that counts erases from 1 differs only in
    the region's bytes (every result line agrees until the dump)."""
    lines = [*storage_workload_v2(driver, random.Random(5001)), "D"]
    run = run_script(driver, lines, regions=blank(driver))
    assert run.results == run_model(driver, lines, regions=blank(driver))[0]
    with monkeypatch.context() as m:
        m.setattr(store_v2, "max_value", lambda page_size: 31)
        assert run.results != run_model(driver, lines, regions=blank(driver))[0]
    with monkeypatch.context() as m:
        real = store_v2.header_bytes
        m.setattr(store_v2, "header_bytes", lambda seq, oldest, erase: real(seq, oldest, erase + 1))
        # without the stats lines, whose erase figures would differ too
        expected = run_model(driver, [ln for ln in lines if ln != "S"], regions=blank(driver))[0]
        got = [r for ln, r in zip(lines, run.results) if ln != "S"]
        assert expected[:-1] == got[:-1] and expected[-1] != got[-1]


@pytest.mark.slow
def test_random_sequences_sweep(driver: DriverFirmware) -> None:
    for seed in range(1000):
        lines = [*storage_workload_v2(driver, random.Random(100_000 + seed)), "D"]
        run = run_script(driver, lines, regions=blank(driver))
        expected, _ = run_model(driver, lines, regions=blank(driver))
        assert run.results == expected, f"seed {100_000 + seed}: " + first_difference(lines, expected, run.results)


# -- power cuts -------------------------------------------------------------------------------------------------


def test_rebuilt_cut_flash_equals_a_real_power_cut_on_the_attiny45(driver: DriverFirmware) -> None:
    """Cutting a real run and rebuilding the flash from the uncut run's page operations give the same bytes, in
    each kind of page operation and between operations; the kinds are what the spec's write path does."""
    lines = powercut_workload_v2(driver, random.Random(21))
    run = run_script(driver, lines, regions=blank(driver))
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
        real = run_with_power_cut(driver.firmware, "attiny45", cycle, seed=7, flash_in=run.flash_in, freq=driver.freq)
        rebuilt, op = flash_at_cut(run.flash_in, run.page_ops, cycle, seed=7)
        assert (real.op is None) == (op is None) == (kind == "idle"), kind
        assert real.flash == rebuilt, kind


def test_the_recovery_check_catches_a_lost_value_a_resurrected_one_and_a_twin_that_differs(
        driver: DriverFirmware, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = powercut_workload_v2(driver, random.Random(22))
    run = run_script(driver, lines, regions=blank(driver))
    cut = run.done_cycles[-1] + 10
    flash, op = flash_at_cut(run.flash_in, run.page_ops, cut, seed=1)
    values, _, inflight = expected_state(run, cut)
    assert op is None and inflight is None and values
    rng = random.Random(1)
    assert check_after_cut_v2(driver, flash, values, inflight, KEYS, rng) is None
    k = next(iter(values))
    wrong = dict(values)
    wrong[k] = bytes(b ^ 1 for b in values[k])
    assert f"key {k}" in (check_after_cut_v2(driver, flash, wrong, inflight, KEYS, rng) or "")
    removed = dict(values)
    del removed[k]
    assert f"key {k}" in (check_after_cut_v2(driver, flash, removed, inflight, KEYS, rng) or "")
    with monkeypatch.context() as m:  # a twin that refuses regions of more than 7 pages
        m.setattr(store_v2, "MAX_PAGES", 7)
        assert "chip and twin differ" in (check_after_cut_v2(driver, flash, values, inflight, KEYS, rng) or "")


def test_eight_hundred_power_cuts_keep_every_committed_write(driver: DriverFirmware) -> None:
    """Torn erases, appends, start headers, compaction copies and compaction headers (2 in 5 torn as the
    simulator's cut_power tears, the rest near completion), and cuts between operations."""
    t0 = time.perf_counter()
    res = sim_power_cut_campaign_v2(driver, seed=2026, cuts=800)
    print(f"{res.cut_points} cuts {res.by_kind} ({res.near_complete} near-complete tears) from {res.workloads} "
          f"workloads ({res.sim_cycles} workload cycles) in {time.perf_counter() - t0:.1f} s")
    assert not res.failures, "\n".join(res.failures)
    assert res.cut_points == 800 and res.near_complete >= 300
    k = res.by_kind
    assert k["erase"] >= 100 and k["copies"] >= 50 and k["gc-header"] >= 50 and k["header"] >= 100, k
    assert k["write"] >= 100 and k["idle"] >= 100, k


@pytest.mark.slow
def test_power_cut_campaign_five_thousand_points(driver: DriverFirmware) -> None:
    res = sim_power_cut_campaign_v2(driver, seed=77, cuts=5000)
    print(f"{res.cut_points} cuts {res.by_kind} from {res.workloads} workloads")
    assert not res.failures, "\n".join(res.failures)
    assert res.cut_points == 5000 and res.by_kind["gc-header"] >= 300


# -- corruption -------------------------------------------------------------------------------------------------


def test_begin_bound_follows_from_the_region_size(driver: DriverFirmware) -> None:
    """Format 2's bound: 6 header bytes a page and two passes over the head page at 120 cycles a byte, plus
    2,000 cycles; a blank region, a busy head page and a region of zeros all mount well inside it."""
    bound = begin_cycle_bound(driver)
    assert bound == 2_000 + 120 * (8 * 6 + 2 * 64)
    blank_run = run_script(driver, ["B"], regions=blank(driver))
    busy = run_script(driver, ["B", *(f"P {i % 3} 01" for i in range(11)), "B"], regions=blank(driver))
    zeros = run_script(driver, ["B"], regions=bytes(512))
    cycles = (blank_run.command_cycles(0), busy.command_cycles(len(busy.fw_lines) - 1), zeros.command_cycles(0))
    print(f"begin(): blank {cycles[0]}, busy head page {cycles[1]}, zeros {cycles[2]} cycles; bound {bound}")
    assert max(cycles) < bound


def test_the_corruption_check_is_not_vacuous(driver: DriverFirmware) -> None:
    """A key claimed intact whose record is in fact gone fails the check."""
    case = CorruptionCase("bytes", blank(driver), {2: b"\x01\x02"}, {2})
    fails, begin = check_corruption_case(driver, case, random.Random(5))
    assert begin > 0 and any("intact key 2" in f for f in fails)


def test_three_hundred_corrupted_regions_mount_like_the_twin(driver: DriverFirmware) -> None:
    t0 = time.perf_counter()
    res = sim_corruption_campaign(driver, seed=4343, cases=300)
    print(f"{res.cases} cases {res.by_kind}, {res.intact_checked} intact values checked, longest begin() "
          f"{res.max_begin_cycles} cycles (bound {begin_cycle_bound(driver)}), {time.perf_counter() - t0:.1f} s")
    assert not res.failures, "\n".join(res.failures[:10])
    assert res.cases == 300 and min(res.by_kind.values()) >= 50 and len(res.by_kind) == 4, res.by_kind
    assert res.intact_checked >= 900


@pytest.mark.slow
def test_corruption_campaign_five_thousand_regions(driver: DriverFirmware) -> None:
    res = sim_corruption_campaign(driver, seed=91, cases=5000)
    assert not res.failures, "\n".join(res.failures[:10])


# -- the campaign command ---------------------------------------------------------------------------------------


def test_campaign_command_runs_the_format_2_campaigns_and_reports_figures(capsys: pytest.CaptureFixture[str]
                                                                         ) -> None:
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
