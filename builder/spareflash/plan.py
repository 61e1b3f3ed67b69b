"""The flash plan: where the reserved regions go and how the build is told.

A plan is computed from the chip model and a handful of user options, and is the only thing the PlatformIO
script, the Arduino hook, the verifier and the report need to agree on. See docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .chips import BootSize, Chip, get_chip
from .errors import SpareFlashError
from .fuses import BACKENDS, base_fuses, compute_fuses, default_backend

# The SpareFlash bootstub must fit here (issue budget: 64 bytes); the smallest boot section always holds it.
BOOTSTUB_MAX_BYTES = 64
# The overlay loader's page helper (library/src/overlay_bootpage.S, section .spareflash_bootpage) sits right after
# the bootstub's 64 bytes; it is only linked when the overlays are used, and only then counted in the boot
# section: stub + helper fit the ATmega328P's/32U4's smallest (512 bytes), so BOOTSZ does not change there; the
# ATmega168P/88P get 512 instead of 256 bytes when they have overlay slots.
BOOTPAGE_SECTION = ".spareflash_bootpage"
BOOTPAGE_MAX_BYTES = 256
# Bytes the supported bootloaders occupy at the top of flash when no hardware boot section is used.
BOOTLOADER_BYTES = {"optiboot": 512, "urboot": 512}


class PlanError(SpareFlashError):
    """A configuration that cannot be planned; the rule name starts the message."""


@dataclass(frozen=True)
class Region:
    name: str  # "storage", "log", "slots"
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size

    def overlaps(self, other: Region) -> bool:
        return self.size > 0 and other.size > 0 and self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class PlanConfig:
    mcu: str
    backend: str | None = None
    storage_bytes: int | None = None  # None: the default for the chip
    log_bytes: int = 0
    overlay_slots: int = 0
    slot_bytes: int = 0
    board: str | None = None

    def normalized(self) -> PlanConfig:
        chip = get_chip(self.mcu)
        storage = self.storage_bytes if self.storage_bytes is not None else default_storage_bytes(chip)
        return PlanConfig(chip.name, self.backend or default_backend(chip), storage, self.log_bytes,
                          self.overlay_slots, self.slot_bytes, self.board)


def check_board(config: PlanConfig) -> None:
    """A --board given on the command line must be one the chip model knows for that MCU.

    `plan` itself falls back to the chip's first board for names it does not know, because PlatformIO passes its
    own board ids (nanoatmega328, ...); a user who types --board must not get another board's fuses silently.
    """
    if config.board is None:
        return
    chip = get_chip(config.mcu)
    if config.board not in chip.boards:
        known = ", ".join(chip.boards) or "none"
        raise PlanError(f"board: '{config.board}' is not a known {chip.display} board (known: {known})")


def default_storage_bytes(chip: Chip) -> int:
    """4 KB on 32 KB+ parts (the size the storage benchmark uses), 1/8 of flash on the small ones."""
    return 4096 if chip.flash_size >= 32768 else max(4 * chip.page_size, chip.flash_size // 8)


V2_MAX_FLASH = 4096  # parts with at most this much flash use storage format 2 (Layout.storage_format)


def storage_format(chip: Chip) -> int:
    """See Layout.storage_format."""
    return 2 if chip.flash_size <= V2_MAX_FLASH else 1


@dataclass(frozen=True)
class Layout:
    chip: Chip
    backend: str
    storage: Region
    log: Region
    slots: Region
    slot_count: int
    slot_size: int
    boot: BootSize | None  # the boot section the fuses select (None on parts without one)
    boot_start: int  # first byte the app and regions may not use (bootloader or stub), flash size if none
    fuses: dict[str, int] = field(default_factory=dict)

    @property
    def storage_format(self) -> int:
        """The on-flash format of the storage region: 2 (docs/storage-format-v2.md) on parts with at most 4 KB of
        flash (ATtiny25/45), else 1 (docs/storage-format.md). The v1 engine does not fit those parts: it is ~4.8 KB
        of code against the ATtiny45's 3,584-byte and the ATtiny25's 1,792-byte application region, while the v2
        engine in assembly leaves 1,782 B and 2 B spare there (measured, docs/storage-format.md 5.10). Format 2 has
        no FlashLog and no FlashEEPROM."""
        return storage_format(self.chip)

    @property
    def regions(self) -> tuple[Region, ...]:
        return (self.storage, self.log, self.slots)

    @property
    def app_end(self) -> int:
        starts = [r.start for r in self.regions if r.size]
        return min(starts) if starts else self.boot_start

    @property
    def max_app_size(self) -> int:
        """What `upload.maximum_size` becomes: code + data must end below the first reserved byte."""
        return self.app_end

    @property
    def reserved_bytes(self) -> int:
        return sum(r.size for r in self.regions)

    def symbols(self) -> dict[str, int]:
        return {
            "__spareflash_app_end": self.app_end,
            "__spareflash_storage_start": self.storage.start,
            "__spareflash_storage_end": self.storage.end,
            "__spareflash_log_start": self.log.start,
            "__spareflash_log_end": self.log.end,
            "__spareflash_slots_start": self.slots.start,
            "__spareflash_slots_end": self.slots.end,
            "__spareflash_slot_size": self.slot_size,
            "__spareflash_boot_start": self.boot_start,
        }

    def linker_flags(self) -> list[str]:
        flags = [f"-Wl,--defsym={name}=0x{value:X}" for name, value in self.symbols().items()]
        if self.backend == "bootstub":
            flags.append(f"-Wl,--section-start=.spareflash_bootstub=0x{self.boot_start:X}")
            # (ld ignores the start of a section no object has: a build without overlays gets nothing there)
            flags.append(f"-Wl,--section-start={BOOTPAGE_SECTION}=0x{self.bootpage_start:X}")
        return flags

    @property
    def bootpage_start(self) -> int:
        """Where the overlay page helper goes (bootstub backend): directly after the bootstub's budget."""
        return self.boot_start + BOOTSTUB_MAX_BYTES

    def defines(self) -> list[str]:
        return [f"SPAREFLASH_BACKEND=SPAREFLASH_BACKEND_{self.backend.upper()}",
                f"SPAREFLASH_STORAGE_FORMAT={self.storage_format}"]

    def to_dict(self) -> dict[str, object]:
        return {
            "mcu": self.chip.name,
            "backend": self.backend,
            "app_end": self.app_end,
            "max_app_size": self.max_app_size,
            "boot_start": self.boot_start,
            "boot_size": self.boot.size if self.boot else 0,
            "regions": {r.name: {"start": r.start, "size": r.size, "end": r.end} for r in self.regions},
            "slot_count": self.slot_count,
            "slot_size": self.slot_size,
            "symbols": self.symbols(),
            "fuses": {k: f"0x{v:02X}" for k, v in self.fuses.items()},
        }


def _check_size(chip: Chip, name: str, size: int) -> None:
    if size < 0:
        raise PlanError(f"region-size: {name} size {size} is negative")
    if size % chip.page_size:
        raise PlanError(f"region-alignment: {name} size {size} is not a multiple of the "
                        f"{chip.display} page size ({chip.page_size} bytes)")


def plan(config: PlanConfig) -> Layout:
    """Place the regions top-down below the boot section; raise PlanError with a rule name if impossible."""
    cfg = config.normalized()
    chip = get_chip(cfg.mcu)
    backend = cfg.backend
    assert backend is not None and cfg.storage_bytes is not None
    if backend not in BACKENDS:
        raise PlanError(f"backend: unknown backend '{backend}' (choose from {', '.join(BACKENDS)})")
    if backend == "direct" and chip.has_boot_section:
        raise PlanError(f"backend: 'direct' SPM only works on parts without a boot section, not {chip.display}")
    if backend != "direct" and not chip.has_boot_section:
        raise PlanError(f"backend: {chip.display} has no boot section; use backend 'direct' (SELFPRGEN)")
    if cfg.overlay_slots < 0:
        raise PlanError(f"region-size: overlay slot count {cfg.overlay_slots} is negative")
    _check_size(chip, "storage", cfg.storage_bytes)
    _check_size(chip, "log", cfg.log_bytes)
    _check_size(chip, "overlay slot", cfg.slot_bytes)
    if cfg.log_bytes and storage_format(chip) == 2:
        raise PlanError(f"log-unsupported: {chip.display} uses storage format 2, which has no FlashLog; "
                        "plan no log region")
    if cfg.overlay_slots and not cfg.slot_bytes:
        raise PlanError("region-size: overlay slots need a slot size")
    if cfg.storage_bytes and cfg.storage_bytes < 2 * chip.page_size:
        raise PlanError(f"region-size: storage needs at least 2 pages ({2 * chip.page_size} bytes) to move "
                        "live records during garbage collection")

    boot: BootSize | None = None
    if backend == "bootstub":
        boot = chip.boot_size_for(BOOTSTUB_MAX_BYTES + (BOOTPAGE_MAX_BYTES if cfg.overlay_slots else 0))
        boot_start = boot.start
    elif backend in BOOTLOADER_BYTES:
        # The bootloader keeps the board's fuses, so the regions must sit below the boot section *those* fuses
        # select (the Mega's stock fuses select 8 KB): BLB1 locks that whole section against SPM writes.
        boot = chip.boot_size_for(BOOTLOADER_BYTES[backend])
        shipped = chip.boot_size_from_fuses(base_fuses(chip, cfg.board))
        if shipped is not None and shipped.size > boot.size:
            boot = shipped
        boot_start = boot.start
    else:
        boot_start = chip.flash_size

    top = boot_start
    slots_size = cfg.overlay_slots * cfg.slot_bytes
    slots = Region("slots", top - slots_size, slots_size)
    top = slots.start
    log = Region("log", top - cfg.log_bytes, cfg.log_bytes)
    top = log.start
    storage = Region("storage", top - cfg.storage_bytes, cfg.storage_bytes)
    app_end = min((r.start for r in (storage, log, slots) if r.size), default=boot_start)
    minimum_app = chip.vector_table_bytes + 256
    if app_end < minimum_app:
        raise PlanError(f"region-fit: the regions ({storage.size + log.size + slots.size} bytes) leave "
                        f"{max(app_end, 0)} bytes for the application on {chip.display}, less than {minimum_app}")

    fuses = compute_fuses(chip, backend, boot.code if (boot and backend == "bootstub") else None,
                          base=base_fuses(chip, cfg.board))
    return Layout(chip, backend, storage, log, slots, cfg.overlay_slots, cfg.slot_bytes, boot, boot_start, fuses)

