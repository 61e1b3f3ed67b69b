"""Image verification: named rules that an ELF or Intel HEX must pass against the flash plan.

`verify_image(path, layout, fuses=None)` loads the image (spareflash.image), builds the page model of the chip's
flash and runs every rule that the image type allows (a HEX has no sections or symbols). Each violation carries a
short rule name; docs/verification.md lists them all with the reasoning behind each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .chips import BootSize, Chip
from .fuses import check_fuses
from .image import (
    EEPROM_BASE,
    FUSE_BASE,
    LOCK_BASE,
    RAM_BASE,
    SIGNATURE_BASE,
    Chunk,
    FirmwareImage,
    Section,
    load_image,
    spm_addresses,
)
from .plan import BOOTPAGE_SECTION, Layout, Region

# Prefixes of the function symbols that may hold SPM with the `direct` backend (ATtiny): the library's flash
# routines (`sf_flash_*` in library/src) and anything the plan names `__spareflash_*`.
DIRECT_SPM_SYMBOL_PREFIXES = ("sf_", "__spareflash")
# A section the backends may put their SPM routine into; SPM there is the library's by construction.
DIRECT_SPM_SECTION = ".spareflash_spm"
# A HEX has no symbols: with `direct`, all SPM opcodes must sit inside one window this big (one small routine).
DIRECT_SPM_HEX_WINDOW = 64
STUB_SECTION = ".spareflash_bootstub"
# the overlay loader's page helper (plan.BOOTPAGE_SECTION): boot-section code like the stub, with the same rules
BOOT_CODE_SECTIONS = {STUB_SECTION: "bootstub", BOOTPAGE_SECTION: "overlay page helper"}


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


@dataclass
class VerifyResult:
    image: str
    kind: str
    mcu: str
    backend: str
    violations: list[Violation] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # rule groups that ran (a HEX skips the ELF-only ones)
    fuses: dict[str, int] = field(default_factory=dict)  # the fuse set that was checked

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def rules(self) -> list[str]:
        return [v.rule for v in self.violations]

    def to_dict(self) -> dict[str, object]:
        return {
            "image": self.image,
            "kind": self.kind,
            "mcu": self.mcu,
            "backend": self.backend,
            "ok": self.ok,
            "violations": [v.to_dict() for v in self.violations],
            "checked": list(self.checked),
            "fuses": {k: f"0x{v:02X}" for k, v in self.fuses.items()},
        }


# ---- facts derived from the chip model -------------------------------------------------------------------------
def stack_margin(chip: Chip) -> int:
    """RAM that .data + .bss must leave free for the stack: 1/16 of SRAM, at least 64 bytes.

    ATmega328P: 128 bytes, ATmega2560: 512, ATmega32U4: 160, ATtiny85: 64. An Arduino sketch's call chain with
    an interrupt frame needs about 60-100 bytes; less free RAM than this fails at run time, not at link time.
    """
    return max(64, chip.sram_size // 16)


def expected_arch(chip: Chip) -> int:
    """The avr-gcc architecture (ELF e_flags & 0x7F) the chip's -mmcu selects, derived from the chip model.

    > 128 KB flash needs EIND (avr6); > 8 KB needs JMP/CALL (avr5, all supported parts have MUL); the small
    megas with a boot section are avr4, the tinys without one avr25. tests/test_verify.py checks this against
    avr-gcc for every chip in chips.py.
    """
    if chip.flash_size > 128 * 1024:
        return 6
    if chip.flash_size > 8 * 1024:
        return 5
    return 4 if chip.has_boot_section else 25


def effective_fuses(image: FirmwareImage, layout: Layout, fuses: Mapping[str, int] | None) -> dict[str, int]:
    """The fuses the chip will run with: the plan's, overridden by the ELF's .fuse/.lock, overridden by `fuses`."""
    out = dict(layout.fuses)
    out.update(image.fuses())
    if fuses:
        out.update({k: int(v) for k, v in fuses.items()})
    return out


# ---- the rules -------------------------------------------------------------------------------------------------
class _Checker:
    def __init__(self, image: FirmwareImage, layout: Layout, fuses: dict[str, int]) -> None:
        self.img = image
        self.layout = layout
        self.chip = layout.chip
        self.fuses = fuses
        self.violations: list[Violation] = []
        self.flash = image.flash(self.chip.flash_size)
        self.boot: BootSize | None = None
        self.boot_start = layout.boot_start  # the boot section the *fuses* imply (set by check_fuse_rules)
        self._seed: dict[str, str | None] = {}

    def seed_reason(self, r: Region) -> str | None:
        """None if the region is erased or a valid seeded image (the validator runs once per region)."""
        if r.name not in self._seed:
            data = bytes(self.flash[r.start:r.end])
            self._seed[r.name] = None if data == b"\xff" * r.size else _validate_seed(r, data, self.layout)
        return self._seed[r.name]

    def add(self, rule: str, message: str) -> None:
        self.violations.append(Violation(rule, message))

    # -- layout ------------------------------------------------------------------------------------------------
    def check_layout(self) -> None:
        lay, chip = self.layout, self.chip
        regions = [r for r in lay.regions if r.size]
        for r in regions:
            if r.start % chip.page_size or r.size % chip.page_size:
                self.add("region-alignment", f"{r.name} region 0x{r.start:X}-0x{r.end:X} is not aligned to the "
                         f"{chip.page_size}-byte pages of the {chip.display}; erasing it would erase other bytes")
            if r.start < 0 or r.end > lay.boot_start:
                self.add("region-bounds", f"{r.name} region 0x{r.start:X}-0x{r.end:X} is outside "
                         f"0x0-0x{lay.boot_start:X} (flash below the boot section)")
        for i, a in enumerate(regions):
            for b in regions[i + 1:]:
                if a.overlaps(b):
                    self.add("region-overlap", f"{a.name} region 0x{a.start:X}-0x{a.end:X} overlaps the {b.name} "
                             f"region 0x{b.start:X}-0x{b.end:X}")
        if lay.slot_count and lay.slots.size != lay.slot_count * lay.slot_size:
            self.add("region-overlap", f"slots region is {lay.slots.size} bytes, not {lay.slot_count} x "
                     f"{lay.slot_size}")
        if lay.app_end < chip.vector_table_bytes:
            self.add("region-overlap", f"the reserved regions start at 0x{lay.app_end:X}, inside the vector table")

    # -- MCU ---------------------------------------------------------------------------------------------------
    def check_mcu(self) -> None:
        img, chip = self.img, self.chip
        di = img.device_info
        if di is not None and di.name and di.name.lower() != chip.name:
            self.add("mcu-mismatch", f"{img.path.name} was built for {di.name}, not {chip.name}")
            return
        if di is not None and di.flash_size and di.flash_size != chip.flash_size:
            self.add("mcu-mismatch", f"{img.path.name} was built for a part with {di.flash_size} bytes of flash, "
                     f"the {chip.display} has {chip.flash_size}")
            return
        if img.machine_arch is not None and img.machine_arch != expected_arch(chip):
            self.add("mcu-mismatch", f"{img.path.name} is avr:{img.machine_arch} code, the {chip.display} needs "
                     f"avr:{expected_arch(chip)}")
            return
        if img.signature is not None and tuple(img.signature) != chip.signature:
            sig = " ".join(f"{b:02X}" for b in img.signature)
            self.add("mcu-mismatch", f"{img.path.name} carries device signature {sig}, the {chip.display} has "
                     f"{' '.join(f'{b:02X}' for b in chip.signature)}")

    # -- fuses -------------------------------------------------------------------------------------------------
    def check_fuse_rules(self) -> None:
        chip, lay = self.chip, self.layout
        for problem in check_fuses(chip, self.fuses, lay.backend):
            rule, _, msg = problem.partition(": ")
            self.add(rule, msg)
        if not chip.has_boot_section or not chip.boot_fuse or chip.boot_fuse not in self.fuses:
            return
        try:
            self.boot = chip.boot_size_from_fuses(self.fuses)
        except KeyError:
            return
        if self.boot is None:
            return
        self.boot_start = self.boot.start
        if lay.backend == "bootstub" and self.boot.start > lay.boot_start:
            self.add("stub-outside-boot", f"the fuses select a {self.boot.size}-byte boot section from "
                     f"0x{self.boot.start:X}, but the plan puts the bootstub at 0x{lay.boot_start:X}, below it: the "
                     "chip would refuse its SPM")
        elif lay.backend in ("optiboot", "urboot") and self.boot.start > lay.boot_start:
            self.add("fuse-bootsz", f"the fuses select a {self.boot.size}-byte boot section from "
                     f"0x{self.boot.start:X}; the plan reserves 0x{lay.boot_start:X}- for the {lay.backend} bootloader")
        for r in lay.regions:
            if r.size and r.end > self.boot.start:
                self.add("region-in-boot", f"{r.name} region 0x{r.start:X}-0x{r.end:X} lies in the boot section "
                         f"(from 0x{self.boot.start:X}) the fuses select; its pages are locked to SPM (BLB1)")

    # -- where the bytes go ------------------------------------------------------------------------------------
    def check_placement(self) -> None:
        img, lay, chip = self.img, self.layout, self.chip
        app_end = lay.app_end
        # A HEX merges adjacent records: an application that fills its region to the last byte and the boot code
        # right after it (a merged image with the stub or bootloader, no regions between) are one run of bytes.
        chunks = img.chunks if img.is_elf else _split_at(img.chunks, lay.boot_start)
        for c in chunks:
            if c.end > chip.flash_size:
                space = _address_space(c.start)
                hint = (f" (avr-objcopy's {space} address space: build the HEX with -R {space}: a flash "
                        "upload expects flash bytes only)" if space else "")
                self.add("image-outside-flash", f"{c.section or 'data'} 0x{c.start:X}-0x{c.end:X} is beyond the "
                         f"end of the {chip.display}'s flash (0x{chip.flash_size:X}){hint}")
                continue
            if c.section in BOOT_CODE_SECTIONS:
                self._check_stub(c.start, c.end, c.section)
                continue
            if c.end <= app_end:
                continue
            if c.start < app_end:
                if not img.is_elf and self._hex_seed_follows_app(c.end):
                    continue  # a HEX merges the app and a seeded/erased region that follows it directly
                what = f"section {c.section}" if c.section else "the image"
                self.add("app-overflow", f"{what} runs from 0x{c.start:X} to 0x{c.end:X}, past the end of the "
                         f"application region (0x{app_end:X}, max {lay.max_app_size} bytes) into "
                         f"{self._what_is(app_end)}")
            elif c.start >= lay.boot_start:
                # A HEX may be a merged image that carries the bootloader or stub; an ELF's own code has no
                # business there (the stub has its own section).
                if img.is_elf:
                    self.add("app-overflow", f"section {c.section} at 0x{c.start:X}-0x{c.end:X} is in the boot "
                             f"section (from 0x{lay.boot_start:X}), reserved for the {lay.backend}")
            elif not any(r.size and r.start <= c.start < r.end for r in lay.regions):
                self.add("app-overflow", f"{c.section or 'data'} at 0x{c.start:X}-0x{c.end:X} is above the "
                         f"application region (0x{app_end:X})")
            # bytes inside a region are judged by check_regions (a seeded storage image is allowed)

    def _hex_seed_follows_app(self, end: int) -> bool:
        """True if everything a HEX chunk writes past app_end lies in regions that pass check_regions."""
        pos = self.layout.app_end
        for r in sorted((r for r in self.layout.regions if r.size), key=lambda r: r.start):
            if pos >= end:
                break
            if r.start != pos:
                return False
            if self.seed_reason(r) is not None:
                return False
            pos = r.end
        return pos >= end

    def _what_is(self, addr: int) -> str:
        for r in self.layout.regions:
            if r.size and r.start <= addr < r.end:
                return f"the {r.name} region"
        return "the boot section"

    def _check_stub(self, start: int, end: int, section: str = STUB_SECTION) -> None:
        lay = self.layout
        if lay.backend != "bootstub":
            self.add("stub-outside-boot", f"the image has a {section} at 0x{start:X} but the backend is "
                     f"{lay.backend}: the boot section belongs to the bootloader")
            return
        lo = max(self.boot_start, lay.boot_start)
        if start < lo or end > self.chip.flash_size:
            self.add("stub-outside-boot", f"the {BOOT_CODE_SECTIONS[section]} at 0x{start:X}-0x{end:X} is not "
                     f"inside the boot section 0x{lo:X}-0x{self.chip.flash_size:X}; SPM from there is refused")

    def check_regions(self) -> None:
        lay = self.layout
        for r in lay.regions:
            if not r.size or r.end > self.chip.flash_size or r.start < 0:
                continue
            reason = self.seed_reason(r)
            if reason is None:
                continue
            data = self.flash[r.start:r.end]
            first = next(i for i, b in enumerate(data) if b != 0xFF)
            self.add("region-dirty", f"{r.name} region 0x{r.start:X}-0x{r.end:X} holds data from "
                     f"0x{r.start + first:X} that is not a valid erased/seeded region ({reason})")

    # -- SPM ---------------------------------------------------------------------------------------------------
    def check_spm(self) -> None:
        lay, img = self.layout, self.img
        hits: list[tuple[int, int]] = []
        if img.is_elf:
            for s in img.sections:
                if s.in_flash and s.exec and not s.is_overlay and s.lma < self.chip.flash_size:
                    hits += spm_addresses(self.flash, s.lma, s.lma + s.size)
            for c in img.overlay_chunks:
                hits += [(c.start + a, op) for a, op in spm_addresses(c.data)]
        else:
            for c in img.chunks:
                hits += spm_addresses(self.flash, c.start, min(c.end, self.chip.flash_size))
        hits.sort()
        if lay.backend == "direct":
            self._check_direct_spm(hits)
            return
        boot_lo = max(self.boot_start, lay.boot_start)
        outside = [(a, op) for a, op in hits if a < boot_lo]
        if outside:
            where = ", ".join(f"0x{a:X}" for a, _ in outside[:4]) + (" ..." if len(outside) > 4 else "")
            why = ("SPM only works from the boot section" if lay.backend == "bootstub"
                   else f"with the {lay.backend} backend every SPM goes through the bootloader")
            self.add("spm-in-app", f"{len(outside)} SPM instruction(s) outside the boot section (from 0x{boot_lo:X}) "
                     f"at {where}: {why}")

    def _check_direct_spm(self, hits: list[tuple[int, int]]) -> None:
        if not hits:
            return
        if self.img.is_elf:
            allowed: list[tuple[int, int]] = []
            for sym in self.img.symbols:
                if sym.kind == "STT_FUNC" and sym.size and sym.name.startswith(DIRECT_SPM_SYMBOL_PREFIXES):
                    allowed.append((sym.value, sym.value + sym.size))
            sec = self.img.section(DIRECT_SPM_SECTION)
            if sec is not None:
                allowed.append((sec.lma, sec.lma + sec.size))
            bad = [a for a, _ in hits if not any(lo <= a < hi for lo, hi in allowed)]
            if bad:
                self.add("spm-in-app", f"SPM at {', '.join(f'0x{a:X}' for a in bad[:4])} is outside the library's "
                         f"flash routine (functions {'/'.join(DIRECT_SPM_SYMBOL_PREFIXES)}*, section "
                         f"{DIRECT_SPM_SECTION})")
            return
        lo, hi = hits[0][0], hits[-1][0]
        if hi - lo >= DIRECT_SPM_HEX_WINDOW:
            self.add("spm-in-app", f"SPM instructions spread over 0x{lo:X}-0x{hi:X}: with the direct backend only "
                     f"the library's routine (one {DIRECT_SPM_HEX_WINDOW}-byte window) may use SPM")

    # -- vector table ------------------------------------------------------------------------------------------
    def check_vectors(self) -> None:
        chip, fl = self.chip, self.flash
        n, size = chip.vector_count, chip.vector_size
        bad: list[str] = []
        for i in range(n):
            a = i * size
            w0 = fl[a] | (fl[a + 1] << 8)
            target: int | None = None
            if size == 4 and (w0 & 0xFE0E) == 0x940C:  # JMP k
                w1 = fl[a + 2] | (fl[a + 3] << 8)
                target = ((((w0 & 0x01F0) >> 3) | (w0 & 1)) << 16 | w1) * 2
            elif (w0 & 0xF000) == 0xC000:  # RJMP k (relative, in words)
                k = w0 & 0x0FFF
                if k & 0x800:
                    k -= 0x1000
                target = a + 2 + 2 * k
                if chip.flash_size <= 8192:
                    target %= chip.flash_size  # RJMP wraps around on parts with <= 8 KB flash
            if target is None:
                bad.append(f"vector {i} at 0x{a:X} is 0x{w0:04X}, not a JMP/RJMP")
            elif not 0 <= target < chip.flash_size:
                bad.append(f"vector {i} at 0x{a:X} jumps to 0x{target:X}, outside flash")
            elif any(r.size and r.start <= target < r.end for r in self.layout.regions):
                bad.append(f"vector {i} at 0x{a:X} jumps to 0x{target:X}, inside a reserved region")
        if bad:
            self.add("vector-table", "; ".join(bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""))

    # -- overlays (ELF) ----------------------------------------------------------------------------------------
    def check_overlays(self) -> None:
        img, lay, chip = self.img, self.layout, self.chip
        ovl = [s for s in img.sections if s.is_overlay and s.alloc and s.size]
        header = _slot_header_size() if ovl else 0
        for s in ovl:
            if not lay.slot_count or not lay.slot_size:
                self.add("overlay-slot", f"{s.name} exists but the plan has no overlay slots")
                continue
            idx = (s.vma - lay.slots.start) // lay.slot_size
            lo = lay.slots.start + idx * lay.slot_size
            if not (0 <= idx < lay.slot_count and s.vma >= lo + header and s.vma + s.size <= lo + lay.slot_size):
                self.add("overlay-slot", f"{s.name} is linked at 0x{s.vma:X}-0x{s.vma + s.size:X}, not inside one "
                         f"of the {lay.slot_count} slot(s) of {lay.slot_size} bytes from 0x{lay.slots.start:X} "
                         f"(after the {header}-byte slot header)")
            if s.lma < chip.flash_size:
                self.add("overlay-slot", f"{s.name} has load address 0x{s.lma:X} inside the chip's flash; overlay "
                         "bytes belong in the SPI NOR image, not in the firmware")
        by_index = {s.index: s for s in ovl}
        seen: set[tuple[str, str]] = set()
        for rel in img.relocations:
            dst = by_index.get(rel.target_section_index) if rel.target_section_index is not None else None
            if dst is not None and dst.name != rel.section and (rel.section, dst.name) not in seen:
                seen.add((rel.section, dst.name))
                self.add("overlay-crossref", f"{rel.section} refers to {rel.symbol or hex(rel.target)} in "
                         f"{dst.name}: the two segments cannot be resident at the same time")
        if img.relocations:
            return
        # Without --emit-relocs: decode CALL/JMP in each overlay and look for targets in another segment.
        for c in img.overlay_chunks:
            for target, at in _abs_calls(c.data, c.start):
                if c.start <= target < c.end:
                    continue
                other = [s for s in ovl if s.name != c.section and s.vma <= target < s.vma + s.size]
                if other and (c.section, other[0].name) not in seen:
                    seen.add((c.section or "", other[0].name))
                    self.add("overlay-crossref", f"{c.section} calls 0x{target:X} (at 0x{at:X}) inside "
                             f"{other[0].name}: the two segments cannot be resident at the same time")

    # -- RAM ---------------------------------------------------------------------------------------------------
    def check_ram(self) -> None:
        chip = self.chip
        ram_secs = [s for s in self.img.sections if s.alloc and RAM_BASE <= s.vma < EEPROM_BASE and s.size]
        used = sum(s.size for s in ram_secs)
        top = max((s.vma - RAM_BASE + s.size for s in ram_secs), default=chip.sram_start)
        margin = stack_margin(chip)
        limit = chip.sram_size - margin
        if used > limit or top > chip.ram_end + 1 - margin:
            names = ", ".join(f"{s.name} {s.size}" for s in ram_secs)
            self.add("ram-overflow", f".data+.bss use {used} of {chip.sram_size} bytes of SRAM ({names}); at least "
                     f"{margin} must stay free for the stack")
        ee = sum(len(c.data) for c in self.img.eeprom)
        ee_top = max((c.end for c in self.img.eeprom), default=0)
        if ee_top > chip.eeprom_size:
            self.add("eeprom-overflow", f".eeprom holds {ee} bytes up to 0x{ee_top:X}, the {chip.display} has "
                     f"{chip.eeprom_size}")


def _split_at(chunks: list[Chunk], addr: int) -> list[Chunk]:
    out: list[Chunk] = []
    for c in chunks:
        if c.start < addr < c.end:
            out += [Chunk(c.start, c.data[:addr - c.start], c.section), Chunk(addr, c.data[addr - c.start:], c.section)]
        else:
            out.append(c)
    return out


def _address_space(addr: int) -> str | None:
    """The avr-objcopy section whose address space holds `addr` (a HEX made without -R .fuse etc. has them)."""
    for base, name in ((SIGNATURE_BASE, ".signature"), (LOCK_BASE, ".lock"), (FUSE_BASE, ".fuse"),
                       (EEPROM_BASE, ".eeprom")):
        if base <= addr < base + 0x10000:
            return name
    return None


def _slot_header_size() -> int:
    """Bytes at the start of each overlay slot that belong to the slot header (docs/overlay-format.md)."""
    from .overlay.format import SLOT_HEADER_SIZE  # imported late: only images with overlay slots need it

    return int(SLOT_HEADER_SIZE)


def _abs_calls(data: bytes, base: int) -> list[tuple[int, int]]:
    """(target byte address, instruction address) of every word-aligned CALL/JMP in `data`."""
    out = []
    for i in range(0, len(data) - 3, 2):
        w0 = data[i] | (data[i + 1] << 8)
        if (w0 & 0xFE0C) == 0x940C:  # JMP (..0C/..0D) and CALL (..0E/..0F)
            w1 = data[i + 2] | (data[i + 3] << 8)
            out.append((((((w0 & 0x01F0) >> 3) | (w0 & 1)) << 16 | w1) * 2, base + i))
    return out


def _validate_seed(region: Region, data: bytes, layout: Layout) -> str | None:
    """None if `data` is a valid seeded image of the region, else why not.

    The storage model owns the on-flash formats (`spareflash.storage.validate_region`). Overlay slots are always
    filled at run time, so they must be erased.
    """
    if region.name == "slots":
        return "overlay slots are filled at run time and must be erased in the image"
    from .storage import validate_region  # imported late: only an image with a non-erased region needs it

    return validate_region(region.name, data, layout)


def verify_loaded(image: FirmwareImage, layout: Layout, *, fuses: Mapping[str, int] | None = None) -> VerifyResult:
    eff = effective_fuses(image, layout, fuses)
    chk = _Checker(image, layout, eff)
    checked = ["layout", "fuses", "placement", "regions", "spm", "vectors"]
    chk.check_layout()
    if image.is_elf:
        chk.check_mcu()
        checked.insert(0, "mcu")
    if not any(v.rule == "mcu-mismatch" for v in chk.violations):
        chk.check_fuse_rules()
        chk.check_placement()
        chk.check_regions()
        chk.check_spm()
        chk.check_vectors()
        if image.is_elf:
            chk.check_overlays()
            chk.check_ram()
            checked += ["overlays", "ram"]
    return VerifyResult(str(image.path), image.kind, layout.chip.name, layout.backend, chk.violations, checked, eff)


def verify_image(image_path: str | Path, layout: Layout, *, fuses: Mapping[str, int] | None = None) -> VerifyResult:
    """Check an ELF or HEX against the plan. Raises ImageError (a SpareFlashError) if the file cannot be read."""
    return verify_loaded(load_image(image_path), layout, fuses=fuses)


def bench_verify_seconds(image_path: str | Path | None = None, mcu: str = "atmega2560", repeat: int = 5) -> float:
    """Best-of-`repeat` wall time of verify_image on `image_path`, or on a synthetic full-size HEX of `mcu`.

    The synthetic image fills the whole application region with code-like words (no SPM), a valid JMP vector
    table, and leaves the regions erased: the worst case for the page model and the SPM scan.
    """
    import tempfile

    from .plan import PlanConfig, plan

    layout = plan(PlanConfig(mcu))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(image_path) if image_path else Path(tmp) / "bench.hex"
        if image_path is None:
            path.write_text(synthetic_hex(layout))
        best = float("inf")
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            verify_image(path, layout)
            best = min(best, time.perf_counter() - t0)
    return best


def synthetic_hex(layout: Layout) -> str:
    """An Intel HEX that fills the application region of `layout` (used by the benchmark and tests)."""
    return to_hex(synthetic_flash(layout))


def synthetic_flash(layout: Layout) -> bytes:
    """Application bytes filling `layout`'s application region: a JMP/RJMP vector table, code-like filler."""
    chip = layout.chip
    body = bytearray()
    for i in range(chip.vector_count):
        if chip.vector_size == 4:
            body += bytes([0x0C, 0x94]) + (chip.vector_table_bytes // 2).to_bytes(2, "little")
        else:
            body += (0xC000 | ((chip.vector_table_bytes - 2 * i - 2) // 2)).to_bytes(2, "little")
    pattern = bytes(range(0x00, 0x80)) * 2  # no 0xE8 0x95 pair anywhere
    while len(body) < layout.app_end:
        body += pattern
    return bytes(body[: layout.app_end])


def to_hex(data: bytes, start: int = 0) -> str:
    """Intel HEX text for `data` at `start` (16-byte records, type 04 records above 64 KB)."""
    lines = []
    upper = -1
    for off in range(0, len(data), 16):
        addr = start + off
        if addr >> 16 != upper:
            upper = addr >> 16
            rec = bytes([2, 0, 0, 4, upper >> 8, upper & 0xFF])
            lines.append(":" + (rec + bytes([(-sum(rec)) & 0xFF])).hex().upper())
        chunk = data[off:off + 16]
        rec = bytes([len(chunk), (addr >> 8) & 0xFF, addr & 0xFF, 0]) + chunk
        lines.append(":" + (rec + bytes([(-sum(rec)) & 0xFF])).hex().upper())
    lines.append(":00000001FF")
    return "\n".join(lines) + "\n"


__all__ = ["Violation", "VerifyResult", "verify_image", "verify_loaded", "bench_verify_seconds", "stack_margin",
           "expected_arch", "Section", "synthetic_flash", "synthetic_hex", "to_hex"]
