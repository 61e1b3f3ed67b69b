"""Command-line entry point.

Each sub-command lives in its own module under `spareflash.commands` and exposes `register(subparsers)`;
this file only wires them together and turns a SpareFlashError into one line on stderr (no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from . import __version__
from .errors import SpareFlashError

# module names under spareflash.commands; a module that is missing (not written yet) is skipped
COMMAND_MODULES = ("chips", "sim", "build", "demo", "verify", "report", "fuses", "dump", "arduino", "bench",
                   "overlay", "campaign")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spareflash",
        description="Use the spare program flash of classic AVR chips: storage, overlays, planning, verification.",
    )
    parser.add_argument("--version", action="version", version=f"spareflash {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"spareflash.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"spareflash.commands.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except SpareFlashError as exc:
        print(f"spareflash: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
