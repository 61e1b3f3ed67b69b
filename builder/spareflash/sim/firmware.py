"""Reading firmware images (ELF or Intel HEX) into what the simulator needs: flash bytes, fuses, lock, symbols.

ELF files are read with pyelftools: flash contents come from the loadable segments' *physical* (load) addresses
below 0x800000, the way `avr-objcopy -O ihex -R .eeprom` sees them (so `.data` initialisers land after `.text`);
the fuse bytes come from the `.fuse` section (low, high, extended in that order, avr-libc's FUSES struct) and the
lock byte from `.lock`. A HEX file carries flash only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from ..errors import SpareFlashError

FUSE_NAMES = ("lfuse", "hfuse", "efuse")
AVR_FLASH_LIMIT = 0x800000  # avr-gcc maps data space at 0x800000, EEPROM at 0x810000, fuses 0x820000, lock 0x830000

FirmwareSource = Union[str, Path, "Firmware"]


@dataclass
class Firmware:
    """A firmware image: `flash` starts at address 0 (gaps are 0xFF), `fuses` holds the keys the image sets."""

    flash: bytes
    fuses: dict[str, int] = field(default_factory=dict)
    symbols: dict[str, int] = field(default_factory=dict)
    path: Path | None = None

    def symbol(self, name: str) -> int:
        try:
            return self.symbols[name]
        except KeyError:
            raise SpareFlashError(f"{self.path or 'firmware'}: no symbol {name}") from None


def load_firmware(src: FirmwareSource) -> Firmware:
    """Load an ELF or Intel HEX file (chosen by content, not by name), or pass a Firmware through."""
    if isinstance(src, Firmware):
        return src
    path = Path(src)
    try:
        head = path.read_bytes()[:4]
    except OSError as exc:
        raise SpareFlashError(f"cannot read firmware {path}: {exc.strerror}") from None
    if head == b"\x7fELF":
        return _load_elf(path)
    if head[:1] == b":":
        return Firmware(flash=read_hex(path), path=path)
    raise SpareFlashError(f"{path}: not an ELF or Intel HEX file")


def _load_elf(path: Path) -> Firmware:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        with path.open("rb") as fh:
            elf = ELFFile(fh)
            if elf["e_machine"] != "EM_AVR":
                raise SpareFlashError(f"{path}: not an AVR ELF (machine {elf['e_machine']})")
            image = bytearray()
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_filesz"] == 0:
                    continue
                addr = seg["p_paddr"]
                if addr >= AVR_FLASH_LIMIT:
                    continue
                data = seg.data()
                end = addr + len(data)
                if end > len(image):
                    image.extend(b"\xff" * (end - len(image)))
                image[addr:end] = data
            fuses: dict[str, int] = {}
            sec = elf.get_section_by_name(".fuse")
            if sec is not None:
                for name, value in zip(FUSE_NAMES, sec.data()):
                    fuses[name] = value
            sec = elf.get_section_by_name(".lock")
            if sec is not None and sec.data_size:
                fuses["lock"] = sec.data()[0]
            symbols: dict[str, int] = {}
            symtab = elf.get_section_by_name(".symtab")
            if isinstance(symtab, SymbolTableSection):
                for sym in symtab.iter_symbols():
                    if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                        symbols.setdefault(sym.name, sym["st_value"])
    except (ELFError, OSError) as exc:
        raise SpareFlashError(f"{path}: unreadable ELF ({exc})") from None
    return Firmware(flash=bytes(image), fuses=fuses, symbols=symbols, path=path)


def read_hex(src: str | Path | bytes) -> bytes:
    """The bytes of an Intel HEX file (path or its text as bytes) from address 0, gaps filled with 0xFF.

    The verifier's strict parser (spareflash.image.parse_hex) reads it: a file without its end-of-file record
    (truncated), with a bad checksum or with overlapping records is refused with the line, not run as firmware.
    """
    from ..image import parse_hex

    if isinstance(src, (bytes, bytearray)):
        path, text = Path("HEX"), bytes(src)
    else:
        path = Path(src)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise SpareFlashError(f"cannot read {path}: {exc.strerror}") from None
    if not text.strip():
        raise SpareFlashError(f"{path}: empty Intel HEX file")
    image = parse_hex(text, path)
    flash = bytearray(b"\xff") * image.extent
    for chunk in image.chunks:
        flash[chunk.start:chunk.end] = chunk.data
    return bytes(flash)


def write_hex(image: bytes, path: str | Path) -> None:
    """Write a flash image as Intel HEX, leaving out whole 16-byte rows of 0xFF (erased flash)."""
    from intelhex import IntelHex

    ih = IntelHex()
    for off in range(0, len(image), 16):
        row = image[off:off + 16]
        if row.count(0xFF) != len(row):
            for i, b in enumerate(row):
                ih[off + i] = b
    try:
        ih.write_hex_file(str(path))
    except OSError as exc:
        raise SpareFlashError(f"cannot write {path}: {exc.strerror}") from None
