"""`spareflash bench storage2`: the format-2 benchmark on the ATtiny45/25. The quick run goes end to end (builds,
the twin, the simulated chip, the EEPROM baseline firmware) and reports every field with sane units and its
baseline from the same run. The figures themselves are the benchmark's business (`./dev bench`), not these tests'.
"""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("yasimavr")

from spareflash.bench.storage2 import (  # noqa: E402
    BARE_SKETCH,
    CONSOLE_SKETCH,
    PARTS,
    SIZES,
    accepts,
    capacity_bound,
    eeprom_most_writes,
    measure,
    naive_most_erases,
)
from spareflash.build import build_sketch  # noqa: E402
from spareflash.chips import get_chip  # noqa: E402
from spareflash.commands.bench import TOPICS  # noqa: E402
from spareflash.sim import Simulator  # noqa: E402

FIELDS = ("code_bytes", "console_bytes", "app_region_bytes", "console_spare_bytes", "static_ram_bytes",
          "format1_console_bytes", "format1_code_bytes", "format1_over_bytes", "engine_core_bytes",
          "engine_format_bytes", "engine_stats_bytes", "engine_ram_bytes", "keys", "put_mean_page_ops",
          "put_worst_page_ops", "begin_cycles", "get_worst_cycles", "get_present_worst_cycles", "get_absent_cycles",
          "put_mean_cycles", "put_worst_cycles", "put_append_cycles", "eeprom_put_mean_cycles",
          "eeprom_put_4changed_cycles", "eeprom_get_cycles", "put_speedup_vs_eeprom",
          "put_speedup_vs_eeprom_4changed", "endurance_updates", "naive_endurance_updates",
          "eeprom_endurance_updates", "endurance_vs_naive", "endurance_vs_eeprom",
          *(f"capacity_keys_{s}b" for s in SIZES), *(f"eeprom_keys_{s}b" for s in SIZES))
UNITS = {"B", "keys", "ops", "cycles", "x", "puts", "updates"}
F_CPU = 8_000_000  # the bare tiny boards' clock


@pytest.fixture(scope="module")
def quick() -> dict[str, object]:
    return measure(quick=True).to_dict()


def nums(d: dict[str, object]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def test_storage2_is_a_topic_of_bench_and_of_all() -> None:
    assert "storage2" in TOPICS  # `all` runs TOPICS


def test_quick_run_reports_every_field_of_both_parts_as_json(quick: dict[str, object]) -> None:
    back = json.loads(json.dumps(quick))
    assert back["topic"] == "storage2" and back["ok"] is True
    for mcu in PARTS:
        for name in FIELDS:
            v = back[f"{mcu}_{name}"]
            assert isinstance(v, (int, float)) and math.isfinite(v) and v > 0, f"{mcu}_{name}"
    rows = back["rows"]
    assert {tuple(sorted(r)) for r in rows} == {("baseline", "metric", "ok", "target", "unit", "value")}
    for r in rows:
        assert r["unit"] in UNITS and r["baseline"], r  # every figure names what it was compared with
    for mcu in PARTS:  # every part has each kind of figure
        name = get_chip(mcu).display
        mine = " ".join(r["metric"] for r in rows if r["metric"].startswith(name + ":"))
        for what in ("code size", "format 1", "static RAM", "engine", "capacity, 1-byte", "capacity, 16-byte",
                     "page operations, mean", "begin()", "get() worst", "put() mean", "EEPROM.put", "endurance"):
            assert what in mine, (mcu, what)


@pytest.mark.parametrize("mcu", PARTS)
def test_quick_figures_are_physically_sane(quick: dict[str, object], mcu: str) -> None:
    q = {k[len(mcu) + 1:]: v for k, v in nums(quick).items() if k.startswith(mcu + "_")}
    chip = get_chip(mcu)
    page_op = chip.page_write_ms * F_CPU / 1000
    # code: format 2 fits its application region, format 1 (several times bigger) does not
    assert q["code_bytes"] < q["console_bytes"] <= q["app_region_bytes"]
    assert q["console_spare_bytes"] == q["app_region_bytes"] - q["console_bytes"]
    assert q["format1_code_bytes"] > 3 * q["code_bytes"]
    assert q["format1_over_bytes"] == q["format1_console_bytes"] - q["app_region_bytes"] > 0
    assert q["engine_core_bytes"] < q["code_bytes"] and q["engine_ram_bytes"] <= q["static_ram_bytes"]
    # capacity: fewer keys of bigger values, never more than the chain can hold, EEPROM = its size / value size
    caps = [q[f"capacity_keys_{s}b"] for s in SIZES]
    assert caps == sorted(caps, reverse=True)
    pages = 8  # the plan's default region: 1/8 of flash
    for s in SIZES:
        assert q[f"capacity_keys_{s}b"] <= capacity_bound(chip.page_size, pages, s)
        assert q[f"eeprom_keys_{s}b"] == chip.eeprom_size // s
    # a put is at least one page operation; the fastest is one append, the mean lies between it and the worst
    assert 1 <= q["put_mean_page_ops"] <= q["put_worst_page_ops"]
    assert page_op < q["put_append_cycles"] <= q["put_mean_cycles"] <= q["put_worst_cycles"]
    # EEPROM.put waits for 3.4 ms per changed byte: 4 changed bytes are at least 4 writes
    assert q["eeprom_put_4changed_cycles"] >= 4 * chip.eeprom_write_ms * F_CPU / 1000
    assert chip.eeprom_write_ms * F_CPU / 1000 <= q["eeprom_put_mean_cycles"] < q["eeprom_put_4changed_cycles"]
    assert q["put_speedup_vs_eeprom"] == pytest.approx(q["eeprom_put_mean_cycles"] / q["put_mean_cycles"], 1e-2)
    # reads cost no page operation
    assert q["get_worst_cycles"] < page_op and q["begin_cycles"] < page_op and q["eeprom_get_cycles"] < 1000
    # wear levelling beats the naive store; the naive one is 10,000 exactly when the 16 values fit one page
    assert q["endurance_updates"] > q["naive_endurance_updates"]
    if chip.page_size >= 16 * 4:
        assert q["naive_endurance_updates"] == chip.flash_endurance


def test_the_chip_and_the_twin_agree_on_the_measured_puts(quick: dict[str, object]) -> None:
    rows = [r for r in quick["rows"] if "= twin's" in r["metric"]]  # type: ignore[union-attr, index]
    assert len(rows) == len(PARTS)
    assert all(r["ok"] is True and "byte-identical" in r["baseline"] for r in rows), rows


def test_the_bare_sketch_prints_what_storage_console_prints_on_a_first_boot() -> None:
    # the code-size difference is the library only if both sketches do the same printing
    outs = []
    for sketch in (CONSOLE_SKETCH, BARE_SKETCH):
        r = build_sketch(sketch, "attiny45")
        sim = Simulator(str(r.elf), "attiny45", freq=F_CPU)
        res = sim.run(max_cycles=20_000_000)
        assert res.reason == "sleep", res.message
        outs.append(bytes(sim.debug).decode())
        sim.close()
    assert outs[0] == outs[1] and outs[0].startswith("begin: 0\nboots: 1 put: 0\n")


def test_baselines_and_capacity_definitions() -> None:
    # the naive store erases the key's page on every update: one page holds 16 values of 4 B on 64-byte pages
    assert naive_most_erases(64, 16, 500) == (1, 500)
    pages, most = naive_most_erases(32, 16, 500)
    assert pages == 2 and 250 <= most < 500
    # EEPROM.put writes only changed bytes: the low byte of the put index changes on every put of a key
    assert 500 // 16 <= eeprom_most_writes(16, 500) <= 500
    # no store takes more keys than the chain's N - 1 pages hold; a handful of keys is easy
    bound = capacity_bound(64, 8, 4)
    assert bound == 7 * 58 // 8
    assert not accepts(64, 8, bound + 1, 4, 100, seed=1)
    assert accepts(64, 8, 4, 4, 300, seed=1)
