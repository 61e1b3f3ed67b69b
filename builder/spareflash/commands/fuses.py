"""`spareflash fuses --mcu MCU --backend B [--board BOARD]`: the fuse and lock bytes a backend needs, decoded."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from ..fuses import FUSE_NAMES, check_fuses
from ..plan import PlanConfig, check_board, plan
from ..report import fuse_description


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fuses", help="the fuse bytes (lfuse, hfuse, efuse, lock) for a backend, decoded")
    p.add_argument("--mcu", required=True, help="avr-gcc -mmcu name, e.g. atmega328p")
    p.add_argument("--backend", help="bootstub, optiboot, urboot or direct (default: the chip's default)")
    p.add_argument("--board", help="board whose shipped fuses are the base (e.g. uno)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = PlanConfig(args.mcu, backend=args.backend, board=args.board)
    check_board(config)
    layout = plan(config)
    fuses = {k: layout.fuses[k] for k in FUSE_NAMES if k in layout.fuses}
    desc = fuse_description(layout.chip, fuses)
    problems = check_fuses(layout.chip, fuses, layout.backend)
    if args.json:
        print(json.dumps({"mcu": layout.chip.name, "backend": layout.backend, "board": args.board,
                          "fuses": {k: f"0x{v:02X}" for k, v in fuses.items()}, "decoded": desc,
                          "problems": problems}, indent=2))
        return 0 if not problems else 2
    console = Console()
    console.print(f"[bold]{layout.chip.display}[/] backend [bold]{layout.backend}[/]"
                  + (f" board {args.board}" if args.board else "") + ": "
                  + "  ".join(f"{k}=0x{v:02X}" for k, v in fuses.items()))
    table = Table(show_header=True)
    for col in ("byte", "field", "bits", "meaning"):
        table.add_column(col)
    for byte, info in desc.items():
        fields = info["fields"]
        assert isinstance(fields, dict)
        for i, (name, f) in enumerate(fields.items()):
            table.add_row(f"{byte} {info['value']}" if i == 0 else "", name, str(f["bits"]), str(f["description"]))
    console.print(table)
    for p in problems:
        console.print(f"[red]{p}[/]")
    return 0 if not problems else 2
