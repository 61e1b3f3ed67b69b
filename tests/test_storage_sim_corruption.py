"""Corruption in the simulator: storage regions written by the Python model, then hit by random bytes, bit flips
and garbage pages, are mounted by the real C++ on the simulated ATmega328P (docs/storage-format.md,
"Corruption"). For each of 100 cases:
  * begin() returns within a bound derived from the region's size (simdriver.begin_cycle_bound), never crashes;
  * the chip reads exactly what the model reads from the same corrupted region (sizes, values, stats), and
    every value whose page header, walked key/len bytes and record are untouched reads back as stored;
  * mount and reads write nothing, later writes stay inside the storage region (page operations and a byte
    compare of all other flash), and three new values are accepted and read back."""

from __future__ import annotations

import random
import time

import pytest

pytest.importorskip("yasimavr")

from spareflash.storage.simdriver import (  # noqa: E402
    CorruptionCase,
    DriverFirmware,
    begin_cycle_bound,
    build_driver,
    check_corruption_case,
    run_script,
    sim_corruption_campaign,
)


@pytest.fixture(scope="module")
def driver() -> DriverFirmware:
    return build_driver()


def test_begin_bound_follows_from_the_region_size(driver: DriverFirmware) -> None:
    """The bound: a header CRC per page and two walks of the head page at 40 cycles a byte, plus 8,000 cycles;
    a blank region and a full head page both mount well inside it."""
    bound = begin_cycle_bound(driver)
    assert bound == 8_000 + 40 * (8 * 8 + 2 * 128)
    blank = run_script(driver, ["B"], regions=b"\xff" * 1024)
    full = run_script(driver, ["B", *(f"P {i % 3} 01" for i in range(200)), "B"], regions=b"\xff" * 1024)
    print(f"begin(): blank region {blank.command_cycles(0)} cycles, full head page "
          f"{full.command_cycles(len(full.fw_lines) - 1)} cycles, bound {bound}")
    assert blank.command_cycles(0) < bound and full.command_cycles(len(full.fw_lines) - 1) < bound


def test_the_corruption_check_is_not_vacuous(driver: DriverFirmware) -> None:
    """A key claimed intact whose record is in fact gone fails the check."""
    rng = random.Random(5)
    region = bytearray(b"\xff" * 1024)
    case = CorruptionCase("bytes", bytes(region), {2: b"\x01\x02"}, {2})
    fails, begin = check_corruption_case(driver, case, rng)
    assert begin > 0 and any("intact key 2" in f for f in fails)


def test_one_hundred_corrupted_regions_mount_like_the_model(driver: DriverFirmware) -> None:
    t0 = time.perf_counter()
    res = sim_corruption_campaign(driver, seed=4242, cases=100)
    wall = time.perf_counter() - t0
    print(f"{res.cases} cases {res.by_kind}, {res.intact_checked} intact values checked, longest begin() "
          f"{res.max_begin_cycles} cycles (bound {begin_cycle_bound(driver)}), {wall:.1f} s")
    assert not res.failures, "\n".join(res.failures[:10])
    assert res.cases == 100 and min(res.by_kind.values()) >= 15 and len(res.by_kind) == 4, res.by_kind
    assert res.intact_checked >= 300
