"""`spareflash sim`: run a firmware in the simulator, print its Serial output, optionally save the final flash."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from ..errors import SimulationError, SpareFlashError

DEFAULT_CYCLES = 100_000_000


def _int(text: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sim", help="run a firmware (ELF or HEX) in the simulator and print its Serial output",
                       description="Run a firmware in the yasimavr-based simulator until it sleeps with interrupts "
                                   "off (exit 0), crashes or runs out of cycles (exit 3).")
    p.add_argument("firmware", metavar="FIRMWARE", help="an .elf (fuses from its .fuse/.lock sections) or .hex")
    p.add_argument("--mcu", required=True, help="simulated part, e.g. atmega328p")
    p.add_argument("--cycles", type=_int, default=DEFAULT_CYCLES,
                   help=f"cycle budget (default {DEFAULT_CYCLES:,})")
    p.add_argument("--flash-in", metavar="HEX", help="power on with this whole-flash image instead of the firmware's")
    p.add_argument("--flash-out", metavar="HEX", help="write the flash at the end of the run as Intel HEX")
    p.add_argument("--spi-flash", metavar="FILE", help="attach an SPI NOR flash chip holding FILE's bytes")
    p.add_argument("--freq", type=_int, default=16_000_000, help="CPU clock in Hz (default 16000000)")
    p.add_argument("--fuses", metavar="L,H,E[,LOCK]", help="override the fuse bytes, e.g. 0xFF,0xDE,0xFD")
    p.set_defaults(func=run)


def _parse_fuses(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    parts = [x for x in text.split(",") if x.strip()]
    names = ("lfuse", "hfuse", "efuse", "lock")
    if not 1 <= len(parts) <= 4:
        raise SpareFlashError(f"--fuses wants L,H,E[,LOCK], got {text!r}")
    try:
        return {names[i]: int(v.strip(), 0) for i, v in enumerate(parts)}
    except ValueError:
        raise SpareFlashError(f"--fuses: not a number in {text!r}") from None


def _spi_flash(path: str) -> Any:
    try:
        spinor = importlib.import_module("spareflash.sim.spinor")
    except ModuleNotFoundError as exc:
        if exc.name == "spareflash.sim.spinor":
            raise SpareFlashError("--spi-flash: the SPI NOR model (spareflash.sim.spinor) is not available") from None
        raise
    opener = getattr(spinor, "open_spi_flash", None)
    if opener is None:
        raise SpareFlashError("--spi-flash: spareflash.sim.spinor has no open_spi_flash()")
    return opener(path)


def run(args: argparse.Namespace) -> int:
    from ..sim import Simulator

    if args.cycles <= 0:
        raise SpareFlashError(f"--cycles must be positive, got {args.cycles}")
    if not Path(args.firmware).is_file():
        raise SpareFlashError(f"no such firmware file: {args.firmware}")
    if args.flash_in and not Path(args.flash_in).is_file():
        raise SpareFlashError(f"no such flash image: {args.flash_in}")
    peripherals = [_spi_flash(args.spi_flash)] if args.spi_flash else []
    sim = Simulator(args.firmware, args.mcu, fuses=_parse_fuses(args.fuses), flash_in=args.flash_in,
                    freq=args.freq, peripherals=peripherals)
    result = sim.run(args.cycles)
    out = sys.stdout
    if result.serial:
        out.write(result.serial_text)
    if result.debug:
        out.write(result.debug.decode("latin-1"))
    out.flush()
    # the outputs reflect the run even when it failed: they are what a debugger would want to look at
    if args.flash_out:
        sim.write_flash_hex(args.flash_out)
    for p in peripherals:
        save = getattr(p, "save", None)
        if save is not None:
            save(args.spi_flash)
    if not result.ok:
        raise SimulationError(f"{args.firmware}: {result.message}")
    return 0
