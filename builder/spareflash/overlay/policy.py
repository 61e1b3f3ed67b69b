"""Replacement-policy model for overlay slots: Belady (offline optimum), LRU, and the firmware's policy.

A trace is a sequence of segment ids, one per call of an overlaid function. Every call of a segment that is not
resident is a *load* (compulsory loads included). `simulate(trace, slots, policy)` counts loads.

The firmware's policy ("stats", implemented identically in library/src/Overlay.cpp) uses the call statistics the
entry stubs keep: an 8-bit call clock that every stub call advances, and per segment the clock value of its last
call (`stamp`). At each load it also records the segment's reuse distance (`gap`: calls between its previous use
and this one). On a miss it predicts, for each resident segment, how many calls remain until its next use:

    age = (clock - stamp) mod 256
    gap known, age <= gap <= 2 * slots:  next = gap - age    (periodic: it comes back at its usual period)
    otherwise:                           next = 256 + age    (LRU order: older = used later)

and evicts the segment predicted to be used last (ties: the lower slot index, as the firmware's `key > best_key`
scan does). On periodic traces this evicts the most recently used segment (Belady's choice for loops), and it falls
back to LRU when a segment stops recurring (phase changes). The 8-bit clock wraps after 256 calls; ages are taken
mod 256, as the firmware does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

UNKNOWN_GAP = 0xFF
# a reuse distance up to this many calls per slot counts as periodic (a loop); longer ones fall back to LRU
PERIODIC_GAP_PER_SLOT = 2


@dataclass
class SimResult:
    loads: int
    calls: int
    loads_per_slot: list[int] = field(default_factory=list)


def belady(trace: Sequence[int], slots: int) -> SimResult:
    """Belady's MIN: on a miss evict the resident segment whose next use is farthest (never used: first)."""
    n = len(trace)
    next_use = [n] * n
    last: dict[int, int] = {}
    for i in range(n - 1, -1, -1):
        next_use[i] = last.get(trace[i], n + 1)
        last[trace[i]] = i
    resident: dict[int, int] = {}  # segment -> next use index
    where: dict[int, int] = {}
    per_slot = [0] * slots
    loads = 0
    for i, s in enumerate(trace):
        if s in resident:
            resident[s] = next_use[i]
            continue
        loads += 1
        if len(resident) < slots:
            slot = len(resident)
        else:
            victim = max(resident, key=lambda r: resident[r])
            slot = where.pop(victim)
            del resident[victim]
        where[s] = slot
        per_slot[slot] += 1
        resident[s] = next_use[i]
    return SimResult(loads, n, per_slot)


class Policy:
    """Online policy interface (what the firmware can do)."""

    name = "policy"

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.seg_in: list[int | None] = [None] * slots

    def on_call(self, seg: int, hit: bool) -> None:  # noqa: B027 - default: no statistics
        pass

    def choose(self, seg: int) -> int:
        raise NotImplementedError


class LRU(Policy):
    name = "lru"

    def __init__(self, slots: int) -> None:
        super().__init__(slots)
        self.t = 0
        self.last: dict[int, int] = {}

    def on_call(self, seg: int, hit: bool) -> None:
        self.t += 1
        self.last[seg] = self.t

    def choose(self, seg: int) -> int:
        for i, s in enumerate(self.seg_in):
            if s is None:
                return i
        return min(range(self.slots), key=lambda i: self.last.get(self.seg_in[i], -1))  # type: ignore[arg-type]


class StatsPolicy(Policy):
    """The firmware's policy, bit for bit (8-bit clock, stamps, gaps); see the module docstring."""

    name = "stats"

    def __init__(self, slots: int, segments: int = 64) -> None:
        super().__init__(slots)
        self.clock = 0
        self.stamp = [0] * segments
        self.gap = [UNKNOWN_GAP] * segments
        self.seen = [False] * segments

    def choose(self, seg: int) -> int:
        # the miss handler runs before the stub's statistics update for this call
        if self.seen[seg]:
            self.gap[seg] = min((self.clock - self.stamp[seg]) & 0xFF, UNKNOWN_GAP - 1)
        for i, s in enumerate(self.seg_in):
            if s is None:
                return i
        best, best_key = 0, -1
        for i, s in enumerate(self.seg_in):
            assert s is not None
            key = self.predicted(s)
            if key > best_key:
                best, best_key = i, key
        return best

    def predicted(self, s: int) -> int:
        """Calls until `s` is used again, as the firmware guesses it (bigger = evict first)."""
        age = (self.clock - self.stamp[s]) & 0xFF
        g = self.gap[s]
        if g != UNKNOWN_GAP and age <= g <= PERIODIC_GAP_PER_SLOT * self.slots:
            return g - age
        return 256 + age

    def on_call(self, seg: int, hit: bool) -> None:
        # the stub: clock += 1; stamp[seg] = clock
        self.clock = (self.clock + 1) & 0xFF
        self.stamp[seg] = self.clock
        self.seen[seg] = True


POLICIES: dict[str, Callable[[int], Policy]] = {"lru": LRU, "stats": StatsPolicy}


def simulate(trace: Sequence[int], slots: int, policy: str | Policy) -> SimResult:
    if policy == "belady":
        return belady(trace, slots)
    pol = POLICIES[policy](slots) if isinstance(policy, str) else policy
    loads = 0
    per_slot = [0] * slots
    for s in trace:
        hit = s in pol.seg_in
        if not hit:
            slot = pol.choose(s)
            pol.seg_in[slot] = s
            loads += 1
            per_slot[slot] += 1
        pol.on_call(s, hit)
    return SimResult(loads, len(trace), per_slot)


# ---- the benchmark traces ---------------------------------------------------------------------------------------
def loop_trace(segments: int = 3, rounds: int = 200, calls_per_visit: int = 1) -> list[int]:
    """A main loop calling each segment in turn: 0 1 2 0 1 2 ..."""
    return [s for _ in range(rounds) for s in range(segments) for _ in range(calls_per_visit)]


def phases_trace(seed: int = 1, phases: int = 12, length: int = 60, segments: int = 6) -> list[int]:
    """Program phases: each phase alternates between two segments (a working set of 2) chosen at random."""
    rng = random.Random(seed)
    out: list[int] = []
    for _ in range(phases):
        a, b = rng.sample(range(segments), 2)
        for _ in range(length):
            out.append(rng.choice((a, a, b)))
    return out


def random_trace(seed: int = 1, n: int = 600, segments: int = 3) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(segments) for _ in range(n)]


TRACES: dict[str, Callable[[], list[int]]] = {"loop": loop_trace, "phases": phases_trace, "random": random_trace}


def compare(slots: int = 2) -> dict[str, dict[str, float]]:
    """loads_over_belady for the firmware policy and for LRU on each benchmark trace."""
    out: dict[str, dict[str, float]] = {}
    for name, make in TRACES.items():
        tr = make()
        opt = belady(tr, slots).loads
        out[name] = {
            "belady_loads": opt,
            "stats_loads": simulate(tr, slots, "stats").loads,
            "lru_loads": simulate(tr, slots, "lru").loads,
            "loads_over_belady": simulate(tr, slots, "stats").loads / opt,
            "lru_loads_over_belady": simulate(tr, slots, "lru").loads / opt,
        }
    return out
