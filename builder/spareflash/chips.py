"""The chip model: the one place that holds facts about the supported AVR parts.

Everything else (region planning, fuse computation, verification, the simulator's device configs, the
C++ library through linker symbols) derives its layout from here. Figures come from the Microchip
datasheets; `tests/test_chips.py` cross-checks the ones avr-libc also knows (page size, flash/EEPROM/RAM
ends, signature) against avr-libc's io headers, so a typo here fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .errors import SpareFlashError


@dataclass(frozen=True)
class FuseBit:
    """A named field inside a fuse byte. AVR fuses are active-low: a bit reads 0 when *programmed*."""

    name: str
    shift: int
    width: int = 1
    description: str = ""

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift

    def get(self, byte: int) -> int:
        return (byte & self.mask) >> self.shift

    def put(self, byte: int, value: int) -> int:
        return (byte & ~self.mask & 0xFF) | ((value << self.shift) & self.mask)


@dataclass(frozen=True)
class FuseByte:
    name: str  # "lfuse", "hfuse", "efuse"
    factory: int
    bits: tuple[FuseBit, ...]
    unused_mask: int = 0x00  # bits with no function; they read as 1

    def field(self, name: str) -> FuseBit:
        for b in self.bits:
            if b.name == name:
                return b
        raise KeyError(name)

    def decode(self, value: int) -> dict[str, int]:
        return {b.name: b.get(value) for b in self.bits}


@dataclass(frozen=True)
class BootSize:
    """One BOOTSZ setting. `code` is the value of the BOOTSZ1:0 field (0b11 = smallest section)."""

    code: int
    size: int  # bytes
    start: int  # byte address of the first boot-section byte


@dataclass(frozen=True)
class LockMode:
    mode: int
    bits: int  # value of the 2-bit field
    description: str


# Lock-bit modes are the same on every classic AVR that has them (datasheet "Boot Loader Lock Bits").
LB_MODES = (
    LockMode(1, 0b11, "no memory lock"),
    LockMode(2, 0b10, "further programming of flash and EEPROM disabled in parallel and serial mode"),
    LockMode(3, 0b00, "further programming and verification disabled"),
)
BLB0_MODES = (
    LockMode(1, 0b11, "no restriction for SPM or LPM accessing the application section"),
    LockMode(2, 0b10, "SPM is not allowed to write to the application section"),
    LockMode(3, 0b00, "SPM may not write the application section; LPM from the boot section may not read it"),
    LockMode(4, 0b01, "LPM executing from the boot section may not read the application section"),
)
BLB1_MODES = (
    LockMode(1, 0b11, "no restriction for SPM or LPM accessing the boot section"),
    LockMode(2, 0b10, "SPM is not allowed to write to the boot section"),
    LockMode(3, 0b00, "SPM may not write the boot section; LPM from the application may not read it"),
    LockMode(4, 0b01, "LPM executing from the application section may not read the boot section"),
)


@dataclass(frozen=True)
class Chip:
    name: str  # avr-gcc -mmcu name
    display: str
    flash_size: int
    page_size: int
    eeprom_size: int
    sram_size: int
    sram_start: int
    signature: tuple[int, int, int]
    fuses: tuple[FuseByte, ...]
    lock_factory: int
    lock_fields: tuple[str, ...]  # "LB", "BLB0", "BLB1" present on this part
    boot_sizes: tuple[BootSize, ...] = ()  # empty: no boot section (self-programming via SELFPRGEN)
    nrww_start: int | None = None  # None: no RWW/NRWW split, the CPU halts during every page operation
    page_erase_ms: float = 4.5
    page_write_ms: float = 4.5
    flash_endurance: int = 10_000
    eeprom_endurance: int = 100_000
    eeprom_write_ms: float = 3.4
    boot_fuse: str | None = None  # which fuse byte holds BOOTSZ/BOOTRST
    vector_count: int = 0
    vector_size: int = 4  # bytes per interrupt vector (JMP on >8 KB parts, RJMP otherwise)
    yasimavr_model: str | None = None
    boards: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # board name -> shipped fuses

    # -- derived facts -------------------------------------------------------------------------
    @property
    def flash_end(self) -> int:
        return self.flash_size - 1

    @property
    def eeprom_end(self) -> int:
        return self.eeprom_size - 1

    @property
    def ram_end(self) -> int:
        return self.sram_start + self.sram_size - 1

    @property
    def page_count(self) -> int:
        return self.flash_size // self.page_size

    @property
    def has_boot_section(self) -> bool:
        return bool(self.boot_sizes)

    @property
    def vector_table_bytes(self) -> int:
        return self.vector_count * self.vector_size

    def fuse(self, name: str) -> FuseByte:
        for f in self.fuses:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no {name}")

    def factory_fuses(self) -> dict[str, int]:
        out = {f.name: f.factory for f in self.fuses}
        out["lock"] = self.lock_factory
        return out

    def boot_size_for(self, nbytes: int) -> BootSize:
        """The smallest boot section that holds `nbytes`."""
        for bs in sorted(self.boot_sizes, key=lambda b: b.size):
            if bs.size >= nbytes:
                return bs
        raise SpareFlashError(f"{self.name}: no boot section holds {nbytes} bytes")

    def boot_size_by_code(self, code: int) -> BootSize:
        for bs in self.boot_sizes:
            if bs.code == code:
                return bs
        raise KeyError(code)

    def boot_size_from_fuses(self, fuses: Mapping[str, int]) -> BootSize | None:
        """The boot section the fuse bytes select, or None on a part without one."""
        if not self.boot_fuse:
            return None
        fb = self.fuse(self.boot_fuse)
        return self.boot_size_by_code(fb.field("BOOTSZ").get(fuses[self.boot_fuse]))

    def is_nrww(self, address: int) -> bool:
        return self.nrww_start is not None and address >= self.nrww_start

    def page_of(self, address: int) -> int:
        return address // self.page_size

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "display": self.display,
            "flash_size": self.flash_size,
            "page_size": self.page_size,
            "eeprom_size": self.eeprom_size,
            "sram_size": self.sram_size,
            "sram_start": self.sram_start,
            "flash_end": self.flash_end,
            "eeprom_end": self.eeprom_end,
            "ram_end": self.ram_end,
            "signature": [f"0x{b:02X}" for b in self.signature],
            "boot_sizes": [
                {"bootsz": f"{bs.code:02b}", "size": bs.size, "start": bs.start} for bs in self.boot_sizes
            ],
            "boot_fuse": self.boot_fuse,
            "rww": {"start": 0, "end": (self.nrww_start - 1) if self.nrww_start is not None else None},
            "nrww": {"start": self.nrww_start, "end": self.flash_end if self.nrww_start is not None else None},
            "fuses": {
                f.name: {
                    "factory": f"0x{f.factory:02X}",
                    "bits": {b.name: {"shift": b.shift, "width": b.width, "description": b.description}
                             for b in f.bits},
                }
                for f in self.fuses
            },
            "lock": {
                "factory": f"0x{self.lock_factory:02X}",
                "fields": list(self.lock_fields),
                "modes": {
                    name: [{"mode": m.mode, "bits": f"{m.bits:02b}", "description": m.description} for m in modes]
                    for name, modes in (("LB", LB_MODES), ("BLB0", BLB0_MODES), ("BLB1", BLB1_MODES))
                    if name in self.lock_fields
                },
            },
            "page_erase_ms": self.page_erase_ms,
            "page_write_ms": self.page_write_ms,
            "flash_endurance": self.flash_endurance,
            "eeprom_endurance": self.eeprom_endurance,
            "vector_table_bytes": self.vector_table_bytes,
            "boards": {k: dict(v) for k, v in self.boards.items()},
        }


# ---- fuse layouts ---------------------------------------------------------------------------------
def _clock_lfuse(factory: int) -> FuseByte:
    return FuseByte("lfuse", factory, (
        FuseBit("CKSEL", 0, 4, "clock source select"),
        FuseBit("SUT", 4, 2, "start-up time"),
        FuseBit("CKOUT", 6, 1, "clock output on CLKO (0 = programmed)"),
        FuseBit("CKDIV8", 7, 1, "divide clock by 8 (0 = programmed)"),
    ))


def _bootsz_bits() -> tuple[FuseBit, ...]:
    return (
        FuseBit("BOOTRST", 0, 1, "reset vector in the boot section (0 = programmed)"),
        FuseBit("BOOTSZ", 1, 2, "boot section size (11 = smallest)"),
    )


_RSTDISBL = FuseBit("RSTDISBL", 7, 1, "external reset disabled (0 = programmed; never program it)")
_DWEN = FuseBit("DWEN", 6, 1, "debugWIRE enabled (0 = programmed; disables ISP)")
_SPIEN = FuseBit("SPIEN", 5, 1, "serial programming enabled (0 = programmed; never unprogram it)")
_WDTON = FuseBit("WDTON", 4, 1, "watchdog always on (0 = programmed)")
_EESAVE = FuseBit("EESAVE", 3, 1, "EEPROM preserved through chip erase (0 = programmed)")
_OCDEN = FuseBit("OCDEN", 7, 1, "on-chip debug enabled (0 = programmed)")
_JTAGEN = FuseBit("JTAGEN", 6, 1, "JTAG enabled (0 = programmed)")


def _bodlevel(shift: int = 0) -> FuseBit:
    return FuseBit("BODLEVEL", shift, 3, "brown-out detector trigger level (111 = off)")


def _mega_x8_fuses(boot_in_efuse: bool, lf: int, hf: int, ef: int) -> tuple[FuseByte, ...]:
    """ATmega48/88/168/328 family. On 88/168 BOOTSZ/BOOTRST live in efuse; on 328 in hfuse."""
    if boot_in_efuse:
        hbits: tuple[FuseBit, ...] = (_RSTDISBL, _DWEN, _SPIEN, _WDTON, _EESAVE, _bodlevel(0))
        return (_clock_lfuse(lf), FuseByte("hfuse", hf, hbits), FuseByte("efuse", ef, _bootsz_bits(), 0xF8))
    hbits = (_RSTDISBL, _DWEN, _SPIEN, _WDTON, _EESAVE, *_bootsz_bits())
    return (_clock_lfuse(lf), FuseByte("hfuse", hf, hbits), FuseByte("efuse", ef, (_bodlevel(0),), 0xF8))


def _mega_jtag_fuses(lf: int, hf: int, ef: int, extra_ebits: tuple[FuseBit, ...] = ()) -> tuple[FuseByte, ...]:
    hbits = (_OCDEN, _JTAGEN, _SPIEN, _WDTON, _EESAVE, *_bootsz_bits())
    return (
        _clock_lfuse(lf),
        FuseByte("hfuse", hf, hbits),
        FuseByte("efuse", ef, (*extra_ebits, _bodlevel(0)), 0xF0 if extra_ebits else 0xF8),
    )


def _tiny_fuses(lf: int = 0x62, hf: int = 0xDF, ef: int = 0xFF) -> tuple[FuseByte, ...]:
    hbits = (_RSTDISBL, _DWEN, _SPIEN, _WDTON, _EESAVE, _bodlevel(0))
    ebits = (FuseBit("SELFPRGEN", 0, 1, "self-programming (SPM) enabled (0 = programmed)"),)
    return (_clock_lfuse(lf), FuseByte("hfuse", hf, hbits), FuseByte("efuse", ef, ebits, 0xFE))


def _boot_sizes(flash_size: int, smallest: int) -> tuple[BootSize, ...]:
    """BOOTSZ 11/10/01/00 select smallest, 2x, 4x, 8x the smallest size, at the top of flash."""
    out = []
    for i, code in enumerate((0b11, 0b10, 0b01, 0b00)):
        size = smallest << i
        out.append(BootSize(code, size, flash_size - size))
    return tuple(out)


_MEGA_LOCK = ("LB", "BLB0", "BLB1")

CHIPS: dict[str, Chip] = {}


def _add(chip: Chip) -> None:
    CHIPS[chip.name] = chip


_add(Chip(
    name="atmega328p", display="ATmega328P", flash_size=32768, page_size=128, eeprom_size=1024,
    sram_size=2048, sram_start=0x100, signature=(0x1E, 0x95, 0x0F),
    fuses=_mega_x8_fuses(False, 0x62, 0xD9, 0xFF), lock_factory=0xFF, lock_fields=_MEGA_LOCK,
    boot_sizes=_boot_sizes(32768, 512), nrww_start=0x7000, boot_fuse="hfuse",
    vector_count=26, vector_size=4, yasimavr_model="atmega328",
    boards={"uno": {"lfuse": 0xFF, "hfuse": 0xDE, "efuse": 0xFD, "lock": 0xCF},
            "nanoatmega328": {"lfuse": 0xFF, "hfuse": 0xDA, "efuse": 0xFD, "lock": 0xCF},
            "nanoatmega328new": {"lfuse": 0xFF, "hfuse": 0xDE, "efuse": 0xFD, "lock": 0xCF}},
))
_add(Chip(
    name="atmega168p", display="ATmega168P", flash_size=16384, page_size=128, eeprom_size=512,
    sram_size=1024, sram_start=0x100, signature=(0x1E, 0x94, 0x0B),
    fuses=_mega_x8_fuses(True, 0x62, 0xDF, 0xF9), lock_factory=0xFF, lock_fields=_MEGA_LOCK,
    boot_sizes=_boot_sizes(16384, 256), nrww_start=0x3800, boot_fuse="efuse",
    vector_count=26, vector_size=4, yasimavr_model="atmega168",
    boards={"pro16MHzatmega168": {"lfuse": 0xFF, "hfuse": 0xDD, "efuse": 0xF8, "lock": 0xCF}},
))
_add(Chip(
    name="atmega88p", display="ATmega88P", flash_size=8192, page_size=64, eeprom_size=512,
    sram_size=1024, sram_start=0x100, signature=(0x1E, 0x93, 0x0F),
    fuses=_mega_x8_fuses(True, 0x62, 0xDF, 0xF9), lock_factory=0xFF, lock_fields=_MEGA_LOCK,
    boot_sizes=_boot_sizes(8192, 256), nrww_start=0x1800, boot_fuse="efuse",
    vector_count=26, vector_size=2, yasimavr_model="atmega88",
))
_add(Chip(
    name="atmega2560", display="ATmega2560", flash_size=262144, page_size=256, eeprom_size=4096,
    sram_size=8192, sram_start=0x200, signature=(0x1E, 0x98, 0x01),
    fuses=_mega_jtag_fuses(0x62, 0x99, 0xFF), lock_factory=0xFF, lock_fields=_MEGA_LOCK,
    boot_sizes=_boot_sizes(262144, 1024), nrww_start=0x3E000, boot_fuse="hfuse",
    vector_count=57, vector_size=4,
    boards={"megaatmega2560": {"lfuse": 0xFF, "hfuse": 0xD8, "efuse": 0xFD, "lock": 0xCF}},
))
_add(Chip(
    name="atmega32u4", display="ATmega32U4", flash_size=32768, page_size=128, eeprom_size=1024,
    sram_size=2560, sram_start=0x100, signature=(0x1E, 0x95, 0x87),
    fuses=_mega_jtag_fuses(0x5E, 0x99, 0xF3, (FuseBit("HWBE", 3, 1, "hardware boot enable (0 = programmed)"),)),
    lock_factory=0xFF, lock_fields=_MEGA_LOCK,
    boot_sizes=_boot_sizes(32768, 512), nrww_start=0x7000, boot_fuse="hfuse",
    vector_count=43, vector_size=4,
    boards={"leonardo": {"lfuse": 0xFF, "hfuse": 0xD8, "efuse": 0xCB, "lock": 0xEF}},
))
# A bare tiny as the project builds it (board ids attiny85/45/25/84): the factory fuses with CKDIV8 unprogrammed, so
# the internal RC oscillator clocks the CPU at 8 MHz instead of the factory 1 MHz.
_TINY_BARE_BOARD = {"lfuse": 0xE2, "hfuse": 0xDF, "efuse": 0xFF, "lock": 0xFF}
for _name, _disp, _flash, _page, _ee, _sram, _sig in (
    ("attiny85", "ATtiny85", 8192, 64, 512, 512, (0x1E, 0x93, 0x0B)),
    ("attiny45", "ATtiny45", 4096, 64, 256, 256, (0x1E, 0x92, 0x06)),
    ("attiny25", "ATtiny25", 2048, 32, 128, 128, (0x1E, 0x91, 0x08)),
):
    _add(Chip(
        name=_name, display=_disp, flash_size=_flash, page_size=_page, eeprom_size=_ee,
        sram_size=_sram, sram_start=0x60, signature=_sig, fuses=_tiny_fuses(), lock_factory=0xFF,
        lock_fields=("LB",), vector_count=15, vector_size=2,
        yasimavr_model=None,
        boards={_name: _TINY_BARE_BOARD},
    ))
_add(Chip(
    name="attiny84", display="ATtiny84", flash_size=8192, page_size=64, eeprom_size=512, sram_size=512,
    sram_start=0x60, signature=(0x1E, 0x93, 0x0C), fuses=_tiny_fuses(), lock_factory=0xFF, lock_fields=("LB",),
    vector_count=17, vector_size=2, yasimavr_model=None,
    boards={"attiny84": _TINY_BARE_BOARD},
))


def get_chip(name: str) -> Chip:
    """Look a chip up by -mmcu name, case-insensitively; a clear error lists the known ones."""
    key = name.strip().lower()
    if key in CHIPS:
        return CHIPS[key]
    raise SpareFlashError(f"unknown MCU '{name}' (known: {', '.join(sorted(CHIPS))})")


def chip_for_signature(sig: tuple[int, int, int]) -> Chip | None:
    for c in CHIPS.values():
        if c.signature == tuple(sig):
            return c
    return None
