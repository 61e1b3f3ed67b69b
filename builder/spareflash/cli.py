"""Command-line entry point.

Each sub-command lives in its own module under `spareflash.commands` and exposes `register(subparsers)`;
this file only wires them together and turns a SpareFlashError into one line on stderr (no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn, Sequence

from . import __version__
from .errors import SpareFlashError

# module names under spareflash.commands; a module that is missing (not written yet) is skipped
COMMAND_MODULES = ("chips", "sim", "build", "demo", "verify", "report", "fuses", "dump", "arduino", "bench",
                   "overlay", "campaign")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2) like every other error: the usage text it would
    print first is several lines long and hides the one that says what is wrong. Sub-parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
