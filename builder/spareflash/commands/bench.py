"""`spareflash bench TOPIC [--json] [--quick]`: run the benchmarks of one topic, or all of them."""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Callable

from rich.console import Console
from rich.table import Table

from ..bench import BenchResult
from ..errors import SpareFlashError

TOPICS = ("storage", "storage2", "overlay", "plugin")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmarks in simulated cycles, bytes and erase counts against baselines")
    p.add_argument("topic", choices=(*TOPICS, "all"))
    p.add_argument("--json", action="store_true", help="print the numeric fields as JSON")
    p.add_argument("--quick", action="store_true", help="smaller workloads (for a smoke test, not for the figures)")
    p.set_defaults(func=run)


def _load(topic: str) -> Callable[..., BenchResult]:
    try:
        mod = importlib.import_module(f"spareflash.bench.{topic}")
    except ModuleNotFoundError as exc:
        if exc.name == f"spareflash.bench.{topic}":
            raise SpareFlashError(f"bench: no benchmark for '{topic}' yet") from None
        raise
    measure: Callable[..., BenchResult] = mod.measure
    return measure


def run(args: argparse.Namespace) -> int:
    topics = TOPICS if args.topic == "all" else (args.topic,)
    results = [_load(t)(quick=args.quick) for t in topics]
    if args.json:
        out = results[0].to_dict() if len(results) == 1 else {r.topic: r.to_dict() for r in results}
        print(json.dumps(out, indent=2))
    else:
        console = Console()
        for r in results:
            table = Table(title=f"SpareFlash benchmark: {r.topic}")
            for col in ("metric", "value", "unit", "target", "baseline (same run)", "ok"):
                table.add_column(col)
            for row in r.rows:
                mark = "-" if row.ok is None else ("[green]yes[/]" if row.ok else "[red]NO[/]")
                table.add_row(row.metric, f"{row.value:,.3f}".rstrip("0").rstrip("."), row.unit, row.target,
                              row.baseline, mark)
            console.print(table)
            for note in r.notes:
                console.print(f"  note: {note}")
    return 0 if all(r.ok for r in results) else 1
