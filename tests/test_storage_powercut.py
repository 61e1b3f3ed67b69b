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


def test_a_torn_gc_copy_never_leaves_a_store_that_refuses_every_write() -> None:
    """Cold keys (written once) make garbage collection copy them on every trip round the ring, so it is often
    still draining the oldest page when the head needs the last free page. A cut while that page is being
    written must still leave a page to free after the reboot: the new page takes the oldest page's remaining
    live records (header written last) and its header skips that page (docs/storage-format.md 5.3). Before
    that rule, a torn copy closed the head with all N pages in use and every put returned SF_ERR_FULL (found
    by the simulator campaign, seed 77). Cutting inside the new page's copies with the header complete (the
    first version of the fix) loses the copied values: also covered here."""
    res = power_cut_campaign(14, 3000, variants=3, page_size=64, pages=8, keys=8, cold=3)
    assert res.cut_points == 3000 and res.checks == 9000
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
@pytest.mark.parametrize("page_size,pages,keys,cold", [(64, 8, 8, 3), (128, 8, 14, 6), (64, 4, 4, 1)])
def test_power_cut_campaign_with_cold_keys(page_size: int, pages: int, keys: int, cold: int) -> None:
    res = power_cut_campaign(3000 + pages + keys, 100_000, page_size=page_size, pages=pages, keys=keys, cold=cold)
    assert res.failures == []


@pytest.mark.slow
def test_corruption_campaign_large() -> None:
    res = corruption_campaign(2000, 50_000, page_size=128, pages=6)
    assert res.failures == []
