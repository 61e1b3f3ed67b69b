"""Build the backend test firmware with the real toolchain and a flash plan applied (tests/test_backends*.py).

One avr-gcc invocation compiles the library's flash sources (library/src/spareflash_flash.cpp and every
backend_* file: only the one SPAREFLASH_BACKEND selects has code), the test program and, when given, a test
double of a bootloader, then links with `layout.linker_flags()` (the plan's `--defsym`s and, for the bootstub,
its section start) plus extra flags. Outputs are cached under .build/backends/<hash of inputs>/.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from spareflash.chips import Chip
from spareflash.errors import ToolchainError
from spareflash.plan import Layout, Region

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
LIB_SRC = REPO / "library" / "src"
BUILD_ROOT = REPO / ".build" / "backends"

LIBRARY_SOURCES = ("spareflash_flash.cpp", "backend_bootstub.S", "backend_bootstub.cpp", "backend_optiboot.cpp",
                   "backend_urboot.cpp", "backend_direct.cpp")


def library_sources() -> list[Path]:
    return [LIB_SRC / name for name in LIBRARY_SOURCES]


def build_firmware(layout: Layout, main: str = "fence_main.c", extra_sources: Sequence[Path] = (),
                   extra_link_flags: Sequence[str] = (), f_cpu: int = 16_000_000) -> Path:
    """Compile + link; returns the ELF path. Raises ToolchainError with avr-gcc's first error line."""
    gcc = shutil.which("avr-gcc")
    if gcc is None:
        raise ToolchainError("avr-gcc not found")
    sources = [*library_sources(), HERE / main, *extra_sources]
    defines = [f"-D{d}" for d in layout.defines()]
    flags = ["-mmcu=" + layout.chip.name, "-Os", "-Wall", "-Wextra", "-Werror", f"-DF_CPU={f_cpu}UL",
             *defines, f"-I{LIB_SRC}", "-ffunction-sections", "-fdata-sections"]
    link = ["-Wl,--gc-sections", *layout.linker_flags(), *extra_link_flags]
    key = hashlib.sha1()
    for part in (*flags, *link, *(str(s) for s in sources)):
        key.update(part.encode() + b"\0")
    for s in sources:
        key.update(s.read_bytes())
    for h in sorted(LIB_SRC.glob("*.h")):
        key.update(h.read_bytes())
    out = BUILD_ROOT / key.hexdigest()[:16]
    elf = out / "fw.elf"
    if elf.exists():
        return elf
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "fw.tmp.elf"
    proc = subprocess.run([gcc, *flags, *[str(s) for s in sources], *link, "-o", str(tmp)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "error" in ln] or proc.stderr.splitlines() or ["?"]
        raise ToolchainError(f"avr-gcc failed: {lines[0]}")
    tmp.replace(elf)
    return elf


def section_size(elf: Path, name: str) -> int:
    """Size in bytes of one ELF section (pyelftools; `avr-size -A` gives the same figure)."""
    from elftools.elf.elffile import ELFFile

    with elf.open("rb") as fh:
        sec = ELFFile(fh).get_section_by_name(name)
        return 0 if sec is None else int(sec["sh_size"])


def symbol_address(elf: Path, name: str) -> int:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with elf.open("rb") as fh:
        for sec in ELFFile(fh).iter_sections():
            if isinstance(sec, SymbolTableSection):
                for sym in sec.get_symbol_by_name(name) or []:
                    return int(sym["st_value"])
    raise KeyError(name)


def with_boot_code(layout: Layout, code: int) -> Layout:
    """The same layout moved under another boot section (BOOTSZ `code`): regions keep their sizes and order.

    Used to place an SPM routine in a boot section one size *larger* than the fuses under test select, so that
    it lies below the boot section the chip actually has.
    """
    chip: Chip = layout.chip
    boot = chip.boot_size_by_code(code)
    delta = boot.start - layout.boot_start
    regions = {r.name: Region(r.name, r.start + delta, r.size) for r in layout.regions}
    return dataclasses.replace(layout, boot=boot, boot_start=boot.start, storage=regions["storage"],
                               log=regions["log"], slots=regions["slots"])


def with_bootsz(chip: Chip, fuses: dict[str, int], code: int) -> dict[str, int]:
    """A copy of `fuses` whose BOOTSZ field selects boot section `code` (everything else unchanged)."""
    assert chip.boot_fuse is not None
    out = dict(fuses)
    out[chip.boot_fuse] = chip.fuse(chip.boot_fuse).field("BOOTSZ").put(out[chip.boot_fuse], code)
    return out
