"""Power-cut and corruption campaigns on the Python model (docs/storage-format.md, "Recovery").

Power cuts: a random workload runs on an emulated flash; before every page operation the flash is copied, the
operation is applied torn (a random subset of its 1->0 bits for a program, of its 0->1 bits for an erase, from
nothing to everything), the copy is mounted as after a reboot and checked:
  * every put/remove that returned success reads back with its latest value (the operation in flight may
    read back old or new), no removed key comes back;
  * the store accepts a new write, which reads back, and the other values survive it.
Corruption: random bytes, bit flips and garbage pages hit a valid region; mounting must not fail, must not
write, and every value whose record, page header and the records before it in its page are untouched reads
back; afterwards the store accepts writes.

Both run on either format's twin: `fmt=1` StorageModel (docs/storage-format.md), `fmt=2` StorageModelV2
(docs/storage-format-v2.md); `model` replaces the twin (a deliberately broken one, to prove a campaign can fail).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Protocol

from . import store_v2
from .flash import FlashEmu
from .store import HDR, OK, StorageModel


class Store(Protocol):
    """What the campaigns use of a twin (StorageModel, StorageModelV2)."""

    flash: FlashEmu

    def put(self, key: int, value: bytes) -> int: ...
    def get(self, key: int, size: int | None = None) -> tuple[int, bytes | None]: ...
    def remove(self, key: int) -> int: ...


Factory = Callable[[FlashEmu], Store]


def twin(fmt: int = 1, single_write: bool = False) -> Factory:
    """The factory of format fmt's twin (mounts the flash it is given)."""
    if fmt == 2:
        return store_v2.StorageModelV2
    return lambda flash: StorageModel(flash, single_write=single_write)


class CampaignFailure(AssertionError):
    pass


@dataclass
class CampaignResult:
    cut_points: int = 0
    checks: int = 0
    ops: int = 0
    failures: list[str] = field(default_factory=list)


def _check_recovered(flash: FlashEmu, committed: dict[int, bytes], inflight: tuple[int, bytes | None, bytes | None]
                     | None, make: Factory, probe_key: int, rng: random.Random) -> str | None:
    store = make(flash)
    before = bytes(flash.data)
    seen: dict[int, bytes | None] = {}
    for key in set(committed) | ({inflight[0]} if inflight else set()):
        st, val = store.get(key)
        seen[key] = val if st == OK else None
        if inflight and key == inflight[0]:
            if seen[key] not in (inflight[1], inflight[2]):
                return f"in-flight key {key}: read {seen[key]!r}, want {inflight[1]!r} or {inflight[2]!r}"
        elif seen[key] != committed.get(key):
            return f"key {key}: read {seen[key]!r}, committed {committed.get(key)!r}"
    if bytes(flash.data) != before:
        return "mount or get wrote to flash"
    value = rng.randbytes(rng.randint(1, 8))
    st = store.put(probe_key, value)
    if st != OK:
        return f"store refused a new write after recovery: status 0x{st:02X}"
    st, val = store.get(probe_key)
    if val != value:
        return f"probe key {probe_key}: wrote {value!r}, read {val!r}"
    for key, want in seen.items():
        if key != probe_key and store.get(key)[1] != want:
            return f"key {key} changed after the probe write"
    again = make(flash)
    if again.get(probe_key)[1] != value:
        return "probe write lost after a second reboot"
    return None


def power_cut_campaign(seed: int, cut_points: int, *, page_size: int = 64, pages: int = 6, keys: int = 6,
                       max_value: int = 8, single_write: bool = False, variants: int = 1, cold: int = 0,
                       fmt: int = 1, model: Factory | None = None, fractions: tuple[float, ...] = ()
                       ) -> CampaignResult:
    """Run random workloads until `cut_points` page operations have each been cut (with `variants` tears each).
    The last `cold` keys are written once at the start of each workload and never again, so garbage collection
    has to copy them on every trip round the ring (as in the simulator's workload). `fractions`: the share of a
    torn operation's bit changes that happen, one draw from these per tear (default: uniform in 0..1); values
    near 1 aim at tears that complete one unit of a write (a header) and leave another (a copy) torn."""
    make = model or twin(fmt, single_write)
    rng = random.Random(seed)
    res = CampaignResult()
    probe_key = keys  # never used by the workload
    while res.cut_points < cut_points:
        flash = FlashEmu(page_size, pages)
        store = make(flash)
        committed: dict[int, bytes] = {}
        state: dict[str, tuple[int, bytes | None, bytes | None] | None] = {"inflight": None}

        def hook(fl: FlashEmu, kind: str, page: int, off: int, data: bytes, committed: dict[int, bytes] = committed,
                 state: dict[str, tuple[int, bytes | None, bytes | None] | None] = state) -> None:
            if res.cut_points >= cut_points:
                return
            res.cut_points += 1
            for _ in range(variants):
                torn = fl.copy()
                torn.hook = None
                frac = rng.choice(fractions) if fractions else None
                if kind == "erase":
                    torn.torn_erase(page, rng, frac)
                else:
                    torn.torn_program(page * fl.page_size + off, data, rng, frac)
                res.checks += 1
                err = _check_recovered(torn, committed, state["inflight"], make, probe_key, rng)
                if err:
                    res.failures.append(f"seed {seed} cut {res.cut_points} ({kind} page {page}): {err}")
                    if len(res.failures) >= 5:
                        raise CampaignFailure("; ".join(res.failures))

        flash.hook = hook
        hot = keys - cold
        for key in range(hot, keys):
            value = rng.randbytes(max_value)
            state["inflight"] = (key, None, value)
            if store.put(key, value) == OK:
                committed[key] = value
            state["inflight"] = None
        for _ in range(rng.randint(20, 200)):
            if res.cut_points >= cut_points:
                break
            key = rng.randrange(hot)
            r = rng.random()
            res.ops += 1
            if r < 0.8:
                value = rng.randbytes(rng.randint(1, max_value))
                state["inflight"] = (key, committed.get(key), value)
                if store.put(key, value) == OK:
                    committed[key] = value
            elif r < 0.95:
                state["inflight"] = (key, committed.get(key), None)
                if store.remove(key) == OK:
                    committed.pop(key, None)
            else:
                state["inflight"] = None
                store = make(flash)  # a clean reboot
            state["inflight"] = None
    return res


def value_dependencies(store: StorageModel, key: int) -> set[int]:
    """Region offsets the current value of `key` depends on: its page header and the page's first record (should
    the newer pages be lost, a page becomes the head only if its first record is intact: store.first_ok), the
    key/len bytes walked to reach its record, and the record itself. A corruption that touches none of them must
    leave the value readable."""
    loc = store.latest(key)
    if loc is None:
        raise ValueError(f"key {key} has no record")
    p, o = loc
    base = p * store.P
    deps = set(range(base, base + HDR + store.rec_size(p, HDR)))
    w = HDR
    while w < o:
        deps.update((base + w, base + w + 1))
        w += store.rec_size(p, w)
    deps.update(range(base + o, base + o + store.rec_size(p, o)))
    return deps


def value_dependencies_v2(store: store_v2.StorageModelV2, key: int) -> set[int]:
    """Format 2: the headers of the chain pages from the head back to the value's page (a lost head header makes
    an older page the head; a changed seq byte drops a page from the chain), the key/len bytes walked to reach
    its record, and the record itself."""
    loc = store.latest(key)
    if loc is None:
        raise ValueError(f"key {key} has no record")
    p, o = loc
    P, deps = store.P, set[int]()
    q = store.head
    while True:
        deps.update(range(q * P, q * P + store_v2.HDR))
        if q == p:
            break
        q = q - 1 if q else store.n - 1
    w = store_v2.HDR
    while w < o:
        deps.update((p * P + w, p * P + w + 1))
        w += store.rec_size(p, w)
    deps.update(range(p * P + o, p * P + o + store.rec_size(p, o)))
    return deps


def random_fill(store: Store, rng: random.Random, nops: int, keys: int, max_len: int) -> dict[int, bytes]:
    """nops random puts (85%, 1..max_len bytes) and removes on keys 0..keys-1; returns the values then stored."""
    for _ in range(nops):
        k = rng.randrange(keys)
        if rng.random() < 0.85:
            store.put(k, rng.randbytes(rng.randint(1, max_len)))
        else:
            store.remove(k)
    return {k: v for k in range(keys) if (v := store.get(k)[1]) is not None}


CORRUPTION_KINDS = ("bytes", "bits", "page", "page-header-kept")


def corrupt(data: bytearray, rng: random.Random, page_size: int, max_hits: int, header: int = HDR
            ) -> tuple[str, set[int]]:
    """Hit a region with one kind of damage: 1..max_hits random bytes, 1..max_hits bit flips, or a page of random
    bytes (with or without its header). Returns the kind and the offsets touched."""
    touched: set[int] = set()
    kind = rng.choice(CORRUPTION_KINDS)
    if kind in ("bytes", "bits"):
        for _ in range(rng.randint(1, max_hits)):
            a = rng.randrange(len(data))
            data[a] = rng.randrange(256) if kind == "bytes" else data[a] ^ (1 << rng.randrange(8))
            touched.add(a)
    else:
        p = rng.randrange(len(data) // page_size)
        for i in range(header if kind == "page-header-kept" else 0, page_size):
            data[p * page_size + i] = rng.randrange(256)
            touched.add(p * page_size + i)
    return kind, touched


def corruption_campaign(seed: int, cases: int, *, page_size: int = 64, pages: int = 8, keys: int = 8, fmt: int = 1
                        ) -> CampaignResult:
    rng = random.Random(seed)
    res = CampaignResult()
    make = twin(fmt)
    for case in range(cases):
        flash = FlashEmu(page_size, pages)
        store = make(flash)
        values = random_fill(store, rng, rng.randint(1, 120), keys, max_len=8)
        if isinstance(store, store_v2.StorageModelV2):
            deps = {key: value_dependencies_v2(store, key) for key in values}
        else:
            assert isinstance(store, StorageModel)
            deps = {key: value_dependencies(store, key) for key in values}
        kind, touched = corrupt(flash.data, rng, page_size, max_hits=8, header=store_v2.HDR if fmt == 2 else HDR)
        res.checks += 1
        before = bytes(flash.data)
        try:
            again = make(flash)
            got = {k: again.get(k)[1] for k in values}
        except Exception as exc:  # a crash of the model is the failure being looked for
            res.failures.append(f"seed {seed} case {case} ({kind}): mount/get raised {exc!r}")
            continue
        if bytes(flash.data) != before:
            res.failures.append(f"seed {seed} case {case} ({kind}): mount/get wrote to flash")
        for key, want in values.items():
            if not (deps[key] & touched) and got[key] != want:
                res.failures.append(f"seed {seed} case {case} ({kind}): intact key {key} read {got[key]!r}")
        try:
            st = again.put(keys, b"\x5a\xa5")
            ok = st == OK and again.get(keys)[1] == b"\x5a\xa5"
        except ValueError as exc:  # FlashEmu refuses an access outside the region
            res.failures.append(f"seed {seed} case {case} ({kind}): write outside the region: {exc}")
            continue
        if not ok:
            res.failures.append(f"seed {seed} case {case} ({kind}): store refused a write after corruption ({st})")
    return res
