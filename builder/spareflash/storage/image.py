"""Seed storage regions into a firmware image at build time, and decode regions out of a flash dump."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Union

from ..errors import SpareFlashError
from ..plan import Layout, Region
from .flash import FlashEmu
from .log import LogModel
from .store import ERR_FULL, OK, PagedRegion, StorageModel
from .store_v2 import MAX_PAGES, MIN_PAGES, StorageModelV2


class StorageFormatError(SpareFlashError):
    """Values that cannot be seeded, or a dump that cannot be read."""


Value = Union[bytes, bytearray, int, str]


def _value_bytes(key: int, value: Value) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise StorageFormatError(f"seed-value: key {key}: value must be bytes, int or str")
    if isinstance(value, str):
        return value.encode()
    if value < 0:
        raise StorageFormatError(f"seed-value: key {key}: negative integers need an explicit byte encoding")
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "little")


def seed_region(layout: Layout, values: Mapping[int, Value], *, single_write: bool = False) -> bytes:
    """The bytes of a freshly formatted storage region holding `values` (key -> bytes/int/str), exactly as the
    C++ FlashStorage would leave them after format() and put() of each key in ascending order. In format 2
    (layout.storage_format, the ATtiny25/45) the region starts erased and gets the puts only, as the engine
    leaves it after its first begin() and the puts.

    Values the format cannot store are refused before any byte is made, each with its rule name (one line):
    `seed-key` (outside 0..254: 0xFF is the erased/end-of-records key), `seed-value` (not bytes/int/str),
    `seed-value-size` (not 1..the format's largest value: 32 bytes, in format 2 min(32, page - 10)),
    `seed-full` (the values do not fit the region beside the page compaction needs), `seed-no-region`,
    `seed-single-write` (format 2 has no single-write build).
    """
    region = layout.storage
    if not region.size:
        raise StorageFormatError("seed-no-region: the plan has no storage region")
    fmt = layout.storage_format
    page = layout.chip.page_size
    flash = FlashEmu(page, region.size // page)
    store: StorageModel | StorageModelV2
    if fmt == 2:
        if single_write:
            raise StorageFormatError("seed-single-write: storage format 2 has no single-write build")
        store = StorageModelV2(flash)
    else:
        store = StorageModel(flash, single_write=single_write)
        store.format()
    where = f"storage format {fmt} on the {layout.chip.display}"
    items = []
    for key in sorted(values):
        if not 0 <= key <= 254:
            raise StorageFormatError(f"seed-key: key {key} is outside 0..254 (0xFF marks erased flash in "
                                     f"{where})")
        data = _value_bytes(key, values[key])
        if not 1 <= len(data) <= store.max_value:
            raise StorageFormatError(f"seed-value-size: key {key} is {len(data)} bytes; {where} ({page}-byte "
                                     f"pages) stores values of 1..{store.max_value} bytes")
        items.append((key, data))
    for key, data in items:
        status = store.put(key, data)
        if status == ERR_FULL:
            total = sum(len(d) for _, d in items)
            raise StorageFormatError(f"seed-full: key {key} does not fit: {len(items)} values of {total} bytes "
                                     f"need more than the {region.size}-byte region ({region.size // page} pages "
                                     f"of {page} B) of {where} holds; seed fewer or smaller values or plan more "
                                     "storage")
        if status != OK:
            raise StorageFormatError(f"seed-value: key {key} ({len(data)} bytes): status 0x{status:02X}")
    return bytes(store.flash.data)


def seed_hex(hex_in: Path, hex_out: Path, layout: Layout, values: Mapping[int, Value]) -> None:
    """Write hex_out: hex_in plus the seeded storage region."""
    from intelhex import IntelHex

    try:
        ih = IntelHex(str(hex_in))
    except Exception as exc:  # intelhex raises many types for bad files
        raise StorageFormatError(f"seed: cannot read {hex_in}: {exc}") from None
    for i, b in enumerate(seed_region(layout, values)):
        ih[layout.storage.start + i] = b
    ih.write_hex_file(str(hex_out))


@dataclass
class RegionDump:
    region: Region
    page_size: int
    data: bytes

    def flash(self) -> FlashEmu:
        return FlashEmu(self.page_size, self.region.size // self.page_size, self.data)


HEX_SUFFIXES = (".hex", ".ihex", ".ihx")


def read_image(path: Path, layout: Layout) -> dict[str, RegionDump]:
    """Storage and log regions of a flash dump (unprogrammed bytes read as 0xFF): Intel HEX (by its suffix), an ELF
    (by its magic), else raw binary from address 0.

    HEX and ELF go through the verifier's strict reader (spareflash.image), so a truncated file, a bad checksum or
    overlapping records are refused with the line they are on, never decoded as if they were flash. A dump that
    reaches past the chip's flash, or an empty file, is not a dump of this chip.
    """
    from ..image import load_image

    path = Path(path)
    if not path.exists():
        raise StorageFormatError(f"dump: no such file: {path}")
    if not path.is_file():
        raise StorageFormatError(f"dump: {path} is not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StorageFormatError(f"dump: cannot read {path}: {exc.strerror}") from None
    if not raw:
        raise StorageFormatError(f"dump: {path} is empty")
    chip = layout.chip
    size = chip.flash_size
    if raw[:4] == b"\x7fELF" or path.suffix.lower() in (*HEX_SUFFIXES, ".elf"):
        img = load_image(path)
        if img.extent > size:
            raise StorageFormatError(f"dump: {path.name} has data up to 0x{img.extent - 1:X}, beyond the "
                                     f"{chip.display}'s {size}-byte flash")
        flash = bytes(img.flash(size))
    else:
        if len(raw) > size:
            raise StorageFormatError(f"dump: {path.name} is {len(raw)} bytes, more than the {chip.display}'s "
                                     f"{size}-byte flash")
        flash = raw + b"\xff" * (size - len(raw))
    page = chip.page_size
    return {r.name: RegionDump(r, page, flash[r.start:r.end]) for r in (layout.storage, layout.log) if r.size}


def damaged_pages(region: PagedRegion) -> list[int]:
    """Pages that are neither erased nor headed by a valid header: a torn erase, corruption, or a region that
    was never written by SpareFlash. The model mounts around them; a dump says so."""
    return [p for p in range(region.N) if not region.blank(p) and not region.hdr_valid(p)]


def decode_storage(data: bytes, page_size: int, fmt: int = 1) -> dict[str, Any]:
    """What a storage region holds, read by the twin of its format (1: StorageModel, 2: StorageModelV2)."""
    if fmt == 2:
        return _decode_storage_v2(data, page_size)
    if fmt != 1:
        raise StorageFormatError(f"dump: unknown storage format {fmt}")
    store = StorageModel(FlashEmu(page_size, len(data) // page_size, data))
    st = store.stats()
    return {
        "pages": st.pages, "page_size": st.page_size, "damaged_pages": damaged_pages(store),
        "head_page": store.head if store.used() else None, "head_seq": store.head_seq if store.used() else None,
        "pages_in_use": store.used(),
        "values": {k: v.hex() for k, v in store.items().items()},
        "live_bytes": st.live_bytes, "free_bytes": st.free_bytes,
        "erase_counts": st.erase_counts, "estimated_remaining_writes": st.remaining_writes,
    }


def _decode_storage_v2(data: bytes, page_size: int) -> dict[str, Any]:
    pages = len(data) // page_size
    if len(data) % page_size or not MIN_PAGES <= pages <= MAX_PAGES:
        raise StorageFormatError(f"dump: a format-2 storage region is {MIN_PAGES}..{MAX_PAGES} whole "
                                 f"{page_size}-byte pages, not {len(data)} bytes")
    store = StorageModelV2(FlashEmu(page_size, pages, data))
    st = store.stats()
    return {
        "pages": st.pages, "page_size": st.page_size,
        "damaged_pages": [p for p in range(pages) if not store.blank(p) and not store.hdr_ok(p)],
        "head_page": store.head if store.used else None, "head_seq": store.head_seq if store.used else None,
        "pages_in_use": store.used,
        "values": {k: v.hex() for k, v in store.items().items()},
        "live_bytes": st.live_bytes, "free_bytes": st.free_bytes,
        "erase_counts": st.erase_counts, "estimated_remaining_writes": st.remaining_writes,
    }


def decode_log(data: bytes, page_size: int) -> dict[str, Any]:
    log = LogModel(FlashEmu(page_size, len(data) // page_size, data))
    return {
        "pages": log.N, "page_size": log.P, "pages_in_use": len(log.chain()), "damaged_pages": damaged_pages(log),
        "records": [r.hex() for r in log.records()],
        "erase_counts": log.erase_counts(),
    }
