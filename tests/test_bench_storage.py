"""`spareflash bench storage`: the quick benchmark runs end to end in the simulator and reports every field CI
compares, with sane values. The targets are the benchmark's business (`./dev bench`), not these tests'."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("yasimavr")

from spareflash.bench.storage import (  # noqa: E402
    SIZES_KB,
    eeprom_endurance,
    measure,
    naive_endurance,
    xorshift16_keys,
)

FIELDS = ("put_mean_over_page_write", "put_worst_page_ops", "endurance_updates", "endurance_fraction_of_limit",
          "naive_endurance_updates", "eeprom_endurance_updates", "struct16_speedup_vs_eeprom", "begin_ms_4k",
          "get_worst_ms_4k", "code_bytes", "static_ram_bytes", "bootstub_bytes",
          *(f"begin_ms_{kb}k" for kb in SIZES_KB), *(f"get_worst_ms_{kb}k" for kb in SIZES_KB))


@pytest.fixture(scope="module")
def quick() -> dict[str, object]:
    return measure(quick=True).to_dict()


def test_quick_storage_benchmark_reports_every_field(quick: dict[str, object]) -> None:
    for name in FIELDS:
        v = quick[name]
        assert isinstance(v, (int, float)) and math.isfinite(v) and v > 0, name
    assert json.loads(json.dumps(quick))["topic"] == "storage"


def test_quick_figures_are_physically_sane(quick: dict[str, object]) -> None:
    q: dict[str, float] = {k: v for k, v in quick.items() if isinstance(v, (int, float))}
    # a put is at least one page write and at most the 3 page operations the format allows (plus software)
    assert 1.0 <= q["put_mean_over_page_write"] < 3.5
    assert 1 <= q["put_worst_page_ops"] <= 3
    # wear levelling beats rewriting one page per put; the fraction is derived from the updates
    assert q["endurance_updates"] > 10 * q["naive_endurance_updates"]
    assert abs(q["endurance_fraction_of_limit"] - q["endurance_updates"] / (4096 * 10_000 / 4)) < 1e-3
    # EEPROM.put of 16 bytes pays ~3.3 ms a byte: a flash put of the same struct must be faster
    assert q["struct16_speedup_vs_eeprom"] > 1
    # a bigger full region costs more to mount and to search for an absent key
    begins = [q[f"begin_ms_{kb}k"] for kb in SIZES_KB]
    gets = [q[f"get_worst_ms_{kb}k"] for kb in SIZES_KB]
    assert begins == sorted(begins) and gets == sorted(gets)
    assert 0 < q["static_ram_bytes"] < 200 and 0 < q["bootstub_bytes"] <= 128
    assert any("byte-identical" in n for n in quick["notes"]), quick["notes"]  # type: ignore[union-attr]


def test_baselines_follow_the_shared_workload() -> None:
    keys = xorshift16_keys(1000)
    assert set(keys) == set(range(16)) and keys[:3] == xorshift16_keys(3)
    # the naive store erases its page on every put: exactly the endurance of one page
    assert naive_endurance(128, 500, 10_000).updates == 10_000
    # EEPROM.put writes only changed bytes; byte 0 of a key changes on (nearly) every put of that key
    ee = eeprom_endurance(1000, 100_000)
    assert ee.max_erases <= max(keys.count(k) for k in range(16)) and ee.updates >= 100_000
