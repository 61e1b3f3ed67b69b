"""One module per CLI sub-command; each has `register(subparsers)` and sets `func` on its parser."""

from __future__ import annotations

import argparse
from typing import Callable


def show_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """`func` for a command group run without its sub-command: its help, exit 1."""

    def run(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 1

    return run
