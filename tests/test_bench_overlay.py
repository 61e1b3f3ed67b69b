"""`spareflash bench overlay`: the benchmark runs the real firmware in the simulator and reports every field the
issue names with values that make sense (the targets themselves are the benchmark's business, not this test's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spareflash.bench.overlay import CHIPS, floor_cycles, measure, zipf_trace


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return measure(quick=True)


def test_the_floor_is_pages_times_erase_plus_write_plus_one_spi_read() -> None:
    mega, tiny = CHIPS
    # 328P @ 16 MHz: 4.5 ms = 72,000 cycles per operation; 100 code bytes + 16-byte header = 1 page; SPI F_CPU/2
    assert floor_cycles(mega, 100) == (1, 2 * 72_000 + 100 * 16)
    assert floor_cycles(mega, 113) == (2, 4 * 72_000 + 113 * 16)
    # ATtiny85 @ 8 MHz: 36,000 cycles per operation, 64-byte pages
    assert floor_cycles(tiny, 48) == (1, 2 * 36_000 + 48 * 16)


def test_every_field_is_reported_with_sane_values(result) -> None:  # type: ignore[no-untyped-def]
    f = result.fields
    for mcu in ("atmega328p", "attiny85"):
        # a load can never beat the floor; a loader several times slower than it would be broken
        assert 1.0 < f[f"load_over_floor_{mcu}"] < 2.0
        assert f[f"load_ms_per_kb_{mcu}"] > f[f"floor_ms_per_kb_{mcu}"] > 0
        assert 0 < f[f"resident_call_extra_cycles_{mcu}"] < 40
        assert 0 < f[f"identical_reload_cycles_{mcu}"] < f[f"load_cycles_{mcu}"]
    assert f["load_over_floor"] == max(f["load_over_floor_atmega328p"], f["load_over_floor_attiny85"])
    assert f["identical_reload_erases"] == 0
    assert f["resident_call_extra_cycles"] >= 15  # the documented stub: 15-17 cycles + the jump-table rjmp
    for trace in ("loop", "phases", "random", "zipf"):
        assert f[f"loads_over_belady_{trace}"] >= 1.0 and f[f"lru_loads_over_belady_{trace}"] >= 1.0
    assert f["loads_over_belady"] == max(f[f"loads_over_belady_{t}"] for t in ("loop", "phases", "random"))
    assert f["lru_loads_over_belady"] >= f["loads_over_belady_loop"]
    assert any("uniform random" in n for n in result.notes)


def test_the_zipf_trace_is_skewed() -> None:
    tr = zipf_trace()
    counts = [tr.count(s) for s in range(6)]
    assert counts[0] > 2 * counts[5] and sum(counts) == len(tr)


def test_the_cli_prints_the_json_fields() -> None:
    cli = "import sys; from spareflash.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", cli, "bench", "overlay", "--json", "--quick"],
                          capture_output=True, text=True)
    out = json.loads(proc.stdout)
    # exit 1 means a target was missed (the random trace cannot meet 1.2x, docs/overlay-format.md 7), never a crash
    assert proc.returncode == (0 if out["ok"] else 1), proc.stderr
    for key in ("load_over_floor", "identical_reload_erases", "resident_call_extra_cycles", "loads_over_belady",
                "lru_loads_over_belady"):
        assert key in out
