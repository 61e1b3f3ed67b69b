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
from typing import Any, Sequence

import pytest

from spareflash.chips import Chip, get_chip
from spareflash.errors import ToolchainError
from spareflash.plan import Layout, Region

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
LIB_SRC = REPO / "library" / "src"
BUILD_ROOT = REPO / ".build" / "backends"

LIBRARY_SOURCES = ("spareflash_flash.cpp", "backend_bootstub.S", "backend_bootstub_call.cpp", "backend_optiboot.cpp",
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


def read_hex_last_wins(path: Path, size: int) -> bytes:
    """Flash bytes of an Intel HEX file where a later record may overwrite an earlier one.

    Debian's optiboot_atmega328.hex writes the version word at 0x7FFE twice (its Makefile appends a record), which
    strict readers reject as an overlap; the programmer just writes both, so the last one wins.
    """
    image = bytearray(b"\xff" * size)
    base = 0
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith(":"):
            continue
        raw = bytes.fromhex(line[1:])
        count, addr, kind, data = raw[0], (raw[1] << 8) | raw[2], raw[3], raw[4:4 + raw[0]]
        if sum(raw) & 0xFF:
            raise ValueError(f"{path}: bad checksum in {line}")
        if kind == 0x00:
            image[base + addr:base + addr + count] = data
        elif kind == 0x02:
            base = ((data[0] << 8) | data[1]) << 4
        elif kind == 0x04:
            base = ((data[0] << 8) | data[1]) << 16
        elif kind == 0x01:
            break
    return bytes(image)


# ---- shared by tests/test_bootstub.py and tests/test_backends.py ------------------------------------------
SF_OK, SF_ERR_NO_BACKEND, SF_ERR_FENCE, SF_ERR_VERIFY, SF_ERR_ALIGN, SF_ERR_ARG = 0, 1, 2, 3, 4, 8

# What fence_main.c reports through the library (same for every backend once sf_flash_begin() succeeded) ...
LIBRARY_STATUSES = [SF_OK, SF_OK, SF_OK, SF_OK, SF_ERR_VERIFY, SF_ERR_FENCE, SF_ERR_FENCE, SF_ERR_FENCE,
                    SF_ERR_FENCE, SF_ERR_ALIGN, SF_ERR_ALIGN, SF_ERR_ARG, SF_OK]
# ... and from the stub called directly: page 0 (erase, write), an app page, the last app page, the byte below
# the regions, the stub's page, the last boot page, 0x8000, 0xFFFFFFFF: refused; the first storage page: done.
STUB_STATUSES = [SF_ERR_FENCE] * 9 + [SF_OK]

REC1 = bytes([0x11, 0x22, 0x33, 0x44, 0x55])
REC2 = bytes([0xA0, 0xA1, 0xA2])


def sim_available() -> bool:
    try:
        import yasimavr  # noqa: F401
    except ImportError:
        return False
    return True


needs_sim = pytest.mark.skipif(not sim_available(), reason="yasimavr not installed")



def flash_with_filled_storage(fw_flash: bytes, start: int, size: int, fill: int = 0x00) -> bytes:
    """The firmware's flash image with the storage region pre-programmed, so that an erase is visible."""
    image = bytearray(fw_flash)
    image[start:start + size] = bytes([fill]) * size
    return bytes(image)


def run(elf: Path, layout: Layout, fuses: dict[str, int], *, strict: bool, mcu: str = "atmega328p",
        fill_storage: bool = True) -> tuple[Any, Any, bytes]:
    from spareflash.sim import Simulator, load_firmware

    fw = load_firmware(elf)
    chip = get_chip(mcu)
    image = fw.flash + b"\xff" * (chip.flash_size - len(fw.flash))
    if fill_storage:
        image = flash_with_filled_storage(image, layout.storage.start, 2 * chip.page_size)
    sim = Simulator(elf, mcu, fuses=fuses, flash_in=image, strict_spm=strict)
    result = sim.run(max_cycles=30_000_000)
    return sim, result, image


def check_flash_after_accepted_run(sim: Any, image: bytes, layout: Layout, *, stub_erased_first_page: bool) -> None:
    page = layout.chip.page_size
    s = layout.storage.start
    after = sim.flash
    # nothing outside the two storage pages changed: page 0, the application, the boot section
    assert after[:s] == image[:s]
    assert after[s + 2 * page:] == image[s + 2 * page:]
    # first storage page: erased by the stub (bootstub) or untouched
    assert after[s:s + page] == (b"\xff" * page if stub_erased_first_page else image[s:s + page])
    # second storage page: erased, a record at +3, an append at +8, then the failed re-program (A0 & 11 = 00)
    p1 = after[s + page:s + 2 * page]
    expected = bytearray(b"\xff" * page)
    expected[3:8] = REC1
    expected[8:11] = REC2
    expected[8] = REC2[0] & REC1[0]
    assert p1 == bytes(expected)


