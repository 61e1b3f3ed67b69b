"""Differential in the simulator: the real C++ FlashStorage / FlashLog / FlashEEPROM, built with the real toolchain
and running with the real bootstub backend on the simulated ATmega328P (tests/firmware/storage_driver), and the
Python model run the same random operation sequences; every result and the storage + log regions must be
byte-identical. The firmware is built once; each sequence is patched into its flash (simdriver.py)."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("yasimavr")

from spareflash.storage.simdriver import (  # noqa: E402
    DriverError,
    DriverFirmware,
    blank,
    build_driver,
    classify_ops,
    eeprom_workload,
    first_difference,
    log_workload,
    run_model,
    run_script,
    storage_workload,
)

NOT_FOUND, ERR_ARG = 0x21, 0x08  # spareflash_status.h


@pytest.fixture(scope="module")
def driver() -> DriverFirmware:
    return build_driver()


@pytest.fixture(scope="module")
def driver_single() -> DriverFirmware:
    return build_driver(single_write=True)


def test_the_driver_runs_the_real_library_on_the_planned_layout(driver: DriverFirmware) -> None:
    """A 1 KB (8-page) storage region and a 512-byte log right after it, below the bootstub; results as the host
    driver prints them."""
    assert (driver.page_size, driver.storage_pages, driver.log_pages) == (128, 8, 4)
    assert driver.layout.backend == "bootstub"
    lines = ["B", "P 7 0102030405", "G 7 5", "G 7 4", "G 9 2", "Z 7", "C 7", "R 7", "C 7", "LB 0",
             "LA aabb", "LL", "EW 300 55", "ER 44 1", "P 3", "D"]
    run = run_script(driver, lines, regions=blank(driver))
    assert run.results[:14] == ["0", "0", "0 0102030405", f"{ERR_ARG} ", f"{NOT_FOUND} ", "5", "1", "0", "0",
                                "0", "0", "1 aabb", "0", "55"]  # EEPROM addresses wrap modulo its 256 bytes
    assert run.results[14] != "0"  # a value of 0 bytes is refused
    assert run.results == run_model(driver, lines)[0]
    region = bytes.fromhex(run.results[-1])
    assert region == run.flash[driver.region_start:driver.region_end] and len(region) == 1536
    assert all(driver.region_start <= op.page < driver.region_end for op in run.page_ops)


def test_a_bad_script_is_refused_with_one_line(driver: DriverFirmware) -> None:
    with pytest.raises(DriverError, match="no command"):
        run_script(driver, ["B", "Q 1"])
    with pytest.raises(DriverError, match="only supported at the start"):
        run_script(driver, ["B", "D", "B"])


def test_two_hundred_random_sequences_leave_byte_identical_regions(driver: DriverFirmware,
                                                                   driver_single: DriverFirmware) -> None:
    """110 FlashStorage sequences (30 also appending to the log), 40 FlashLog, 40 FlashEEPROM and 10 on the
    single-write build; small region, so the ring wraps and garbage collection copies records."""
    wrapped: dict[str, int] = {}
    gc_copies = ops = 0
    kinds = ["storage"] * 80 + ["storage+log"] * 30 + ["log"] * 40 + ["eeprom"] * 40 + ["single"] * 10
    for seed, kind in enumerate(kinds):
        rng = random.Random(3000 + seed)
        fw = driver_single if kind == "single" else driver
        if kind in ("storage", "storage+log"):
            lines = storage_workload(rng, 150, with_log=kind == "storage+log")
        elif kind == "single":
            lines = storage_workload(rng, 40, keys=4, cold=1)  # single-write: live keys <= pages - 2
        elif kind == "log":
            lines = log_workload(rng, 60)
        else:
            lines = eeprom_workload(rng, 80)
        lines.append("D")
        run = run_script(fw, lines, regions=blank(fw))
        expected, _ = run_model(fw, lines)
        assert run.results == expected, f"seed {seed} ({kind}): " + first_difference(lines, expected, run.results)
        ops += len(run.page_ops)
        region = fw.layout.log if kind == "log" else fw.layout.storage
        erases = [op for op in run.page_ops if op.kind == "erase" and region.start <= op.page < region.end]
        wrapped[kind] = wrapped.get(kind, 0) + bool(erases)
        gc_copies += classify_ops(run).count("gc")
    # the workloads are heavy enough to reuse pages (an erase only happens to a used page) and to copy records
    print(f"sequences whose ring wrapped: {wrapped}, GC copies {gc_copies}, page operations {ops}")
    assert wrapped["storage"] >= 70 and wrapped["storage+log"] >= 25 and wrapped["eeprom"] >= 30, wrapped
    assert wrapped["log"] >= 15, wrapped
    assert gc_copies >= 100, gc_copies
    assert ops >= 10_000, ops
