"""Is a region's content in a firmware image a valid seeded region? (the hook `spareflash.verify` looks for)

`validate_region(name, data, layout)` returns None when `data` is what the firmware may find there on its first
boot: every page either erased or a page of the region's format (docs/storage-format.md) with an intact header,
records whose CRCs hold, and erased bytes after the last record; at least one such page. Anything else (a torn
or foreign page, a bad record, bytes past the records) gets a short reason, which verify puts into its
`region-dirty` message. Overlay slots are never seeded.
"""

from __future__ import annotations

from ..plan import Layout
from .flash import FlashEmu
from .log import LogModel
from .store import HDR, PagedRegion, StorageModel


def _check_pages(model: PagedRegion, what: str) -> str | None:
    formatted = 0
    for p in range(model.N):
        if model.blank(p):
            continue
        if not model.hdr_valid(p):
            return f"{what} page {p} has no valid page header"
        formatted += 1
        off = HDR
        while True:
            size = model.rec_size(p, off)
            if not size:
                break
            if not model.rec_ok(p, off):
                return f"{what} page {p}: the record at +{off} fails its CRC"
            off += size
        if off < model.P and not model.blank(p, off):
            return f"{what} page {p}: bytes after the last record at +{off} are not erased"
    if not formatted:
        return f"no formatted {what} page"
    return None


def validate_region(name: str, data: bytes, layout: Layout) -> str | None:
    """None if `data` is a valid seeded image of region `name` ("storage" or "log") of `layout`, else why not."""
    page = layout.chip.page_size
    if name not in ("storage", "log"):
        return f"a {name} region cannot be seeded"
    if not data or len(data) % page:
        return f"{len(data)} bytes is not a whole number of {page}-byte pages"
    flash = FlashEmu(page, len(data) // page, bytes(data))
    if name == "storage":
        return _check_pages(StorageModel(flash), "storage")
    return _check_pages(LogModel(flash), "log")
