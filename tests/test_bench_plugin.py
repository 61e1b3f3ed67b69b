"""`spareflash bench plugin`: the fields CI compares run to run exist and are sane (the targets are the benchmark's
business, not the tests': wall time does not belong in assertions)."""

from __future__ import annotations

import json
import math

from spareflash.bench.plugin import measure


def test_quick_plugin_benchmark_reports_both_builds_and_verify() -> None:
    r = measure(quick=True)
    fields = r.fields
    for name in ("pio_incremental_s_with", "pio_incremental_s_without", "pio_overhead_fraction", "verify_256k_s",
                 "verify_256k_cli_s"):
        assert name in fields and math.isfinite(fields[name]), name
    assert fields["pio_incremental_s_with"] > 0 and fields["pio_incremental_s_without"] > 0
    ratio = fields["pio_incremental_s_with"] / fields["pio_incremental_s_without"] - 1
    assert abs(fields["pio_overhead_fraction"] - ratio) < 5e-3  # the fraction is derived from the two medians
    assert 0 < fields["verify_256k_s"] < fields["verify_256k_cli_s"]  # the process adds start-up to the same work
    # every incremental run relinked, and the plugin verified only where it was enabled
    assert not [n for n in r.notes if "no relink" in n or "did not verify" in n or "without it" in n], r.notes
    d = r.to_dict()
    assert d["topic"] == "plugin" and json.loads(json.dumps(d))["pio_overhead_fraction"] == fields[
        "pio_overhead_fraction"]
    assert {row["unit"] for row in d["rows"]} >= {"s", "fraction"}  # type: ignore[index, union-attr]
