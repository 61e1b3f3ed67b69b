"""Building the verification suite's test firmware with the real toolchain (cached under .build/verify-tests/)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from spareflash.errors import ToolchainError
from spareflash.plan import Layout, PlanConfig, plan

ROOT = Path(__file__).resolve().parents[2]
SOURCES = Path(__file__).resolve().parent
CACHE = ROOT / ".build" / "verify-tests"

HAVE_AVR_GCC = shutil.which("avr-gcc") is not None and shutil.which("avr-objcopy") is not None


def fuse_defines(layout: Layout, **override: int) -> list[str]:
    """-D flags that make app.c emit the plan's fuses (and lock bits) into .fuse/.lock, with overrides."""
    f = dict(layout.fuses)
    f.update(override)
    names = {"lfuse": "LFUSE", "hfuse": "HFUSE", "efuse": "EFUSE", "lock": "LOCK"}
    return [f"-D{names[k]}=0x{v:02X}" for k, v in f.items() if k in names]


def build(source: str, layout: Layout, cflags: Sequence[str] = (), ldflags: Sequence[str] = (),
          post: Sequence[Sequence[str]] = ()) -> Path:
    """Compile tests/mutations/`source` for the layout's MCU with its linker flags; returns the ELF.

    `post` are avr-objcopy argument lists applied in order to the linked ELF (e.g. changing an LMA). The HEX
    (objcopy -O ihex without .eeprom/.fuse/.lock/.signature, as Arduino does) sits next to it as firmware.hex.
    """
    src = SOURCES / source
    argv = ["avr-gcc", f"-mmcu={layout.chip.name}", "-Os", *cflags, str(src), *layout.linker_flags(), *ldflags]
    key = hashlib.sha1(repr((argv, [list(p) for p in post], src.read_bytes())).encode()).hexdigest()[:16]
    out = CACHE / key
    elf = out / "firmware.elf"
    if elf.exists() and (out / "firmware.hex").exists():
        return elf
    tmp = CACHE / f"{key}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    proc = subprocess.run([*argv, "-o", str(tmp / "firmware.elf")], capture_output=True, text=True)
    if proc.returncode:
        raise ToolchainError(f"avr-gcc failed: {proc.stderr.strip()[:400]}")
    for args in post:
        subprocess.run(["avr-objcopy", *args, str(tmp / "firmware.elf"), str(tmp / "firmware.elf")], check=True,
                       capture_output=True)
    subprocess.run(["avr-objcopy", "-O", "ihex", "-R", ".eeprom", "-R", ".fuse", "-R", ".lock", "-R", ".signature",
                    "-R", ".ovl.*", str(tmp / "firmware.elf"), str(tmp / "firmware.hex")], check=True,
                   capture_output=True)
    try:
        tmp.rename(out)
    except OSError:  # another test process built it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return elf


def layout_for(mcu: str, **kw: object) -> Layout:
    return plan(PlanConfig(mcu, **kw))  # type: ignore[arg-type]


def hex_of(elf: Path) -> Path:
    return elf.with_name("firmware.hex")
