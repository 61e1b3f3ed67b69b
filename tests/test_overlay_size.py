"""The Overlay global costs nothing in a sketch that does not use it.

arduino-builder compiles and links every object of the library, so a FlashStorage-only sketch (StorageBasics)
gets Overlay.cpp too. Its global `OverlayManager Overlay` has a constexpr constructor and only zero members:
no static-initialisation code references it, so --gc-sections / LTO drop it and the whole loader. A sketch that
uses the overlays keeps the object in .bss (zero-filled by the C runtime, no constructor code, no .data bytes).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spareflash.build import build_sketch
from spareflash.overlay.build import build_overlays
from spareflash.plan import PlanConfig

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build" / "tests" / "overlay_size"

pytestmark = pytest.mark.skipif(shutil.which("avr-nm") is None, reason="binutils-avr is not installed (./dev setup)")


def symbols(elf: Path) -> dict[str, str]:
    """name (demangled) -> nm type letter."""
    out = subprocess.run(["avr-nm", "-C", str(elf)], capture_output=True, text=True, check=True).stdout
    syms: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3:
            syms[parts[2]] = parts[1]
    return syms


def test_a_storage_only_sketch_links_no_overlay_object_ram_or_code() -> None:
    res = build_sketch(ROOT / "examples" / "StorageBasics", "uno")
    syms = symbols(res.elf)
    overlay = [n for n in syms if "Overlay" in n or "sf_ovl" in n or n in ("seg_in", "page_buf", "erase_count")]
    assert overlay == [], overlay
    # the 26-byte object and its ~60-byte constructor were there before; nothing keyed to Overlay.cpp is left
    assert not any(n.startswith("_GLOBAL__sub_I") and "Overlay" in n for n in syms)
    assert any(n.startswith("FlashStorage::") for n in syms)  # (the check looks at the right program)


def test_a_sketch_using_overlays_keeps_the_object_in_bss_without_a_constructor() -> None:
    fw = build_overlays(sorted((ROOT / "examples" / "OverlayBasics").glob("*.cpp")),
                        PlanConfig("atmega328p", overlay_slots=2, slot_bytes=512), BUILD / "basics")
    syms = symbols(fw.elf)
    assert syms.get("Overlay") == "B"  # zero-initialised .bss: no .data bytes copied at start-up
    assert "_GLOBAL__sub_I_Overlay" not in syms  # no static-initialisation code
    assert "sf_ovl_fault" in syms
