"""Load an ELF or Intel HEX firmware image into a model of the chip's flash.

The loader knows nothing about regions or rules (that is `spareflash.verify`); it answers "which bytes does this
image put where": flash chunks at their *load* addresses (LMA), the ELF's sections, symbols and relocations, the
fuse/lock/signature bytes of the `.fuse`/`.lock`/`.signature` sections, the MCU the ELF was built for, and a fast
scan for SPM opcodes.

Speed matters (a 256 KB ATmega2560 image must verify in well under 0.3 s), so the HEX parser is a small one of our
own working line by line with `bytes.fromhex` (intelhex stores one dict entry per byte), and byte searches use
`bytes.find` loops, never per-byte Python.

Address spaces of an avr-gcc ELF (avr-libc's linker scripts): flash from 0, RAM at 0x800000, EEPROM at 0x810000,
fuses at 0x820000, lock bits at 0x830000, signature at 0x840000. Overlay sections (`.ovl.<segment>`) are linked
at their slot address (VMA) with a load address outside the chip; they are kept out of the flash chunks and
listed separately.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SpareFlashError

RAM_BASE = 0x800000
EEPROM_BASE = 0x810000
FUSE_BASE = 0x820000
LOCK_BASE = 0x830000
SIGNATURE_BASE = 0x840000
SPACE_END = 0x850000

OVERLAY_PREFIX = ".ovl."

# SPM (0x95E8) and SPM Z+ (0x95F8, AVRxm/AVRxt only; on classic parts an undefined opcode nobody emits), as the
# little-endian byte pairs that appear in flash. Only word-aligned hits are instructions.
SPM_OPCODES = {0x95E8: b"\xe8\x95", 0x95F8: b"\xf8\x95"}

# e_flags & EF_AVR_MACH: the avr-gcc architecture an ELF was linked for.
EF_AVR_MACH = 0x7F


class ImageError(SpareFlashError):
    """An image that cannot be read; `rule` names the check (hex-malformed, elf-malformed, image-empty, ...)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


@dataclass(frozen=True)
class Chunk:
    """Contiguous bytes the image places in flash, at their load address."""

    start: int
    data: bytes
    section: str | None = None  # ELF section name; None for HEX records

    @property
    def end(self) -> int:
        return self.start + len(self.data)


@dataclass(frozen=True)
class Section:
    name: str
    vma: int
    lma: int
    size: int
    alloc: bool
    exec: bool
    write: bool
    nobits: bool
    index: int = 0

    @property
    def in_flash(self) -> bool:
        """A section whose bytes are stored in program flash (code, progmem, .data's initial values)."""
        return self.alloc and not self.nobits and self.size > 0 and self.lma < RAM_BASE

    @property
    def is_overlay(self) -> bool:
        return self.name.startswith(OVERLAY_PREFIX)


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int
    kind: str  # STT_FUNC, STT_OBJECT, STT_NOTYPE, ...
    section_index: int | None  # None for absolute/undefined/common symbols


@dataclass(frozen=True)
class Relocation:
    section: str  # the section the relocation patches
    offset: int  # address (VMA) of the patched bytes
    symbol: str
    target: int  # symbol value (VMA) + addend
    target_section_index: int | None


@dataclass(frozen=True)
class DeviceInfo:
    """The `.note.gnu.avr.deviceinfo` note avr-libc's startup files put into every ELF."""

    name: str
    flash_start: int
    flash_size: int
    sram_start: int
    sram_size: int
    eeprom_start: int
    eeprom_size: int


@dataclass
class FirmwareImage:
    path: Path
    kind: str  # "elf" or "hex"
    chunks: list[Chunk]
    sections: list[Section] = field(default_factory=list)
    symbols: list[Symbol] = field(default_factory=list)
    relocations: list[Relocation] = field(default_factory=list)
    fuse_bytes: bytes | None = None  # .fuse section content (lfuse, hfuse, efuse order)
    lock_byte: int | None = None
    signature: tuple[int, int, int] | None = None  # SIGNATURE_0..2 (the section stores them reversed)
    machine_arch: int | None = None  # e_flags & 0x7F (avr:5 -> 5)
    device_info: DeviceInfo | None = None
    eeprom: list[Chunk] = field(default_factory=list)
    overlay_chunks: list[Chunk] = field(default_factory=list)  # .ovl.* bytes at their VMA (slot address)

    @property
    def is_elf(self) -> bool:
        return self.kind == "elf"

    @property
    def extent(self) -> int:
        """One past the highest flash byte the image writes (0 for an image with no flash bytes)."""
        return max((c.end for c in self.chunks), default=0)

    @property
    def flash_bytes(self) -> int:
        return sum(len(c.data) for c in self.chunks)

    def flash(self, size: int) -> bytearray:
        """The flash as a programmer leaves it: erased (0xFF) everywhere the image writes nothing.

        Bytes beyond `size` are dropped here; `verify` reports them (rule image-outside-flash).
        """
        buf = bytearray(b"\xff") * size
        for c in self.chunks:
            if c.start >= size:
                continue
            end = min(c.end, size)
            buf[c.start:end] = c.data[: end - c.start]
        return buf

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_by_index(self, index: int | None) -> Section | None:
        if index is None:
            return None
        for s in self.sections:
            if s.index == index:
                return s
        return None

    def fuses(self) -> dict[str, int]:
        """Fuse and lock bytes stored in the ELF (empty for a HEX or an ELF without .fuse/.lock)."""
        out: dict[str, int] = {}
        if self.fuse_bytes:
            for name, value in zip(("lfuse", "hfuse", "efuse"), self.fuse_bytes):
                out[name] = value
        if self.lock_byte is not None:
            out["lock"] = self.lock_byte
        return out


def find_all(data: bytes | bytearray, needle: bytes, start: int = 0, end: int | None = None,
             aligned: int = 1) -> list[int]:
    """Offsets of `needle` in data[start:end] whose offset is a multiple of `aligned` (bytes.find loop)."""
    stop = len(data) if end is None else min(end, len(data))
    out = []
    i = data.find(needle, start, stop)
    while i >= 0:
        if i % aligned == 0:
            out.append(i)
        i = data.find(needle, i + 1, stop)
    return out


def spm_addresses(flash: bytes | bytearray, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Word-aligned SPM / SPM Z+ opcodes in flash[start:end], as (byte address, opcode), sorted."""
    hits = [(a, op) for op, pat in SPM_OPCODES.items() for a in find_all(flash, pat, start, end, aligned=2)]
    return sorted(hits)


# ---- Intel HEX -------------------------------------------------------------------------------------------------
def parse_hex(text: bytes, path: Path) -> FirmwareImage:
    """Parse Intel HEX (record types 00, 01, 02, 04; 03/05 start addresses are accepted and ignored)."""
    name = path.name
    chunks: list[Chunk] = []
    cur_start = -1
    cur = bytearray()
    base = 0
    seen_eof = False
    lines = text.splitlines()
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if seen_eof:
            raise ImageError("hex-malformed", f"{name} line {lineno}: data after the end-of-file record")
        if line[:1] != b":":
            raise ImageError("hex-malformed", f"{name} line {lineno}: record does not start with ':'")
        try:
            rec = bytes.fromhex(line[1:].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise ImageError("hex-malformed", f"{name} line {lineno}: not hexadecimal digits") from None
        if len(rec) < 5 or len(rec) != rec[0] + 5:
            raise ImageError("hex-malformed", f"{name} line {lineno}: record length does not match its byte count "
                             "(truncated?)")
        if sum(rec) & 0xFF:
            raise ImageError("hex-malformed", f"{name} line {lineno}: bad checksum 0x{rec[-1]:02X}")
        count, addr, rtype = rec[0], (rec[1] << 8) | rec[2], rec[3]
        data = rec[4:4 + count]
        if rtype == 0x00:
            a = base + addr
            if a == cur_start + len(cur):
                cur += data
            else:
                if cur:
                    chunks.append(Chunk(cur_start, bytes(cur)))
                cur_start, cur = a, bytearray(data)
        elif rtype == 0x01:
            seen_eof = True
        elif rtype == 0x02:
            if count != 2:
                raise ImageError("hex-malformed", f"{name} line {lineno}: segment address record needs 2 bytes")
            base = ((data[0] << 8) | data[1]) << 4
        elif rtype == 0x04:
            if count != 2:
                raise ImageError("hex-malformed", f"{name} line {lineno}: linear address record needs 2 bytes")
            base = ((data[0] << 8) | data[1]) << 16
        elif rtype in (0x03, 0x05):
            pass
        else:
            raise ImageError("hex-malformed", f"{name} line {lineno}: unknown record type 0x{rtype:02X}")
    if cur:
        chunks.append(Chunk(cur_start, bytes(cur)))
    if not seen_eof:
        raise ImageError("hex-malformed", f"{name}: no end-of-file record (truncated file)")
    chunks.sort(key=lambda c: c.start)
    for before, after in zip(chunks, chunks[1:]):
        if after.start < before.end:
            raise ImageError("hex-malformed", f"{name}: records overlap at 0x{after.start:X}")
    return FirmwareImage(path, "hex", chunks)


# ---- ELF -------------------------------------------------------------------------------------------------------
def _parse_deviceinfo(desc: bytes) -> DeviceInfo | None:
    # 6 x uint32 (flash start/size, SRAM start/size, EEPROM start/size), the offset table (length, offsets),
    # then a string table whose first non-empty string is the device name (avr-libc crt1's layout).
    if len(desc) < 28:
        return None
    fields = struct.unpack_from("<6I", desc, 0)
    strings = [s for s in desc[24:].split(b"\0") if s and all(32 < ch < 127 for ch in s)]
    names = [s.decode() for s in strings if s[:1].isalpha()]
    return DeviceInfo(names[0] if names else "", *fields)


def parse_elf(path: Path) -> FirmwareImage:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    from elftools.elf.sections import NoteSection, SymbolTableSection

    name = path.name
    try:
        with path.open("rb") as fh:
            elf = ELFFile(fh)
            if elf["e_machine"] != "EM_AVR":
                raise ImageError("mcu-mismatch", f"{name} is an ELF for {elf['e_machine']}, not an AVR")
            segments = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
            img = FirmwareImage(path, "elf", [], machine_arch=elf["e_flags"] & EF_AVR_MACH)
            flash_chunks: list[Chunk] = []
            for idx, sec in enumerate(elf.iter_sections()):
                flags = sec["sh_flags"]
                alloc = bool(flags & 0x2)
                nobits = sec["sh_type"] == "SHT_NOBITS"
                vma, size = sec["sh_addr"], sec["sh_size"]
                lma = vma
                if alloc:
                    for seg in segments:
                        if not nobits and seg["p_offset"] <= sec["sh_offset"] < seg["p_offset"] + max(
                                seg["p_filesz"], 1) and seg["p_vaddr"] <= vma < seg["p_vaddr"] + max(seg["p_memsz"], 1):
                            lma = vma - seg["p_vaddr"] + seg["p_paddr"]
                            break
                s = Section(sec.name, vma, lma, size, alloc, bool(flags & 0x4), bool(flags & 0x1), nobits, idx)
                img.sections.append(s)
                if isinstance(sec, NoteSection) and sec.name == ".note.gnu.avr.deviceinfo":
                    for note in sec.iter_notes():
                        if note["n_name"] == "AVR":
                            desc = note["n_desc"]
                            img.device_info = _parse_deviceinfo(desc if isinstance(desc, bytes) else b"")
                if not (alloc and not nobits and size):
                    continue
                data = sec.data()
                if s.is_overlay:
                    img.overlay_chunks.append(Chunk(vma, data, sec.name))
                elif lma < RAM_BASE:
                    flash_chunks.append(Chunk(lma, data, sec.name))
                elif EEPROM_BASE <= lma < FUSE_BASE:
                    img.eeprom.append(Chunk(lma - EEPROM_BASE, data, sec.name))
                elif FUSE_BASE <= lma < LOCK_BASE and sec.name == ".fuse":
                    img.fuse_bytes = data
                elif LOCK_BASE <= lma < SIGNATURE_BASE and sec.name == ".lock":
                    img.lock_byte = data[0]
                elif SIGNATURE_BASE <= lma < SPACE_END and sec.name == ".signature" and len(data) >= 3:
                    img.signature = (data[2], data[1], data[0])
            for sec in elf.iter_sections():
                if isinstance(sec, SymbolTableSection) and sec.name == ".symtab":
                    for sym in sec.iter_symbols():
                        shndx = sym["st_shndx"]
                        img.symbols.append(Symbol(sym.name, sym["st_value"], sym["st_size"], sym["st_info"]["type"],
                                                  shndx if isinstance(shndx, int) else None))
            for sec in elf.iter_sections():
                if not isinstance(sec, RelocationSection):
                    continue
                target_sec = elf.get_section(sec["sh_info"])
                if not target_sec.name.startswith(OVERLAY_PREFIX):
                    continue  # only overlay cross references are checked; skip the rest for speed
                symtab = elf.get_section(sec["sh_link"])
                if not isinstance(symtab, SymbolTableSection):
                    raise ImageError("elf-malformed", f"{name}: relocation section {sec.name} has no symbol table")
                for rel in sec.iter_relocations():
                    sym = symtab.get_symbol(rel["r_info_sym"])
                    shndx = sym["st_shndx"]
                    addend = rel["r_addend"] if rel.is_RELA() else 0
                    img.relocations.append(Relocation(
                        target_sec.name, rel["r_offset"], sym.name or "", sym["st_value"] + addend,
                        shndx if isinstance(shndx, int) else None))
    except ImageError:
        raise
    except (ELFError, struct.error, ValueError, IndexError, KeyError, AttributeError) as exc:
        raise ImageError("elf-malformed", f"{name}: cannot read the ELF ({exc})") from None
    flash_chunks.sort(key=lambda c: c.start)
    for a, b in zip(flash_chunks, flash_chunks[1:]):
        if b.start < a.end:
            raise ImageError("elf-malformed", f"{name}: sections {a.section} and {b.section} overlap in flash at "
                             f"0x{b.start:X}")
    img.chunks = flash_chunks
    return img


def load_image(path: str | Path) -> FirmwareImage:
    """Read an ELF or an Intel HEX file, chosen by content (ELF magic, or ':' for HEX), else by extension."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ImageError("image-unreadable", f"{p}: no such file") from None
    except OSError as exc:
        raise ImageError("image-unreadable", f"{p}: {exc.strerror or exc}") from None
    suffix = p.suffix.lower()
    if not raw.strip():
        rule = "hex-malformed" if suffix in (".hex", ".ihex", ".ihx") else "elf-malformed"
        raise ImageError(rule, f"{p.name} is empty")
    if raw[:4] == b"\x7fELF":
        return parse_elf(p)
    if raw.lstrip()[:1] == b":" or suffix in (".hex", ".ihex", ".ihx"):
        return parse_hex(raw, p)
    raise ImageError("elf-malformed", f"{p.name} is neither an ELF file (no \\x7fELF magic) nor Intel HEX")
