"""Overlays on the simulated ATmega328P + W25Q32-like SPI NOR: OverlayBasics built with the real toolchain.

The expected outputs are computed here in Python; the same functions must give them whether their segment was
just loaded, was resident from before a reset, or was reloaded after a power cut in the middle of a load.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from spareflash.overlay.build import OverlayBuild, OverlayBuildError, build_overlays
from spareflash.overlay.format import HEADER_SIZE, Variant, crc32, pack, unpack
from spareflash.plan import PlanConfig
from spareflash.sim import Simulator, run_with_power_cut
from spareflash.sim.spinor import SpiNorFlash

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build" / "tests" / "overlay"
MCU = "atmega328p"
CONFIG = PlanConfig(MCU, overlay_slots=2, slot_bytes=512)
SF_ERR_OVERLAY_CRC, SF_ERR_OVERLAY_IMAGE = 0x41, 0x44
CYCLES = 60_000_000
END_MARKER = 0xFE  # the example writes it to GPIOR0 just before cli(); sleep_cpu();


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def checksum(s: str) -> int:
    v = 0
    for ch in s.encode():
        v = (((v << 1) | (v >> 15)) & 0xFFFF) ^ ch
    return v


EXPECTED = {"fib24": fib(24), "gcd": math.gcd(1071, 462), "checksum": checksum("SpareFlash"),
            "fib_digits40": len(str(fib(40))), "fib30": fib(30)}


@pytest.fixture(scope="module")
def basics() -> OverlayBuild:
    return build_overlays(sorted((ROOT / "examples" / "OverlayBasics").glob("*.cpp")), CONFIG, BUILD / "basics")


def parse(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (ln.split("=") for ln in text.splitlines() if "=" in ln)}


def boot(fw: OverlayBuild, nor_image: bytes, flash_in: bytes | None = None) -> tuple[Simulator, dict[str, int]]:
    sim = Simulator(fw.elf, MCU, peripherals=[SpiNorFlash(nor_image)], flash_in=flash_in)
    res = sim.run(max_cycles=CYCLES, stop_on_marker=END_MARKER)
    assert res.reason in ("sleep", "marker"), res.message
    return sim, parse(sim.serial_text)


def results(out: dict[str, int]) -> dict[str, int]:
    return {k: out[k] for k in EXPECTED if k in out}


def test_segments_load_on_first_call_and_give_the_python_results(basics: OverlayBuild) -> None:
    sim, out = boot(basics, basics.overlays_bin.read_bytes())
    assert out["begin"] == 0 and out["resident_math"] == 0 and out["resident_text"] == 0
    assert results(out) == EXPECTED  # fib_digits40 calls math from text: through the stub
    assert out["loads"] == 2
    writes = [op for op in sim.page_ops if op.kind == "write"]
    assert writes and all(basics.layout.slots.start <= op.page < basics.layout.slots.end for op in sim.page_ops)


def test_after_a_reset_resident_segments_run_without_any_erase(basics: OverlayBuild) -> None:
    first, _ = boot(basics, basics.overlays_bin.read_bytes())
    sim, out = boot(basics, basics.overlays_bin.read_bytes(), flash_in=first.flash)
    assert out["resident_math"] == 1 and out["resident_text"] == 1
    assert results(out) == EXPECTED
    assert sim.page_ops == [] and out["loads"] == 0


def _resign_header(data: bytearray) -> bytes:
    struct.pack_into("<I", data, HEADER_SIZE - 4, crc32(bytes(data[:HEADER_SIZE - 4])))
    return bytes(data)


def _corruptions(good: bytes) -> dict[str, tuple[bytes, int | None]]:
    """name -> (NOR contents, status begin() must return or None when only the load may notice)."""
    wrong_mcu = bytearray(good)
    wrong_mcu[8:11] = bytes((0x1E, 0x93, 0x0B))  # ATtiny85
    wrong_geo = bytearray(good)
    struct.pack_into("<I", wrong_geo, 16, 1024)
    first_code = struct.unpack_from("<I", good, HEADER_SIZE + 8)[0]  # segment 0 (called first), slot 0
    code = bytearray(good)
    # segment 0's code for every slot: the policy may pick any slot (the stack scan over-protects a slot when
    # a byte pair on the stack looks like a return address into it, which depends on the code layout)
    for slot in range(CONFIG.overlay_slots):
        code[struct.unpack_from("<I", good, HEADER_SIZE + 20 * slot + 8)[0] + 5] ^= 0x40
    return {
        "segment-crc": (bytes(code), None),
        "truncated": (good[: first_code + 10], None),
        "header-crc": (good[:36] + b"\x00" + good[37:], SF_ERR_OVERLAY_CRC),  # a reserved byte
        "wrong-mcu": (_resign_header(wrong_mcu), SF_ERR_OVERLAY_IMAGE),
        "wrong-geometry": (_resign_header(wrong_geo), SF_ERR_OVERLAY_IMAGE),
        "blank-chip": (b"\xff" * 4096, None),
    }


CASES = ["segment-crc", "truncated", "header-crc", "wrong-mcu", "wrong-geometry", "blank-chip"]


@pytest.mark.parametrize("case", CASES)
def test_bad_images_are_refused_before_any_erase_and_resident_segments_still_run(basics: OverlayBuild,
                                                                                  case: str) -> None:
    good = basics.overlays_bin.read_bytes()
    nor, begin_status = _corruptions(good)[case]
    first, _ = boot(basics, good)
    # resident from before: every call still works, nothing is erased
    sim, out = boot(basics, nor, flash_in=first.flash)
    assert results(out) == EXPECTED and sim.page_ops == []
    if begin_status is not None:
        assert out["begin"] == begin_status
    # fresh chip: the load is refused (error hook prints the status), no page is touched
    sim, out = boot(basics, nor)
    assert sim.page_ops == []
    assert out["overlay_error"] != 0 and out["segment"] == 0 and "fib24" not in out


def _cut_points(fw: OverlayBuild, n: int) -> list[int]:
    sim, _ = boot(fw, fw.overlays_bin.read_bytes())
    start, end = sim.page_ops[0].start - 2000, sim.page_ops[-1].end + 2000
    return [start + (end - start) * i // (n - 1) for i in range(n)]


def _cut_and_reboot(fw: OverlayBuild, cut: int, seed: int, second_boot: bool = True) -> bool:
    """Cut at `cut`, reboot, check; True when the cut tore a page in flight."""
    good = fw.overlays_bin.read_bytes()
    res = run_with_power_cut(fw.elf, MCU, cut, seed, peripherals=[SpiNorFlash(good)])
    sim, out = boot(fw, good, flash_in=res.flash)
    assert results(out) == EXPECTED, f"cut at {cut} (torn page {res.torn_page})"
    if second_boot:  # a second reboot finds everything resident: the reload was complete
        sim2, out2 = boot(fw, good, flash_in=sim.flash)
        assert sim2.page_ops == [] and out2["resident_math"] == 1 and out2["resident_text"] == 1
    return res.torn_page is not None


def test_power_cuts_at_120_points_during_loads_end_in_a_correct_reload(basics: OverlayBuild) -> None:
    # the run to the cut is short (the loads start right after begin()); every 6th cut also checks that a
    # second reboot finds both segments resident (the reload was complete): ~15 s in all
    cuts = _cut_points(basics, 120)
    assert len(set(cuts)) == 120
    torn = sum(_cut_and_reboot(basics, cut, seed=i, second_boot=i % 6 == 0) for i, cut in enumerate(cuts))
    assert torn >= 60  # most cuts land inside a page erase/write (the loads are mostly programming time)


@pytest.mark.slow
def test_power_cut_campaign_600_points(basics: OverlayBuild) -> None:
    for i, cut in enumerate(_cut_points(basics, 600)):
        _cut_and_reboot(basics, cut, seed=1000 + i)


# ---- the boot-section page helper (library/src/overlay_bootpage.S) -----------------------------------------------
def _section(elf: Path, name: str) -> tuple[int, int] | None:
    from elftools.elf.elffile import ELFFile
    with elf.open("rb") as fh:
        sec = ELFFile(fh).get_section_by_name(name)
        return None if sec is None else (sec["sh_addr"], sec["sh_size"])


def test_the_page_helper_sits_in_the_boot_section_after_the_stub_and_the_image_verifies(basics: OverlayBuild) -> None:
    from spareflash.plan import BOOTPAGE_MAX_BYTES, BOOTPAGE_SECTION, BOOTSTUB_MAX_BYTES
    from spareflash.verify import verify_image

    lay = basics.layout
    helper = _section(basics.elf, BOOTPAGE_SECTION)
    stub = _section(basics.elf, ".spareflash_bootstub")
    assert helper is not None and stub is not None and lay.boot is not None
    assert stub[0] == lay.boot_start and stub[1] <= BOOTSTUB_MAX_BYTES
    assert helper[0] == lay.bootpage_start == lay.boot_start + BOOTSTUB_MAX_BYTES
    assert 0 < helper[1] <= BOOTPAGE_MAX_BYTES and helper[0] + helper[1] <= lay.boot.start + lay.boot.size
    assert lay.boot.size == 512  # the smallest boot section of the 328P, as without the helper: BOOTSZ unchanged
    res = verify_image(basics.elf, lay)
    assert res.ok, [v.rule for v in res.violations]


# Slots that reach below the NRWW section (0x7000 on the 328P): 4 x 1 KB slots from 0x6E00, so slot 0 has four RWW
# pages (the helper streams the next page while they are erased and written) and four NRWW pages (the CPU halts:
# the helper fills the page buffer straight from the stream). The benchmark firmware: two segments that fill a slot.
RWW_CONFIG = PlanConfig(MCU, overlay_slots=4, slot_bytes=1024, storage_bytes=0)


@pytest.fixture(scope="module")
def rww() -> OverlayBuild:
    from spareflash.bench import overlay as bench

    out = BUILD / "rww"
    bench._fill_header(bench.CHIPS[0], out / "include")
    return build_overlays(bench._sources(), RWW_CONFIG, out / "ovl", include_dirs=[out / "include", bench.FIRMWARE])


def _check_slots(fw: OverlayBuild, flash: bytes) -> int:
    """Every slot with a slot header holds exactly its variant's code and a blank tail; returns how many do."""
    lay, valid = fw.layout, 0
    for k in range(lay.slot_count):
        a = lay.slots.start + k * lay.slot_size
        magic, seg, slot, size = struct.unpack_from("<HBBH", flash, a)
        if magic != 0x4F53:
            continue
        code = flash[a + 16:a + 16 + size]
        if crc32(code) != struct.unpack_from("<I", flash, a + 12)[0]:
            continue  # torn: begin() does not treat it as resident
        v = next(v for v in fw.image.variants if v.segment == seg and v.slot == k)
        assert slot == k and code == v.code, f"slot {k}"
        end = a + -(-(16 + size) // 128) * 128
        assert set(flash[a + 16 + size:end]) <= {0xFF}
        valid += 1
    return valid


def _run_rww(fw: OverlayBuild, flash_in: bytes | None = None) -> Simulator:
    sim = Simulator(fw.elf, MCU, peripherals=[SpiNorFlash(fw.overlays_bin.read_bytes())], flash_in=flash_in)
    res = sim.run(max_cycles=CYCLES, stop_on_marker=END_MARKER)
    assert res.reason == "marker", res.message
    assert not any(sim.debug), f"a step failed: statuses {list(sim.debug)}"
    return sim


def test_loads_into_a_slot_across_the_rww_boundary_stream_ahead_on_rww_pages(rww: OverlayBuild) -> None:
    assert rww.layout.slots.start == 0x6E00
    sim = _run_rww(rww)
    assert _check_slots(rww, sim.flash) == 2
    m = {x.value: x.cycle for x in sim.markers}
    ops = [op for op in sim.page_ops if m[1] <= op.start < m[2]]  # bench_b over bench_a in slot 0
    assert [op.page for op in ops if op.kind == "write"][-1] == 0x6E00  # the header page last
    # between an RWW page's write and the next page's erase only the fill and the read-back run (the next page
    # arrived during the operations); on an NRWW page its 128 bytes are streamed in that gap too
    gaps = {ops[i].page: ops[i].start - ops[i - 1].end for i in range(1, len(ops)) if ops[i].kind == "erase"}
    assert max(gaps[p] for p in (0x6E80, 0x6F00, 0x6F80)) + 128 * 10 < min(gaps[p] for p in (0x7080, 0x7100))


def test_power_cuts_during_rww_and_nrww_page_loads_end_in_correct_slots(rww: OverlayBuild) -> None:
    sim = _run_rww(rww)
    m = {x.value: x.cycle for x in sim.markers}
    start, end = m[1], m[2]
    good = rww.overlays_bin.read_bytes()
    for i in range(16):
        cut = start + (end - start) * i // 15
        res = run_with_power_cut(rww.elf, MCU, cut, seed=500 + i, peripherals=[SpiNorFlash(good)])
        _check_slots(rww, res.flash)  # whatever is valid after the cut is right
        again = _run_rww(rww, flash_in=res.flash)  # the firmware's loads all succeed after it
        assert _check_slots(rww, again.flash) == 2


SEG_A = """#include <Overlay.h>
int b_twice(int x);
SPAREFLASH_OVERLAY(a) int a_calls(int x) { return b_twice(x) + 1; }
"""
SEG_B_SAME_FILE = SEG_A + "SPAREFLASH_OVERLAY(b) int b_twice(int x) { return 2 * x; }\n"
MAIN = """#include <Overlay.h>
int a_calls(int x);
int main() { return a_calls(3); }
"""


def test_a_direct_reference_between_segments_is_a_build_error_naming_both(tmp_path: Path) -> None:
    (tmp_path / "seg.cpp").write_text(SEG_B_SAME_FILE)
    (tmp_path / "main.cpp").write_text(MAIN)
    with pytest.raises(OverlayBuildError, match=r"^cross-reference: segment a references .* of segment b directly"):
        build_overlays([tmp_path / "seg.cpp", tmp_path / "main.cpp"], CONFIG, tmp_path / "build")


def test_resident_code_calling_a_segment_directly_is_a_build_error(tmp_path: Path) -> None:
    (tmp_path / "mixed.cpp").write_text("""#include <Overlay.h>
SPAREFLASH_OVERLAY(a) int seg_f(int x) { return x + 1; }
int main() { return seg_f(2); }
""")
    with pytest.raises(OverlayBuildError, match=r"resident-reference: .* segment a"):
        build_overlays([tmp_path / "mixed.cpp"], CONFIG, tmp_path / "build")


def test_segment_code_is_not_in_the_firmware_image(basics: OverlayBuild) -> None:
    from intelhex import IntelHex
    ih = IntelHex(str(basics.hex))
    slots = basics.layout.slots
    assert not [a for a in ih.addresses() if slots.start <= a < slots.end]
    for v in basics.image.variants:
        assert v.code not in ih.tobinstr(0, ih.maxaddr())


# ---- authenticated images (SipHash-2-4 MACs, -DSPAREFLASH_OVERLAY_MAC=1) --------------------------------------
KEY = bytes(range(0x10, 0x20))
SF_ERR_OVERLAY_MAC = 0x46


@pytest.fixture(scope="module")
def signed() -> OverlayBuild:
    key_define = "OVERLAY_KEY=" + ",".join(f"0x{b:02X}" for b in KEY)
    return build_overlays(sorted((ROOT / "examples" / "OverlayBasics").glob("*.cpp")), CONFIG, BUILD / "signed",
                          defines=["SPAREFLASH_OVERLAY_MAC=1", key_define], mac_key=KEY)


def _forged(good: bytes) -> bytes:
    """Segment 0's code changed by someone without the key: CRCs right (anyone can compute them), MACs not."""
    img = unpack(good)
    v = img.variants[0]
    img.variants[0] = Variant(v.segment, v.slot, v.code[:6] + bytes([v.code[6] ^ 0x01]) + v.code[7:], v.link_address,
                              v.entry_count)
    return pack(img, mac_key=bytes(16))


def test_a_signed_image_loads_and_runs(signed: OverlayBuild) -> None:
    sim, out = boot(signed, signed.overlays_bin.read_bytes())
    assert out["begin"] == 0 and results(out) == EXPECTED and out["loads"] == 2


def test_a_forged_segment_is_refused_before_any_erase_and_resident_code_still_runs(signed: OverlayBuild) -> None:
    good = signed.overlays_bin.read_bytes()
    forged = _forged(good)
    unpack(forged)  # a well-formed image: only the MAC tells
    sim, out = boot(signed, forged)
    assert out["begin"] == 0  # header and directory are fine
    assert sim.page_ops == [] and out["overlay_error"] == SF_ERR_OVERLAY_MAC and "fib24" not in out
    first, _ = boot(signed, good)
    sim, out = boot(signed, forged, flash_in=first.flash)
    assert results(out) == EXPECTED and sim.page_ops == []


def test_an_unsigned_image_is_refused_when_a_key_is_set(signed: OverlayBuild, basics: OverlayBuild) -> None:
    img = unpack(signed.overlays_bin.read_bytes())
    sim, out = boot(signed, pack(img))  # the same segments, no MACs
    assert out["begin"] == SF_ERR_OVERLAY_MAC and sim.page_ops == [] and out["overlay_error"] == SF_ERR_OVERLAY_MAC
