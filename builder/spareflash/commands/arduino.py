"""`spareflash arduino install|uninstall|hook|package`: the Arduino IDE / arduino-cli integration."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..errors import SpareFlashError
from . import show_help
from .verify import add_plan_arguments, layout_from_args


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("arduino", help="install the Arduino platform hook and board menus; package the library")
    asub = p.add_subparsers(dest="arduino_command", metavar="ACTION")

    i = asub.add_parser("install", help="add the SpareFlash hook (platform.local.txt) and menus (boards.local.txt)")
    i.add_argument("--platform-dir", type=Path, help="the Arduino AVR platform folder (default: arduino-cli's "
                   "arduino:avr when installed, else /usr/share/arduino/hardware/arduino/avr)")
    i.set_defaults(func=run_install)

    u = asub.add_parser("uninstall", help="remove exactly what install added")
    u.add_argument("--platform-dir", type=Path, help="the Arduino AVR platform folder")
    u.set_defaults(func=run_uninstall)

    h = asub.add_parser("hook", help="(called by the platform hook) fuse object before the link; verify + report "
                        "after it")
    h.add_argument("--build-mcu", required=True, help="the board's {build.mcu}")
    h.add_argument("--fuse-object", type=Path, help="compile the plan's .fuse/.lock sections to this object")
    h.add_argument("--elf", help="verify this ELF and print the compact report")
    add_plan_arguments(h)
    h.set_defaults(func=run_hook)

    k = asub.add_parser("package", help="write the Arduino library zip (library specification 1.5)")
    k.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist)")
    k.set_defaults(func=run_package)

    p.set_defaults(func=show_help(p))


def run_install(args: argparse.Namespace) -> int:
    from ..arduino import install

    pdir = install(args.platform_dir)
    print(f"SpareFlash hook installed in {pdir}/platform.local.txt and board menus in {pdir}/boards.local.txt")
    print("choose Tools > SpareFlash for uno, nano, mega or leonardo; `spareflash arduino uninstall` removes them")
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    from ..arduino import uninstall

    pdir, removed = uninstall(args.platform_dir)
    print(f"SpareFlash hook removed from {pdir}" if removed else f"no SpareFlash hook in {pdir}")
    return 0


def _plan_argv(args: argparse.Namespace) -> list[str]:
    out = ["--mcu", args.mcu]
    for opt in ("backend", "board", "storage", "log"):
        value = getattr(args, opt, None)
        if value is not None:
            out += [f"--{opt}", str(value)]
    if args.overlay_slots:
        out += ["--overlay-slots", f"{args.overlay_slots[0]}:{args.overlay_slots[1]}"]
    return out


def run_hook(args: argparse.Namespace) -> int:
    if not args.mcu:
        return 0  # the board has no SpareFlash option chosen (or is not a SpareFlash board): nothing to do
    if args.mcu.lower() != args.build_mcu.lower():
        raise SpareFlashError(f"arduino-hook: the SpareFlash option is planned for {args.mcu} but this board "
                              f"builds for {args.build_mcu}; choose the matching processor or SpareFlash=off")
    layout = layout_from_args(args)
    if args.fuse_object:
        from ..arduino import compile_fuse_object

        compile_fuse_object(layout, args.fuse_object)
    if args.elf:
        from ..cli import main
        from ..image import load_image

        load_image(args.elf)  # an unreadable image: this one line, not one from verify, report and the hook each

        plan_argv = _plan_argv(args)
        print("SpareFlash: spareflash verify " + shlex.join([args.elf, *plan_argv]))
        rc = main(["verify", args.elf, *plan_argv])
        main(["report", args.elf, "--compact", *plan_argv])
        if rc:
            raise SpareFlashError(f"arduino-hook: {args.elf} breaks the flash plan (see the violations above)")
    return 0


def run_package(args: argparse.Namespace) -> int:
    from ..arduino import package_library

    dest = package_library(args.out)
    print(f"wrote {dest}")
    return 0
