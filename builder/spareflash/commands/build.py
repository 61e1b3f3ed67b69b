"""`spareflash build SKETCH_DIR`: compile a sketch with the real toolchain and the flash plan applied."""

from __future__ import annotations

import argparse
import json

from ..build import BOARDS, build_sketch, get_board
from ..plan import PlanConfig


def parse_slots(text: str) -> tuple[int, int]:
    """`N:BYTES` -> (N, BYTES)."""
    count, sep, size = text.partition(":")
    try:
        if not sep:
            raise ValueError
        n, nbytes = int(count, 0), int(size, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not N:BYTES (e.g. 2:1024)") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"'{text}' asks for {n} slots; give 1 or more, or leave the option out")
    return n, nbytes


def add_plan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", help="SPM backend: bootstub, optiboot, urboot, direct (default: the chip's)")
    p.add_argument("--storage", type=lambda s: int(s, 0), metavar="BYTES", help="FlashStorage region size")
    p.add_argument("--log", type=lambda s: int(s, 0), default=0, metavar="BYTES", help="FlashLog region size")
    p.add_argument("--overlay-slots", type=parse_slots, metavar="N:BYTES", help="N overlay slots of BYTES each")


def plan_config_from_args(args: argparse.Namespace, board: str) -> PlanConfig:
    b = get_board(board)
    slots, slot_bytes = args.overlay_slots or (0, 0)
    return PlanConfig(mcu=b.mcu, backend=args.backend, storage_bytes=args.storage, log_bytes=args.log,
                      overlay_slots=slots, slot_bytes=slot_bytes, board=b.plan_board)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("build", help="compile a sketch with avr-gcc/arduino-builder and the flash plan applied")
    p.add_argument("sketch_dir", help="the sketch folder (holding SKETCH_DIR/<name>.ino)")
    p.add_argument("--board", default="uno", help=f"target board: {', '.join(BOARDS)} (default: uno)")
    add_plan_arguments(p)
    p.add_argument("--out", metavar="DIR", help="build folder (default: .build/<sketch>-<board>-<hash>)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = plan_config_from_args(args, args.board)
    result = build_sketch(args.sketch_dir, board=args.board, plan_config=cfg, build_dir=args.out)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    layout = result.layout
    assert layout is not None
    s = result.size
    print(f"built {result.elf}")
    print(f"      {result.hex}")
    print(f"flash {s['flash']} / {layout.max_app_size} bytes (app limit), RAM {s['ram']} / {layout.chip.sram_size}")
    print(f"plan  {layout.chip.display}, backend {layout.backend}, storage {layout.storage.size} B at "
          f"0x{layout.storage.start:X}, log {layout.log.size} B, slots {layout.slot_count}x{layout.slot_size} B")
    print("fuses " + " ".join(f"{k}=0x{v:02X}" for k, v in layout.fuses.items()))
    return 0
