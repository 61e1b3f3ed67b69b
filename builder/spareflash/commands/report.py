"""`spareflash report IMAGE`: the memory report (flash regions with bars, RAM, EEPROM, fuses, largest symbols)."""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from .verify import add_fuse_arguments, add_plan_arguments, fuses_from_args, layout_from_args


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="memory report of an ELF/HEX: flash regions, RAM, EEPROM, fuses, symbols")
    p.add_argument("image", help="firmware .elf or .hex")
    add_plan_arguments(p)
    add_fuse_arguments(p)
    p.add_argument("--compact", action="store_true", help="three lines instead of the tables")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import build_report

    layout = layout_from_args(args, args.image)
    report = build_report(args.image, layout, fuses=fuses_from_args(args) or None)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        report.render(Console(), compact=args.compact)
    return 0
