"""`spareflash chips`: the chip model as a table or JSON."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from ..chips import CHIPS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("chips", help="list the supported chips and their flash facts")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps({name: chip.to_dict() for name, chip in CHIPS.items()}, indent=2))
        return 0
    table = Table(title="SpareFlash chip model")
    for col in ("MCU", "flash", "page", "EEPROM", "SRAM", "boot sections (BOOTSZ: start)", "NRWW from",
                "signature", "factory l/h/e/lock"):
        table.add_column(col)
    for chip in CHIPS.values():
        boots = ", ".join(f"{bs.code:02b}:{bs.size}@0x{bs.start:X}" for bs in chip.boot_sizes) or "none (SELFPRGEN)"
        f = chip.factory_fuses()
        table.add_row(
            chip.display, str(chip.flash_size), str(chip.page_size), str(chip.eeprom_size), str(chip.sram_size),
            boots, f"0x{chip.nrww_start:X}" if chip.nrww_start is not None else "-",
            " ".join(f"{b:02X}" for b in chip.signature),
            "/".join(f"{f[k]:02X}" for k in ("lfuse", "hfuse", "efuse", "lock")),
        )
    Console().print(table)
    return 0
