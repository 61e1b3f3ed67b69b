"""`spareflash campaign storage [--cuts N] [--model-cuts N] [--seed S]`: the long storage sweeps.

* power cuts on the simulated chip: the real C++ storage and bootstub (tests/firmware/storage_driver) lose power
  at N points of random workloads (erases, writes, GC copies torn, and between operations); every recovery is
  checked (spareflash.storage.simdriver.sim_power_cut_campaign);
* corrupted regions mounted on the simulated chip and compared with the model (sim_corruption_campaign);
* the Python model's own campaigns (spareflash.storage.campaign): power cuts at every page operation of random
  workloads (a quarter of them in single-write mode) and corruption cases.
`--format 2` runs the same sweeps on storage format 2 (docs/storage-format-v2.md): the assembly engine on the
simulated ATtiny45 (build_driver_v2: the plan's layout, direct SPM, fuses), its power cuts also torn near
completion and every recovery compared with the twin (sim_power_cut_campaign_v2), and the twin's own campaigns
(`fmt=2`, on the page geometries of tests/test_storage_v2_model.py).
Exit status 0 when every check passed, 1 otherwise (the first failures are printed).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ..errors import SpareFlashError

MODEL_CHUNK = 50_000
# format 2's model chunks in turn: (page size, pages, keys, max value, cold keys), the ATtiny45's default first
V2_GEOMETRIES = [(64, 8, 6, 12, 2), (32, 4, 4, 8, 1), (64, 4, 6, 8, 3), (32, 2, 2, 2, 1)]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("campaign", help="long power-cut and corruption sweeps (storage)")
    p.add_argument("topic", choices=("storage",))
    p.add_argument("--cuts", type=int, default=3000, help="power-cut points on the simulated chip (default 3000)")
    p.add_argument("--model-cuts", type=int, default=1_000_000,
                   help="power-cut points on the Python model (default 1,000,000)")
    p.add_argument("--corruption", type=int, default=300, help="corrupted regions mounted on the simulated chip")
    p.add_argument("--model-corruption", type=int, default=50_000, help="corruption cases on the Python model")
    p.add_argument("--seed", type=int, default=1, help="campaign seed (default 1)")
    p.add_argument("--format", type=int, choices=(1, 2), default=1, dest="fmt",
                   help="storage format: 1 (ATmega328P driver, default) or 2 (ATtiny45 driver, format 2's twin)")
    p.add_argument("--jobs", type=int, default=1, help="processes for the model campaigns (default 1)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def _model_cuts(seed: int, chunk: int, index: int, fmt: int = 1) -> tuple[int, int, list[str]]:
    from ..storage.campaign import power_cut_campaign

    if fmt == 2:  # every other chunk aims its tears near completion (a header whole, a copy or record torn)
        page_size, pages, keys, max_value, cold = V2_GEOMETRIES[index % len(V2_GEOMETRIES)]
        res = power_cut_campaign(seed * 100_003 + index, chunk, fmt=2, page_size=page_size, pages=pages, keys=keys,
                                 max_value=max_value, cold=cold, variants=2,
                                 fractions=(0.5, 0.9, 0.99, 0.999) if index % 2 else ())
        return res.cut_points, res.checks, res.failures

    # chunk kinds, in turn: plain, plain, cold keys (written once, so GC must carry them: the workload that found
    # the "stuck full after a torn GC copy" bug), single-write (one record per page: live keys <= pages - 2)
    kind = index % 4
    kw: dict[str, Any] = {}
    if kind == 2:
        kw = {"cold": 3}
    elif kind == 3:
        kw = {"pages": 8, "keys": 4, "single_write": True}
    res = power_cut_campaign(seed * 100_003 + index, chunk, **kw)
    return res.cut_points, res.checks, res.failures


def _model_corruption(seed: int, cases: int, index: int, fmt: int = 1) -> tuple[int, list[str]]:
    from ..storage.campaign import corruption_campaign

    if fmt == 2:
        kw: dict[str, Any] = {"page_size": 32, "pages": 8, "keys": 4} if index % 2 else {}
        res = corruption_campaign(seed * 100_003 + index, cases, fmt=2, **kw)
        return res.checks, res.failures
    kw = {"page_size": 128, "pages": 6} if index % 2 else {}
    res = corruption_campaign(seed * 100_003 + index, cases, **kw)
    return res.checks, res.failures


def _chunks(total: int) -> list[int]:
    return [min(MODEL_CHUNK, total - i) for i in range(0, total, MODEL_CHUNK)]


def run(args: argparse.Namespace) -> int:
    for name in ("cuts", "model_cuts", "corruption", "model_corruption"):
        if getattr(args, name) < 0:
            raise SpareFlashError(f"campaign: --{name.replace('_', '-')} must not be negative")
    if args.jobs < 1:
        raise SpareFlashError("campaign: --jobs must be at least 1")
    def say(line: str) -> None:
        if not args.json:
            print(line, flush=True)
    fmt = args.fmt
    figures: dict[str, Any] = {"seed": args.seed}
    if fmt == 2:
        figures["format"] = 2
    failures: list[str] = []

    if args.cuts or args.corruption:
        from ..storage.simdriver import (
            build_driver,
            build_driver_v2,
            sim_corruption_campaign,
            sim_power_cut_campaign,
            sim_power_cut_campaign_v2,
        )

        if fmt == 2:
            fw = build_driver_v2()
            figures["driver"] = {"mcu": fw.mcu, "pages": fw.storage_pages, "page_size": fw.page_size,
                                 "script_bytes": fw.script_cap}
            say(f"storage driver (format 2, {fw.layout.chip.display}): {fw.elf} ({fw.storage_pages} storage pages of "
                f"{fw.page_size} B, {fw.script_cap}-byte script array)")
        else:
            fw = build_driver()
            say(f"storage driver: {fw.elf} ({fw.storage_pages} storage + {fw.log_pages} log pages of "
                f"{fw.page_size} B)")
        if args.cuts:
            t0 = time.perf_counter()
            step = max(1, args.cuts // 10)

            def progress(n: int) -> None:
                if n % step == 0:
                    say(f"  simulator power cuts: {n}/{args.cuts} ({time.perf_counter() - t0:.0f} s)")

            if fmt == 2:
                res = sim_power_cut_campaign_v2(fw, args.seed, args.cuts, progress=progress)
            else:
                res = sim_power_cut_campaign(fw, args.seed, args.cuts, progress=progress)
            wall = time.perf_counter() - t0
            figures["sim_power_cuts"] = {"cut_points": res.cut_points, "by_kind": res.by_kind,
                                         "workloads": res.workloads, "workload_cycles": res.sim_cycles,
                                         "failures": len(res.failures), "seconds": round(wall, 1)}
            near = ""
            if fmt == 2:
                figures["sim_power_cuts"]["near_complete_tears"] = res.near_complete
                near = f" ({res.near_complete} torn near completion)"
            say(f"simulator power cuts: {res.cut_points} points {res.by_kind}{near}, {res.workloads} workloads, "
                f"{len(res.failures)} failures, {wall:.0f} s")
            failures += res.failures
        if args.corruption:
            t0 = time.perf_counter()
            cres = sim_corruption_campaign(fw, args.seed, args.corruption)
            wall = time.perf_counter() - t0
            figures["sim_corruption"] = {"cases": cres.cases, "by_kind": cres.by_kind,
                                         "intact_values_checked": cres.intact_checked,
                                         "max_begin_cycles": cres.max_begin_cycles,
                                         "failures": len(cres.failures), "seconds": round(wall, 1)}
            say(f"simulator corruption: {cres.cases} cases {cres.by_kind}, longest begin() {cres.max_begin_cycles} "
                f"cycles, {len(cres.failures)} failures, {wall:.0f} s")
            failures += cres.failures

    with ProcessPoolExecutor(args.jobs) if args.jobs > 1 else _Inline() as pool:
        if args.model_cuts:
            t0 = time.perf_counter()
            futs = [pool.submit(_model_cuts, args.seed, n, i, fmt)
                    for i, n in enumerate(_chunks(args.model_cuts))]
            points = checks = 0
            model_fails: list[str] = []
            for f in futs:
                p, c, fl = f.result()
                points, checks = points + p, checks + c
                model_fails += fl
                say(f"  model power cuts: {points}/{args.model_cuts} ({time.perf_counter() - t0:.0f} s)")
            wall = time.perf_counter() - t0
            figures["model_power_cuts"] = {"cut_points": points, "checks": checks, "failures": len(model_fails),
                                           "seconds": round(wall, 1), "jobs": args.jobs}
            say(f"model power cuts: {points} points, {len(model_fails)} failures, {wall:.0f} s")
            failures += model_fails
        if args.model_corruption:
            t0 = time.perf_counter()
            corr_futs = [pool.submit(_model_corruption, args.seed, n, i, fmt)
                         for i, n in enumerate(_chunks(args.model_corruption))]
            cases = 0
            corr_fails: list[str] = []
            for cf in corr_futs:
                c, fl = cf.result()
                cases += c
                corr_fails += fl
            wall = time.perf_counter() - t0
            figures["model_corruption"] = {"cases": cases, "failures": len(corr_fails), "seconds": round(wall, 1)}
            say(f"model corruption: {cases} cases, {len(corr_fails)} failures, {wall:.0f} s")
            failures += corr_fails

    figures["failures"] = failures[:20]
    if args.json:
        print(json.dumps(figures, indent=2))
    elif failures:
        print(f"{len(failures)} failures; the first:")
        for line in failures[:10]:
            print(f"  {line}")
    else:
        say("all checks passed")
    return 1 if failures else 0


class _Inline:
    """A stand-in for a process pool (--jobs 1): each job runs in this process when its result is asked for."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Any, *args: Any) -> _Lazy:
        return _Lazy(fn, args)


class _Lazy:
    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)
