"""Slot replacement: Belady (offline optimum) as the yardstick, LRU, and the firmware's call-statistics policy."""

from __future__ import annotations

from spareflash.overlay.policy import belady, compare, loop_trace, phases_trace, simulate


def test_belady_is_optimal_on_a_small_hand_checked_trace() -> None:
    # 2 slots, trace A B C A B C: MIN loads A, B, C(evict B), B(evict C... ) -> 4 loads; LRU misses all 6
    tr = [0, 1, 2, 0, 1, 2]
    assert belady(tr, 2).loads == 4
    assert simulate(tr, 2, "lru").loads == 6


def test_no_policy_beats_belady_and_one_slot_loads_on_every_change() -> None:
    for tr in (loop_trace(), phases_trace(), phases_trace(seed=5)):
        opt = belady(tr, 2).loads
        assert simulate(tr, 2, "stats").loads >= opt and simulate(tr, 2, "lru").loads >= opt
        changes = 1 + sum(1 for a, b in zip(tr, tr[1:]) if a != b)
        assert belady(tr, 1).loads == simulate(tr, 1, "stats").loads == changes


def test_stats_policy_is_near_belady_on_loops_where_lru_thrashes() -> None:
    tr = loop_trace(3)
    assert simulate(tr, 2, "stats").loads <= 1.05 * belady(tr, 2).loads
    assert simulate(tr, 2, "lru").loads == len(tr)  # LRU evicts exactly the segment needed next


def test_benchmark_figures_are_reported() -> None:
    figs = compare(2)
    assert set(figs) == {"loop", "phases", "random"}
    assert figs["loop"]["loads_over_belady"] <= 1.2
    assert figs["phases"]["loads_over_belady"] <= 1.2
    for f in figs.values():
        assert f["loads_over_belady"] >= 1.0 and f["lru_loads_over_belady"] >= 1.0
