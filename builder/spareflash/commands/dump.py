"""`spareflash dump FLASH.hex --mcu MCU`: decode the FlashStorage and FlashLog regions of a flash dump.

The storage region is decoded by the Python twin of the storage format the plan gives the chip (format 1, or
format 2 on parts with at most 4 KB of flash); the output names the format.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..plan import PlanConfig, check_board, plan
from ..storage.image import decode_log, decode_storage, read_image
from .verify import _int


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dump", help="decode the storage and log regions of a flash dump (.hex or raw .bin)")
    p.add_argument("image", type=Path, help="flash dump: Intel HEX, or raw binary from address 0")
    p.add_argument("--mcu", required=True, help="chip, e.g. atmega328p")
    p.add_argument("--storage", type=_int, default=None, help="storage region bytes (default: the plan's)")
    p.add_argument("--log", type=_int, default=0, help="log region bytes (default 0)")
    p.add_argument("--backend", default=None, help="backend the firmware was planned with (default: the chip's)")
    p.add_argument("--board", default=None, help="board (for bootloader backends)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = PlanConfig(args.mcu, backend=args.backend, storage_bytes=args.storage, log_bytes=args.log,
                        board=args.board)
    check_board(config)
    layout = plan(config)
    regions = read_image(args.image, layout)
    out: dict[str, object] = {"mcu": layout.chip.name, "backend": layout.backend}
    if "storage" in regions:
        r = regions["storage"]
        # the region is read by the twin of the format the plan builds for this chip (2 on the ATtiny25/45)
        out["storage"] = {"start": r.region.start, "size": r.region.size, "format": layout.storage_format,
                          **decode_storage(r.data, r.page_size, layout.storage_format)}
    if "log" in regions:
        r = regions["log"]
        out["log"] = {"start": r.region.start, "size": r.region.size, **decode_log(r.data, r.page_size)}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    console = Console()

    def warn_damaged(what: str, region: dict[str, Any]) -> None:
        if region["damaged_pages"]:
            pages = ", ".join(str(p) for p in region["damaged_pages"])
            console.print(f"[yellow]{what}: {len(region['damaged_pages'])} of {region['pages']} pages hold data "
                          f"without a valid header (torn erase, corruption, or not a SpareFlash region): {pages}[/]")

    st = out.get("storage")
    if isinstance(st, dict):
        console.print(f"[bold]storage[/] (format {st['format']}) 0x{st['start']:X}-0x{st['start'] + st['size'] - 1:X}"
                      f": {st['pages']} pages of {st['page_size']} B, {st['pages_in_use']} in use, live "
                      f"{st['live_bytes']} B, "
                      f"free {st['free_bytes']} B, ~{st['estimated_remaining_writes']} writes left")
        table = Table("key", "bytes", "value (hex)")
        for key, val in st["values"].items():
            table.add_row(str(key), str(len(val) // 2), val)
        console.print(table)
        console.print("erase counts: " + " ".join(str(e) for e in st["erase_counts"]))
        warn_damaged("storage", st)
    lg = out.get("log")
    if isinstance(lg, dict):
        console.print(f"[bold]log[/] 0x{lg['start']:X}: {lg['pages']} pages, {len(lg['records'])} records "
                      "(oldest first)")
        for i, rec in enumerate(lg["records"]):
            console.print(f"  {i:4d}  {rec}")
        console.print("erase counts: " + " ".join(str(e) for e in lg["erase_counts"]))
        warn_damaged("log", lg)
    return 0
