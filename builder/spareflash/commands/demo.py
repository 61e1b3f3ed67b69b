"""`spareflash demo`: the main job end to end, as `./dev demo` runs it.

Builds an example for an Uno with the real toolchain and the flash plan, verifies the image against the page
model, prints the memory report, then runs it in the simulator twice — the second run is a cold boot on the flash
the first one left — and decodes the storage region with the Python model, so a user sees the data survive.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from ..errors import SimulationError, SpareFlashError
from ..plan import PlanConfig

REPO_EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="build an example for an Uno, verify it, report, run it in the simulator")
    p.add_argument("--example", default="StorageBasics", help="example sketch under examples/ (default StorageBasics)")
    p.add_argument("--board", default="uno")
    p.add_argument("--boots", type=int, default=2, help="cold boots to simulate on the same flash (default 2)")
    p.add_argument("--cycles", type=int, default=400_000_000, help="cycle budget per boot")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..build import build_sketch, get_board
    from ..report import build_report
    from ..sim import Simulator
    from ..storage.image import decode_log, decode_storage, read_image
    from ..verify import verify_image

    if args.boots < 1:
        raise SpareFlashError(f"demo: --boots must be at least 1, got {args.boots}")
    if args.cycles < 1:
        raise SpareFlashError(f"demo: --cycles must be positive, got {args.cycles}")
    console = Console()
    sketch = REPO_EXAMPLES / args.example
    if not sketch.is_dir():
        raise SpareFlashError(f"no example '{args.example}' in {REPO_EXAMPLES}")
    board = get_board(args.board)

    console.rule(f"[bold]1. build[/] {args.example} for {args.board} (real toolchain, flash plan applied)")
    result = build_sketch(sketch, board=args.board, plan_config=PlanConfig(board.mcu, board=args.board))
    layout = result.layout
    assert layout is not None
    console.print(f"ELF {result.elf}\nHEX {result.hex}")

    console.rule("[bold]2. verify[/] against the page model")
    verdict = verify_image(result.elf, layout, fuses=layout.fuses)
    for v in verdict.violations:
        console.print(f"[red]{v.rule}[/]: {v.message}")
    if not verdict.ok:
        raise SpareFlashError(f"verification failed: {verdict.violations[0].rule}")
    console.print("[green]every rule holds[/]")

    console.rule("[bold]3. report[/]")
    build_report(result.elf, layout, fuses=layout.fuses).render(console, compact=False)

    flash: bytes | None = None
    for boot in range(1, args.boots + 1):
        console.rule(f"[bold]4.{boot} simulate[/] cold boot {boot} on {layout.chip.display} at 16 MHz")
        sim = Simulator(result.elf, mcu=layout.chip.name, flash_in=flash)
        res = sim.run(max_cycles=args.cycles)
        console.print(Panel(sim.serial_text.rstrip() or "(no Serial output)", title="Serial", expand=False))
        console.print(f"{res.reason}: {res.message} after {res.cycles:,} cycles "
                      f"({res.cycles / 16e6 * 1e3:.1f} ms simulated)")
        if not res.ok:
            raise SimulationError(f"boot {boot}: {res.message}")
        flash = sim.flash

    console.rule("[bold]5. decode[/] the storage region with the Python model (what `spareflash dump` shows)")
    assert flash is not None
    dump_path = result.build_dir / "demo-flash.bin" if result.build_dir else Path("demo-flash.bin")
    dump_path.write_bytes(flash)
    regions = read_image(dump_path, layout)
    decoders = {"storage": decode_storage, "log": decode_log}
    decoded = {name: decoders[name](r.data, r.page_size) for name, r in regions.items()}
    for info in decoded.values():  # one line per region is enough here; `spareflash dump --json` has them all
        counts = info.pop("erase_counts")
        info["erase_counts"] = f"{len(counts)} pages, {sum(counts)} erases, max {max(counts, default=0)} per page"
    console.print_json(json.dumps(decoded))
    return 0
