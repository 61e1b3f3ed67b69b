"""`spareflash verify IMAGE`: check an ELF or HEX against the flash plan; exit 0 when valid, 2 when not.

The plan options here (`add_plan_arguments` / `layout_from_args`) are shared by `report` and `fuses`.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import SpareFlashError
from ..plan import Layout, PlanConfig, PlanError, check_board, plan

FUSE_OPTIONS = ("lfuse", "hfuse", "efuse", "lock")


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number (decimal or 0x...)") from None


def _byte(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= 0xFF:
        raise argparse.ArgumentTypeError(f"'{text}' is not a byte (0..255, 0x00..0xFF)")
    return value


def _slots(text: str) -> tuple[int, int]:
    n, sep, size = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"'{text}' is not N:BYTES (e.g. 2:1024)")
    count = _int(n)
    if count < 1:
        raise argparse.ArgumentTypeError(f"'{text}' asks for {count} slots; give 1 or more, or leave the option out")
    return count, _int(size)


def add_plan_arguments(p: argparse.ArgumentParser, mcu_required: bool = False) -> None:
    p.add_argument("--mcu", required=mcu_required, help="avr-gcc -mmcu name, e.g. atmega328p"
                   + ("" if mcu_required else " (default: read from the ELF's device note)"))
    p.add_argument("--backend", help="bootstub, optiboot, urboot or direct (default: the chip's default)")
    p.add_argument("--board", help="board whose shipped fuses are the base (e.g. uno)")
    p.add_argument("--storage", type=_int, metavar="BYTES", help="FlashStorage bytes (default: the chip's default)")
    p.add_argument("--log", type=_int, default=0, metavar="BYTES", help="FlashLog bytes")
    p.add_argument("--overlay-slots", type=_slots, metavar="N:BYTES", help="overlay slots, count:bytes each")


def add_fuse_arguments(p: argparse.ArgumentParser) -> None:
    for name in FUSE_OPTIONS:
        p.add_argument(f"--{name}", type=_byte, metavar="BYTE", help=f"check this {name} instead of the plan's/ELF's")


def fuses_from_args(args: argparse.Namespace) -> dict[str, int]:
    return {name: getattr(args, name) for name in FUSE_OPTIONS if getattr(args, name, None) is not None}


def layout_from_args(args: argparse.Namespace, image: str | None = None) -> Layout:
    mcu = args.mcu
    if not mcu and image:
        from ..image import load_image

        img = load_image(image)
        if img.device_info is not None and img.device_info.name:
            mcu = img.device_info.name
    if not mcu:
        raise SpareFlashError("mcu-required: give --mcu (a HEX, or an ELF without a device note, does not name it)")
    slots, slot_bytes = args.overlay_slots or (0, 0)
    config = PlanConfig(mcu, backend=args.backend, storage_bytes=args.storage, log_bytes=args.log,
                        overlay_slots=slots, slot_bytes=slot_bytes, board=args.board)
    check_board(config)
    return plan(config)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("verify", help="check an ELF/HEX against the flash plan (exit 0 valid, 2 not)")
    p.add_argument("image", help="firmware .elf or .hex")
    add_plan_arguments(p)
    add_fuse_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..verify import verify_image

    try:
        layout = layout_from_args(args, args.image)
    except PlanError:
        raise
    result = verify_image(args.image, layout, fuses=fuses_from_args(args) or None)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.ok:
        print(f"{args.image}: OK ({result.kind}, {layout.chip.display}, backend {layout.backend}; "
              f"checked {', '.join(result.checked)})")
    else:
        for v in result.violations:
            print(f"spareflash: verify: {v.rule}: {v.message}", file=sys.stderr)
        print(f"{args.image}: {len(result.violations)} violation(s): {', '.join(result.rules)}")
    return 0 if result.ok else 2
