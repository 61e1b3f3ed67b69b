"""The memory report: where an image's bytes go in flash, RAM and EEPROM, the fuses decoded, the largest symbols.

`build_report(image_path, layout)` returns a `Report`; `.render(console, compact)` prints it with rich (compact:
three lines, for every build), `.to_dict()` is the JSON form of `spareflash report --json`.

The storage region's row names its format (the plan's `storage_format`: 1, or 2 on parts with at most 4 KB of
flash), and a seeded region is read by that format's Python twin: which keys the first boot finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .chips import BLB0_MODES, BLB1_MODES, LB_MODES, Chip
from .fuses import FUSE_NAMES, decode_fuses
from .image import EEPROM_BASE, RAM_BASE, FirmwareImage, load_image
from .plan import Layout
from .verify import effective_fuses, stack_margin

BAR_WIDTH = 16
STORAGE_LABEL = "FlashStorage"
TOP_SYMBOLS = 10


@dataclass(frozen=True)
class RegionUse:
    name: str  # "application", "free", "storage", "log", "overlay slots", "bootstub"/"bootloader"/"boot section"
    start: int
    size: int
    used: int  # bytes the image writes there (non-erased for reserved regions)

    @property
    def end(self) -> int:
        return self.start + self.size

    def to_dict(self) -> dict[str, int | str]:
        return {"name": self.name, "start": self.start, "end": self.end, "size": self.size, "used": self.used}


@dataclass(frozen=True)
class SymbolUse:
    name: str
    size: int
    kind: str  # "code", "data", "ram"
    address: int

    def to_dict(self) -> dict[str, int | str]:
        return {"name": self.name, "size": self.size, "kind": self.kind, "address": self.address}


def fuse_description(chip: Chip, fuses: Mapping[str, int]) -> dict[str, dict[str, object]]:
    """{byte: {"value": "0xNN", "fields": {field: {"value", "bits", "description"}}}} in the chip's fuse layout."""
    decoded = decode_fuses(chip, fuses)
    out: dict[str, dict[str, object]] = {}
    for fb in chip.fuses:
        if fb.name not in fuses:
            continue
        out[fb.name] = {
            "value": f"0x{fuses[fb.name]:02X}",
            "fields": {b.name: {"value": decoded[fb.name][b.name], "bits": f"{decoded[fb.name][b.name]:0{b.width}b}",
                                "description": b.description} for b in fb.bits},
        }
    if "lock" in fuses:
        modes = {"LB": LB_MODES, "BLB0": BLB0_MODES, "BLB1": BLB1_MODES}
        fields: dict[str, dict[str, object]] = {}
        for name, value in decoded["lock"].items():
            mode = next((m for m in modes[name] if m.bits == value), None)
            fields[name] = {"value": value, "bits": f"{value:02b}",
                            "description": f"mode {mode.mode}: {mode.description}" if mode else "reserved"}
        out["lock"] = {"value": f"0x{fuses['lock']:02X}", "fields": fields}
    return out


def _bar(used: int, size: int, width: int = BAR_WIDTH) -> Text:
    if size <= 0:
        return Text("")
    filled = min(width, round(width * used / size)) if used else 0
    if used and not filled:
        filled = 1
    pct = used / size
    color = "green" if pct < 0.75 else "yellow" if pct < 0.95 else "red"
    return Text("█" * filled, style=color) + Text("░" * (width - filled), style="dim")


@dataclass(frozen=True)
class StorageContent:
    """What the image puts into the storage region, read by the twin of its format (spareflash.storage)."""

    format: int
    state: str  # "erased", "seeded", or "invalid" (verify's region-dirty says why)
    values: dict[int, str] = field(default_factory=dict)  # key -> value (hex), a seeded region only
    problem: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"format": self.format, "state": self.state, "values": {str(k): v for k, v in self.values.items()},
                "problem": self.problem}

    def describe(self, compact: bool) -> str:
        if self.state == "erased":
            return f"format {self.format}, erased" if compact else \
                f"format {self.format}, erased: the first boot finds an empty store"
        if self.state == "invalid":
            return f"format {self.format}, not a valid seeded region" + ("" if compact else f": {self.problem}")
        keys = ", ".join(str(k) for k in self.values)
        if compact:
            return f"format {self.format}, seeded with {len(self.values)} key(s)"
        return f"format {self.format}, seeded: the first boot finds key(s) {keys or 'none'}"


def storage_content(layout: Layout, flash: bytes | bytearray) -> StorageContent | None:
    r = layout.storage
    if not r.size:
        return None
    data = bytes(flash[r.start:r.end])
    fmt = layout.storage_format
    if data == b"\xff" * r.size:
        return StorageContent(fmt, "erased")
    from .storage import decode_storage, validate_region  # imported late: only a seeded image needs the twin

    problem = validate_region("storage", data, layout)
    if problem is not None:
        return StorageContent(fmt, "invalid", problem=problem)
    values = decode_storage(data, layout.chip.page_size, fmt)["values"]
    return StorageContent(fmt, "seeded", dict(sorted(values.items())))


@dataclass
class Report:
    image: str
    kind: str
    layout: Layout
    flash: list[RegionUse]
    app_used: int
    ram: dict[str, int]
    eeprom_used: int
    fuses: dict[str, int]
    symbols: list[SymbolUse] = field(default_factory=list)
    storage: StorageContent | None = None

    @property
    def chip(self) -> Chip:
        return self.layout.chip

    def to_dict(self) -> dict[str, object]:
        chip = self.chip
        return {
            "image": self.image,
            "kind": self.kind,
            "mcu": chip.name,
            "backend": self.layout.backend,
            "flash": {"size": chip.flash_size, "app_used": self.app_used, "max_app_size": self.layout.max_app_size,
                      "regions": [r.to_dict() for r in self.flash]},
            "ram": dict(self.ram),
            "eeprom": {"size": chip.eeprom_size, "used": self.eeprom_used},
            "fuses": {k: f"0x{v:02X}" for k, v in self.fuses.items()},
            "fuses_decoded": fuse_description(chip, self.fuses),
            "largest_symbols": [s.to_dict() for s in self.symbols],
            "storage": self.storage.to_dict() if self.storage else None,
        }

    def render(self, console: Console, compact: bool = False) -> None:
        chip, lay = self.chip, self.layout
        ram_total = self.ram.get("data", 0) + self.ram.get("bss", 0) + self.ram.get("noinit", 0)
        if compact:
            app_pct = 100 * self.app_used / max(1, lay.max_app_size)
            reserved = ", ".join(f"{r.name} {r.size} B @0x{r.start:X}" + (
                f" ({self.storage.describe(compact=True)})" if r.name == STORAGE_LABEL and self.storage else "")
                for r in self.flash if r.name not in ("application", "free") and r.size)
            lines = [f"SpareFlash {chip.display} ({lay.backend}): flash {self.app_used}/{lay.max_app_size} B "
                     f"({app_pct:.1f}%) for the application; reserved: {reserved or 'none'}"]
            ram = (f"RAM {ram_total}/{chip.sram_size} B (.data {self.ram.get('data', 0)}, .bss "
                   f"{self.ram.get('bss', 0)}; {stack_margin(chip)} B kept for the stack)" if self.kind == "elf"
                   else "RAM unknown (HEX image)")
            lines.append(f"{ram}; EEPROM {self.eeprom_used}/{chip.eeprom_size} B")
            lines.append("fuses " + "  ".join(f"{k}=0x{v:02X}" for k, v in self.fuses.items()))
            for line in lines:  # one line each, never wrapped: build logs are grepped
                console.print(line, soft_wrap=True, markup=False, highlight=False)
            return
        t = Table(title=f"{chip.display} flash ({chip.flash_size} B, {chip.page_size}-byte pages) - {self.image}")
        for col, just in (("region", "left"), ("start", "right"), ("end", "right"), ("size", "right"),
                          ("used", "right"), ("", "left")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in self.flash:
            t.add_row(r.name, f"0x{r.start:05X}", f"0x{r.end:05X}", str(r.size), str(r.used), _bar(r.used, r.size))
        console.print(t)
        if self.storage:
            style = "red" if self.storage.state == "invalid" else ""
            console.print(Text(f"{STORAGE_LABEL}: {self.storage.describe(compact=False)}", style=style))
        m = Table(title="RAM and EEPROM")
        for col in ("memory", "used", "size", ""):
            m.add_column(col)
        if self.kind == "elf":
            m.add_row("SRAM (.data+.bss+.noinit)", str(ram_total), str(chip.sram_size), _bar(ram_total, chip.sram_size))
            m.add_row(f"  free for the stack (keep >= {stack_margin(chip)})", str(chip.sram_size - ram_total), "", "")
        else:
            m.add_row("SRAM", "unknown (HEX)", str(chip.sram_size), "")
        m.add_row("EEPROM", str(self.eeprom_used), str(chip.eeprom_size), _bar(self.eeprom_used, chip.eeprom_size))
        console.print(m)
        f = Table(title="fuses")
        for col in ("byte", "field", "bits", "meaning"):
            f.add_column(col)
        for byte, info in fuse_description(chip, self.fuses).items():
            fields = info["fields"]
            assert isinstance(fields, dict)
            for i, (name, fd) in enumerate(fields.items()):
                f.add_row(f"{byte} {info['value']}" if i == 0 else "", name, str(fd["bits"]), str(fd["description"]))
        console.print(f)
        if self.symbols:
            s = Table(title=f"largest {len(self.symbols)} symbols")
            for col in ("symbol", "kind", "address", "size"):
                s.add_column(col)
            for sym in self.symbols:
                s.add_row(sym.name, sym.kind, f"0x{sym.address:X}", str(sym.size))
            console.print(s)


def build_report_loaded(img: FirmwareImage, layout: Layout, fuses: Mapping[str, int] | None = None) -> Report:
    chip = layout.chip
    flash = img.flash(chip.flash_size)

    def nonerased(lo: int, hi: int) -> int:
        seg = flash[lo:hi]
        return len(seg) - seg.count(0xFF)

    # Application use: every flash byte the image writes below app_end (erased-looking 0xFF bytes included).
    app_used = sum(max(0, min(c.end, layout.app_end) - c.start) for c in img.chunks if c.start < layout.app_end)
    app_top = max((min(c.end, layout.app_end) for c in img.chunks if c.start < layout.app_end), default=0)
    rows = [RegionUse("application", 0, app_top, app_used), RegionUse("free", app_top, layout.app_end - app_top, 0)]
    labels = {"storage": STORAGE_LABEL, "log": "FlashLog", "slots": f"overlay slots ({layout.slot_count} x "
              f"{layout.slot_size})"}
    for r in sorted((r for r in layout.regions if r.size), key=lambda r: r.start):
        rows.append(RegionUse(labels[r.name], r.start, r.size, nonerased(r.start, r.end)))
    if layout.boot_start < chip.flash_size:
        name = {"bootstub": "bootstub"}.get(layout.backend, f"{layout.backend} bootloader")
        rows.append(RegionUse(name, layout.boot_start, chip.flash_size - layout.boot_start,
                              nonerased(layout.boot_start, chip.flash_size)))
    ram: dict[str, int] = {}
    for s in img.sections:
        if s.alloc and RAM_BASE <= s.vma < EEPROM_BASE and s.size:
            key = s.name.lstrip(".").split(".")[0]
            ram[key] = ram.get(key, 0) + s.size
    eeprom_used = sum(len(c.data) for c in img.eeprom)
    syms: list[SymbolUse] = []
    for sym in img.symbols:
        if sym.size and sym.kind in ("STT_FUNC", "STT_OBJECT"):
            sec = img.section_by_index(sym.section_index)
            if sec is None or (sec.vma >= EEPROM_BASE and sec.name != ".eeprom"):
                continue  # __fuse, __lock, __signature are not memory use
            kind = "code" if sec.exec else "ram" if RAM_BASE <= sec.vma < EEPROM_BASE else "data"
            syms.append(SymbolUse(sym.name, sym.size, kind, sym.value))
    syms.sort(key=lambda s: (-s.size, s.name))
    eff = effective_fuses(img, layout, fuses)
    eff = {k: eff[k] for k in FUSE_NAMES if k in eff}
    return Report(str(img.path), img.kind, layout, rows, app_used, ram, eeprom_used, eff, syms[:TOP_SYMBOLS],
                  storage_content(layout, flash))


def build_report(image_path: str | Path, layout: Layout, *, fuses: Mapping[str, int] | None = None) -> Report:
    """Report on an ELF or HEX placed by `layout`; raises ImageError (SpareFlashError) for unreadable input."""
    return build_report_loaded(load_image(image_path), layout, fuses)
