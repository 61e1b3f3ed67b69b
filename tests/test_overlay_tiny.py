"""TinyOverlay: a program bigger than the ATtiny85's 8 KB runs on the simulated tiny with the SPI NOR part.

The oracle is the same sources built as one ordinary program (SPAREFLASH_NO_OVERLAYS) for an ATmega328P, which
has room for all of it: every line the tiny prints must be the line the 328P prints.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from spareflash.overlay.build import OverlayBuild, build_overlays
from spareflash.plan import PlanConfig
from spareflash.sim import Simulator
from spareflash.sim.spinor import SpiNorFlash

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "TinyOverlay"
BUILD = ROOT / ".build" / "tests" / "overlay_tiny"
TINY = PlanConfig("attiny85", overlay_slots=2, slot_bytes=640, storage_bytes=0)
END_MARKER = 0xFE


def _sources() -> list[Path]:
    return sorted(EXAMPLE.glob("*.cpp"))


@pytest.fixture(scope="module")
def tiny() -> OverlayBuild:
    return build_overlays(_sources(), TINY, BUILD / "tiny", f_cpu=8_000_000, cflags=["-mcall-prologues"])


@pytest.fixture(scope="module")
def reference_elf() -> Path:
    """The same sources as one program for the ATmega328P (no overlays, no SpareFlash library)."""
    srcs = _sources()
    key = hashlib.sha1(b"".join(p.read_bytes() for p in srcs) + (ROOT / "library/src/Overlay.h").read_bytes())
    elf = BUILD / f"reference-{key.hexdigest()[:12]}.elf"
    if not elf.exists():
        elf.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["avr-g++", "-mmcu=atmega328p", "-Os", "-DF_CPU=16000000UL", "-DSPAREFLASH_NO_OVERLAYS",
                        "-std=gnu++11", "-fno-exceptions", f"-I{ROOT / 'library/src'}", "-o", str(elf),
                        *map(str, srcs)], check=True)
    return elf


def _lines(text: str) -> list[str]:
    skip = ("begin=", "loads=", "erased=")  # the overlay build's own status lines
    return [ln for ln in text.splitlines() if not ln.startswith(skip)]


def run_tiny(fw: OverlayBuild, flash_in: bytes | None = None) -> tuple[Simulator, str]:
    sim = Simulator(fw.elf, "attiny85", freq=8_000_000, flash_in=flash_in,
                    peripherals=[SpiNorFlash(fw.overlays_bin.read_bytes())])
    res = sim.run(max_cycles=100_000_000, stop_on_marker=END_MARKER)
    assert res.reason == "marker", f"{res.message}; output:\n{sim.debug.decode('latin-1')}"
    return sim, sim.debug.decode("latin-1")


def test_the_program_is_bigger_than_the_tiny_and_the_resident_part_fits(tiny: OverlayBuild) -> None:
    segments = {k: v for k, v in tiny.sizes.items() if k.startswith("segment:")}
    total = tiny.sizes["resident"] + sum(segments.values())
    assert total > 8192, tiny.sizes
    assert len(segments) == 8
    assert tiny.sizes["resident"] <= tiny.layout.app_end
    assert all(v <= tiny.layout.slot_size - 16 for v in segments.values())


def test_every_segment_runs_on_the_tiny_and_prints_what_the_328p_prints(tiny: OverlayBuild,
                                                                       reference_elf: Path) -> None:
    ref = Simulator(reference_elf, "atmega328p")
    res = ref.run(max_cycles=100_000_000, stop_on_marker=END_MARKER)
    assert res.reason == "marker", res.message
    expected = _lines(ref.serial_text)
    assert len(expected) > 40 and "done=1" in expected
    sim, out = run_tiny(tiny)
    assert "begin=0" in out.splitlines()
    assert _lines(out) == expected
    # spot checks against Python, so the two builds cannot agree on a wrong answer
    assert "crc16=10673" in expected and "isqrt=31622" in expected and "primes=109" in expected
    assert "base64=U3BhcmVGbGFzaCBvdmVybGF5cw==" in expected
    loads = int(next(ln for ln in out.splitlines() if ln.startswith("loads="))[6:])
    assert loads >= 8  # eight segments through two slots
    slots = tiny.layout.slots
    assert sim.page_ops and all(slots.start <= op.page < slots.end for op in sim.page_ops)
