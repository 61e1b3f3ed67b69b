"""Is a region's content in a firmware image a valid seeded region? (the hook `spareflash.verify` looks for)

`validate_region(name, data, layout)` returns None when `data` is what the firmware may find there on its first
boot: every page either erased or a page of the region's format (docs/storage-format.md) with an intact header,
records whose CRCs hold, and erased bytes after the last record; at least one such page. Anything else (a torn
or foreign page, a bad record, bytes past the records) gets a short reason, which verify puts into its
`region-dirty` message. Overlay slots are never seeded.

A format-2 storage region (layout.storage_format, docs/storage-format-v2.md) is valid when it is erased (the
engine's first begin() finds an empty store) or mountable: 2..127 pages, each erased or headed by a header whose
check bytes hold, records whose check bytes hold and erased bytes after the last record.
"""

from __future__ import annotations

from ..plan import Layout
from .flash import FlashEmu
from .log import LogModel
from .store import HDR, PagedRegion, StorageModel
from .store_v2 import MAX_PAGES, MIN_PAGES, StorageModelV2


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


def _check_v2(model: StorageModelV2) -> str | None:
    pages = model.flash.pages
    if not MIN_PAGES <= pages <= MAX_PAGES:
        return f"a format-2 storage region has {MIN_PAGES}..{MAX_PAGES} pages, not {pages}"
    for p in range(pages):
        if model.blank(p):
            continue
        if not model.hdr_ok(p):
            return f"storage page {p} has no valid page header (format 2)"
        off = model.walk_end(p)
        bad = next((o for o in model.records(p) if not model.rec_ok(p, o)), None)
        if bad is not None:
            return f"storage page {p}: the record at +{bad} fails its check bytes"
        if not model.blank(p, off):
            return f"storage page {p}: bytes after the last record at +{off} are not erased"
    return None


def validate_region(name: str, data: bytes, layout: Layout) -> str | None:
    """None if `data` is a valid seeded image of region `name` ("storage" or "log") of `layout`, else why not."""
    page = layout.chip.page_size
    if name not in ("storage", "log"):
        return f"a {name} region cannot be seeded"
    if not data or len(data) % page:
        return f"{len(data)} bytes is not a whole number of {page}-byte pages"
    flash = FlashEmu(page, len(data) // page, bytes(data))
    if name == "storage" and layout.storage_format == 2:
        return _check_v2(StorageModelV2(flash))
    if name == "storage":
        return _check_pages(StorageModel(flash), "storage")
    if layout.storage_format == 2:
        return "storage format 2 has no log region"
    return _check_pages(LogModel(flash), "log")
