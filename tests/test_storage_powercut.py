"""Power cuts and corruption on the storage model: recovery rules of docs/storage-format.md.

Default runs are small; `./dev campaign` runs the 1,000,000-cut-point and 10,000-case sweeps (slow marker)."""

from __future__ import annotations

import pytest

from spareflash.storage.campaign import corruption_campaign, power_cut_campaign


@pytest.mark.parametrize("single_write", [False, True])
def test_every_acknowledged_write_survives_a_power_cut_at_any_page_operation(single_write: bool) -> None:
    # single-write mode holds one record per page: it needs live keys <= pages - 2 (docs: "Single-write mode")
    kw = {"pages": 8, "keys": 4} if single_write else {}
    res = power_cut_campaign(11, 3000, single_write=single_write, **kw)
    assert res.cut_points == 3000
    assert res.failures == []


def test_power_cuts_with_larger_pages_and_values() -> None:
    res = power_cut_campaign(12, 1000, page_size=128, pages=8, keys=5, max_value=32)
    assert res.failures == []


def test_corrupted_regions_mount_keep_intact_records_and_accept_writes() -> None:
    res = corruption_campaign(21, 10_000)
    assert res.checks == 10_000
    assert res.failures == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_power_cut_campaign_million_cut_points(seed: int) -> None:
    kw = {"pages": 8, "keys": 4} if seed == 3 else {}
    res = power_cut_campaign(1000 + seed, 250_000, single_write=(seed == 3), **kw)
    assert res.cut_points == 250_000
    assert res.failures == []


@pytest.mark.slow
def test_corruption_campaign_large() -> None:
    res = corruption_campaign(2000, 50_000, page_size=128, pages=6)
    assert res.failures == []
