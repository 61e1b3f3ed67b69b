"""Fuse bytes for an SPM backend, and the safety rules every fuse set must pass.

AVR fuse bits are active-low: 0 means *programmed*. The rules here never produce a fuse set that disables
serial programming (SPIEN unprogrammed), external reset (RSTDISBL programmed) or turns on debugWIRE (DWEN
programmed): each of those would lock an ISP-only user out of the chip.
"""

from __future__ import annotations

from typing import Mapping

from .chips import Chip
from .errors import SpareFlashError

BACKENDS = ("bootstub", "optiboot", "urboot", "direct")

FUSE_NAMES = ("lfuse", "hfuse", "efuse", "lock")


class FuseError(SpareFlashError):
    """A fuse set breaks a named rule; the rule name starts the message."""


def default_backend(chip: Chip) -> str:
    return "bootstub" if chip.has_boot_section else "direct"


def base_fuses(chip: Chip, board: str | None = None) -> dict[str, int]:
    """The fuses a board ships with (Arduino's boards.txt values), else the chip's factory values."""
    if board and board in chip.boards:
        return dict(chip.boards[board])
    if chip.boards:
        return dict(next(iter(chip.boards.values())))
    return chip.factory_fuses()


def compute_fuses(chip: Chip, backend: str, boot_code: int | None = None,
                  base: Mapping[str, int] | None = None) -> dict[str, int]:
    """Fuse bytes that make `backend` work, starting from `base` (a board's shipped fuses).

    bootstub: BOOTSZ = `boot_code` (the smallest section that holds the stub), BOOTRST unprogrammed so reset
    runs the application, BLB0 mode 1 (SPM may write the application section, where the regions are) and
    BLB1 mode 2 (SPM may not rewrite the stub itself).
    optiboot/urboot: the bootloader's fuses are kept; `check_fuses` verifies they allow SPM to the regions.
    direct: SELFPRGEN programmed.
    """
    if backend not in BACKENDS:
        raise FuseError(f"backend: unknown backend '{backend}' (choose from {', '.join(BACKENDS)})")
    fuses = dict(base) if base is not None else base_fuses(chip)
    if backend == "direct":
        if chip.has_boot_section:
            raise FuseError(f"backend: 'direct' needs a part without a boot section; {chip.display} has one")
        ef = chip.fuse("efuse")
        fuses["efuse"] = ef.field("SELFPRGEN").put(fuses["efuse"], 0)
        return fuses
    if not chip.has_boot_section:
        raise FuseError(f"backend: '{backend}' needs a boot section; use 'direct' on {chip.display}")
    if backend == "bootstub":
        assert chip.boot_fuse is not None
        fb = chip.fuse(chip.boot_fuse)
        code = boot_code if boot_code is not None else min(chip.boot_sizes, key=lambda b: b.size).code
        value = fb.field("BOOTSZ").put(fuses[chip.boot_fuse], code)
        fuses[chip.boot_fuse] = fb.field("BOOTRST").put(value, 1)
        # lock: BLB1 = 10 (mode 2), BLB0 = 11 (mode 1), LB = 11; unused bits 7:6 read 1
        fuses["lock"] = 0xEF
    elif lock_field(fuses["lock"], "BLB1") in (0b00, 0b01):
        # Arduino ships lock 0xCF (BLB1 mode 3): the application may not LPM the boot section, so the library
        # could not read the bootloader's version word to find do_spm/pgm_write_page. Mode 2 still forbids SPM
        # writes to the bootloader but lets the application read it.
        fuses["lock"] = (fuses["lock"] & ~0x30 & 0xFF) | 0x20
    return fuses


def lock_field(lock: int, name: str) -> int:
    shift = {"LB": 0, "BLB0": 2, "BLB1": 4}[name]
    return (lock >> shift) & 0b11


def check_fuses(chip: Chip, fuses: Mapping[str, int], backend: str | None = None) -> list[str]:
    """Named problems with a fuse set ('fuse-spien: ...'); empty when the set is safe and fits the backend."""
    problems: list[str] = []
    for name in ("lfuse", "hfuse", "efuse"):
        if name in fuses and not 0 <= fuses[name] <= 0xFF:
            problems.append(f"fuse-range: {name}=0x{fuses[name]:X} is not a byte")
    if problems:
        return problems
    hf = chip.fuse("hfuse")
    h = fuses.get("hfuse", hf.factory)
    names = {b.name for b in hf.bits}
    if hf.field("SPIEN").get(h) != 0:
        problems.append(f"fuse-spien: hfuse 0x{h:02X} unprograms SPIEN, which disables ISP programming")
    if "RSTDISBL" in names and hf.field("RSTDISBL").get(h) == 0:
        problems.append(f"fuse-rstdisbl: hfuse 0x{h:02X} programs RSTDISBL, which disables reset and ISP")
    if "DWEN" in names and hf.field("DWEN").get(h) == 0:
        problems.append(f"fuse-dwen: hfuse 0x{h:02X} enables debugWIRE, which disables ISP")
    if backend == "direct" or (backend is None and not chip.has_boot_section):
        ef = chip.fuse("efuse")
        if ef.field("SELFPRGEN").get(fuses.get("efuse", ef.factory)) != 0:
            problems.append(f"fuse-selfprgen: efuse 0x{fuses.get('efuse', ef.factory):02X} leaves SELFPRGEN "
                            "unprogrammed, so SPM does nothing")
    if backend in ("bootstub", "optiboot", "urboot") and chip.has_boot_section:
        lock = fuses.get("lock", chip.lock_factory)
        if lock_field(lock, "BLB0") in (0b10, 0b00):
            problems.append(f"fuse-lock: lock 0x{lock:02X} (BLB0 mode 2/3) forbids SPM writes to the "
                            "application section, where the regions are")
        if backend in ("optiboot", "urboot") and lock_field(lock, "BLB1") in (0b00, 0b01):
            problems.append(f"fuse-lock: lock 0x{lock:02X} (BLB1 mode 3/4) forbids the application to read the "
                            "bootloader, so its SPM entry cannot be found")
        if backend == "bootstub" and chip.boot_fuse:
            fb = chip.fuse(chip.boot_fuse)
            if fb.field("BOOTRST").get(fuses[chip.boot_fuse]) == 0:
                problems.append(f"fuse-bootrst: {chip.boot_fuse} 0x{fuses[chip.boot_fuse]:02X} programs BOOTRST "
                                "but the bootstub is not a bootloader; reset would jump into it")
    return problems


def decode_fuses(chip: Chip, fuses: Mapping[str, int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for fb in chip.fuses:
        if fb.name in fuses:
            out[fb.name] = fb.decode(fuses[fb.name])
    if "lock" in fuses:
        out["lock"] = {name: lock_field(fuses["lock"], name) for name in chip.lock_fields}
    return out
