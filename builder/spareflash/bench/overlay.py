"""Benchmarks of the Overlay subsystem, in simulated cycles and erase counts (`spareflash bench overlay [--json]`).

Firmware: tests/firmware/overlay/bench (two segments that each fill a slot, different in every byte), built with the
real toolchain by `build_overlays` for the ATmega328P at 16 MHz (2 x 1024-byte slots, 8 pages of 128 bytes) and the
ATtiny85 at 8 MHz (2 x 512-byte slots, 8 pages of 64 bytes), run in the simulator with the SPI NOR part.

(a) Load time against its floor. The load measured is `Overlay.loadInto(bench_b, 0)` while slot 0 holds bench_a:
    every page differs and none is blank, so every page of the slot is erased and written (checked from the
    simulator's page operations). Cycles between the GPIOR0 markers around the call.
    floor = pages x (page erase + page write) + code bytes x 8 / f_SPI, where
      * pages = the slot pages the segment spans (16-byte slot header + code), times from `chips.py`;
      * f_SPI = the clock the driver runs the bus at: F_CPU / 2 on both parts (SPI2X on the 328P; 16 back-to-back
        USICR strobes per byte on the ATtiny85);
      * the SPI term is ONE read of the segment's code bytes: no command/address bytes, no directory record, no
        second pass. Everything else (CRC-32, compares, the second read, page-buffer fills, read-back verifies,
        the backend's SPM calls) is loader overhead.
    load_over_floor = measured / floor (target <= 1.05); reported per chip and the worse of the two.
(b) identical_reload_erases: page erases (simulator) while bench_b is loaded back into slot 0, which still holds its
    bytes (moved to slot 1 and back): must be 0.
(c) resident_call_extra_cycles: cycles between markers around a call of a resident segment's entry through its
    stub, minus the same call in the same main.cpp built with SPAREFLASH_NO_OVERLAYS (a direct call to the same
    function); the worse of entry index 0 and 1, the worse chip (target <= 20).
(d) loads_over_belady: the firmware's policy (policy.StatsPolicy, bit for bit the firmware's) with 2 slots on the
    loop, phases and uniform random traces against Belady's MIN, LRU beside it. The uniform random trace has no
    structure an online policy can use (~1.5 for any of them): it is kept and reported; a Zipf-skewed random trace
    is added as information (not in the worst-case field).
"""

from __future__ import annotations

import hashlib
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..chips import get_chip
from ..errors import SpareFlashError
from . import BenchResult, Row

REPO = Path(__file__).resolve().parents[3]
FIRMWARE = REPO / "tests" / "firmware" / "overlay" / "bench"
BUILD = REPO / ".build" / "bench" / "overlay"
LOAD_TARGET = 1.05
CALL_TARGET = 20
BELADY_TARGET = 1.2
SLOT_COUNT = 2
END_MARKER = 0xFE
COLD = (1, 2)
SAME = (3, 4)
CALLS = ((0x20, 0x21), (0x22, 0x23))
CYCLE_BUDGET = 60_000_000


@dataclass(frozen=True)
class ChipBench:
    mcu: str
    freq: int
    slot_bytes: int
    cflags: tuple[str, ...] = ()

    @property
    def spi_hz(self) -> int:
        return self.freq // 2  # SpiNor: SPI2X (megaAVR), 16 USICR strobes a byte (ATtiny85)


CHIPS = (ChipBench("atmega328p", 16_000_000, 1024), ChipBench("attiny85", 8_000_000, 512, ("-mcall-prologues",)))


@dataclass
class LoadFigures:
    mcu: str
    code_bytes: int
    pages: int
    load_cycles: int
    floor_cycles: int
    erases: int
    writes: int
    same_erases: int
    same_cycles: int
    call_cycles: tuple[int, ...]
    ref_call_cycles: tuple[int, ...]

    @property
    def over_floor(self) -> float:
        return self.load_cycles / self.floor_cycles

    @property
    def call_extra(self) -> int:
        return max(a - b for a, b in zip(self.call_cycles, self.ref_call_cycles))


def floor_cycles(cb: ChipBench, code_bytes: int) -> tuple[int, int]:
    """(pages, floor cycles) of a load of `code_bytes` into a slot (see the module docstring)."""
    from ..overlay.format import SLOT_HEADER_SIZE

    chip = get_chip(cb.mcu)
    pages = -(-(SLOT_HEADER_SIZE + code_bytes) // chip.page_size)
    page_op = (chip.page_erase_ms + chip.page_write_ms) * cb.freq / 1000
    spi = code_bytes * 8 * cb.freq / cb.spi_hz
    return pages, round(pages * page_op + spi)


def _fill_header(cb: ChipBench, out: Path) -> None:
    """bench_fill.h: two arrays that fill a slot (minus room for the code) and differ in every byte."""
    n = cb.slot_bytes - 16 - 48
    rng = random.Random(cb.mcu)
    a = [rng.randrange(256) for _ in range(n)]
    b = [x ^ rng.randrange(1, 256) for x in a]
    text = [f"#define BENCH_FILL_N {n}",
            "#define BENCH_FILL_A {" + ",".join(map(str, a)) + "}",
            "#define BENCH_FILL_B {" + ",".join(map(str, b)) + "}", ""]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench_fill.h"
    if not path.exists() or path.read_text() != "\n".join(text):
        path.write_text("\n".join(text))


def _sources() -> list[Path]:
    return sorted(FIRMWARE.glob("*.cpp"))


def build(cb: ChipBench) -> tuple[object, Path]:
    """(OverlayBuild, reference ELF without overlays) for one chip, cached under .build/bench/overlay."""
    from ..overlay.build import build_overlays
    from ..plan import PlanConfig

    out = BUILD / cb.mcu
    _fill_header(cb, out / "include")
    cfg = PlanConfig(cb.mcu, overlay_slots=SLOT_COUNT, slot_bytes=cb.slot_bytes, storage_bytes=0)
    fw = build_overlays(_sources(), cfg, out / "ovl", f_cpu=cb.freq, cflags=list(cb.cflags),
                        include_dirs=[out / "include", FIRMWARE])
    srcs = _sources()
    lib_h = REPO / "library" / "src" / "Overlay.h"
    key = hashlib.sha1(b"".join(p.read_bytes() for p in (*srcs, out / "include" / "bench_fill.h", lib_h,
                                                         FIRMWARE / "bench.h")) + repr(cb).encode())
    ref = out / f"reference-{key.hexdigest()[:12]}.elf"
    if not ref.exists():
        cmd = ["avr-g++", f"-mmcu={cb.mcu}", "-Os", f"-DF_CPU={cb.freq}UL", "-DSPAREFLASH_NO_OVERLAYS",
               "-std=gnu++11", "-fno-exceptions", "-ffunction-sections", "-fdata-sections", "-fno-jump-tables",
               *cb.cflags, f"-I{REPO / 'library' / 'src'}", f"-I{out / 'include'}", f"-I{FIRMWARE}",
               "-o", str(ref), *map(str, srcs)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise SpareFlashError(f"bench overlay: reference build failed: {proc.stderr.strip().splitlines()[0]}")
    return fw, ref


def measure_chip(cb: ChipBench) -> LoadFigures:
    from ..sim import Simulator
    from ..sim.spinor import SpiNorFlash

    fw, ref = build(cb)
    sim = Simulator(fw.elf, cb.mcu, freq=cb.freq,  # type: ignore[attr-defined]
                    peripherals=[SpiNorFlash(fw.overlays_bin.read_bytes())])  # type: ignore[attr-defined]
    res = sim.run(max_cycles=CYCLE_BUDGET, stop_on_marker=END_MARKER)
    if res.reason != "marker":
        raise SpareFlashError(f"bench overlay ({cb.mcu}): {res.message}")
    if any(sim.debug):
        raise SpareFlashError(f"bench overlay ({cb.mcu}): a step failed, statuses {list(sim.debug)}")
    by_value = {m.value: m.cycle for m in sim.markers}
    code = len(fw.image.variants[1 * SLOT_COUNT + 0].code)  # type: ignore[attr-defined]
    pages, floor = floor_cycles(cb, code)

    def ops(a: int, b: int, kind: str) -> int:
        return sum(1 for op in sim.page_ops if op.kind == kind and by_value[a] <= op.start < by_value[b])

    erases, writes = ops(*COLD, "erase"), ops(*COLD, "write")
    if erases != pages or writes != pages:
        raise SpareFlashError(f"bench overlay ({cb.mcu}): the cold load erased {erases} and wrote {writes} pages, "
                              f"expected {pages} each (the segments must differ in every page)")
    refsim = Simulator(ref, cb.mcu, freq=cb.freq)
    rres = refsim.run(max_cycles=CYCLE_BUDGET, stop_on_marker=END_MARKER)
    if rres.reason != "marker":
        raise SpareFlashError(f"bench overlay ({cb.mcu}, reference): {rres.message}")
    return LoadFigures(
        cb.mcu, code, pages, sim.cycles_between(*COLD), floor, erases, writes, ops(*SAME, "erase"),
        sim.cycles_between(*SAME), tuple(sim.cycles_between(a, b) for a, b in CALLS),
        tuple(refsim.cycles_between(a, b) for a, b in CALLS))


def zipf_trace(seed: int = 1, n: int = 600, segments: int = 6, s: float = 1.2) -> list[int]:
    """Skewed random calls: segment k is called with probability ~ 1 / (k + 1)^s (a few hot segments)."""
    rng = random.Random(seed)
    weights = [1 / (k + 1) ** s for k in range(segments)]
    return rng.choices(range(segments), weights, k=n)


def policy_figures(quick: bool = False) -> dict[str, dict[str, float]]:
    from ..overlay.policy import compare

    figs = compare(SLOT_COUNT)
    from ..overlay.policy import belady, simulate

    tr = zipf_trace(n=300 if quick else 600)
    opt = belady(tr, SLOT_COUNT).loads
    stats, lru = simulate(tr, SLOT_COUNT, "stats").loads, simulate(tr, SLOT_COUNT, "lru").loads
    figs["zipf"] = {"belady_loads": opt, "stats_loads": stats, "lru_loads": lru,
                    "loads_over_belady": stats / opt, "lru_loads_over_belady": lru / opt}
    return figs


def measure(quick: bool = False) -> BenchResult:
    result = BenchResult("overlay")
    loads = [measure_chip(cb) for cb in CHIPS]
    f = result.fields
    for lf, cb in zip(loads, CHIPS):
        kb = lf.code_bytes / 1024
        ms_per_kb = lf.load_cycles / cb.freq * 1000 / kb
        floor_ms_per_kb = lf.floor_cycles / cb.freq * 1000 / kb
        f[f"load_over_floor_{lf.mcu}"] = round(lf.over_floor, 4)
        f[f"load_ms_per_kb_{lf.mcu}"] = round(ms_per_kb, 3)
        f[f"floor_ms_per_kb_{lf.mcu}"] = round(floor_ms_per_kb, 3)
        f[f"load_cycles_{lf.mcu}"] = lf.load_cycles
        f[f"floor_cycles_{lf.mcu}"] = lf.floor_cycles
        f[f"identical_reload_cycles_{lf.mcu}"] = lf.same_cycles
        f[f"resident_call_extra_cycles_{lf.mcu}"] = lf.call_extra
        result.rows.append(Row(f"load {lf.code_bytes} B, {lf.pages} pages ({lf.mcu} @ {cb.freq // 1_000_000} MHz)",
                               lf.over_floor, "x floor", f"<= {LOAD_TARGET}", lf.over_floor <= LOAD_TARGET,
                               f"floor {floor_ms_per_kb:.1f} ms/KB (pages x (erase+write) + 1 SPI read); "
                               f"measured {ms_per_kb:.1f} ms/KB"))
        result.rows.append(Row(f"identical reload erases ({lf.mcu})", lf.same_erases, "erases", "0",
                               lf.same_erases == 0, f"{lf.same_cycles:,} cycles (pass A only)"))
        result.rows.append(Row(f"resident call extra ({lf.mcu})", lf.call_extra, "cycles", f"<= {CALL_TARGET}",
                               lf.call_extra <= CALL_TARGET,
                               f"direct call (no overlays) {min(lf.ref_call_cycles)}-{max(lf.ref_call_cycles)} "
                               f"cycles; via stub {min(lf.call_cycles)}-{max(lf.call_cycles)}"))
    f["load_over_floor"] = round(max(lf.over_floor for lf in loads), 4)
    f["identical_reload_erases"] = max(lf.same_erases for lf in loads)
    f["resident_call_extra_cycles"] = max(lf.call_extra for lf in loads)

    figs = policy_figures(quick)
    for name, fig in figs.items():
        f[f"loads_over_belady_{name}"] = round(fig["loads_over_belady"], 4)
        f[f"lru_loads_over_belady_{name}"] = round(fig["lru_loads_over_belady"], 4)
        extra = name == "zipf"
        target = "information" if extra else f"<= {BELADY_TARGET}"
        ok = None if extra else fig["loads_over_belady"] <= BELADY_TARGET  # the random trace fails: shown as NO
        result.rows.append(Row(f"loads vs Belady, 2 slots, trace {name}", fig["loads_over_belady"], "x Belady",
                               target, ok, f"Belady {fig['belady_loads']:.0f} loads, ours {fig['stats_loads']:.0f}, "
                               f"LRU {fig['lru_loads']:.0f} ({fig['lru_loads_over_belady']:.2f}x)"))
    main = [n for n in figs if n != "zipf"]
    f["loads_over_belady"] = round(max(figs[n]["loads_over_belady"] for n in main), 4)
    f["lru_loads_over_belady"] = round(max(figs[n]["lru_loads_over_belady"] for n in main), 4)
    result.notes.append(
        "the uniform random trace (3 segments, 2 slots, each call independent) cannot reach 1.2 for any online "
        f"policy: ours {figs['random']['loads_over_belady']:.2f}x, LRU {figs['random']['lru_loads_over_belady']:.2f}x "
        "Belady; it is kept in loads_over_belady (the worst trace) and reported as is. The Zipf trace "
        f"(6 segments, s=1.2) is extra information: {figs['zipf']['loads_over_belady']:.2f}x.")
    result.notes.append("load floor = pages x (erase + write) from chips.py + one SPI read of the code bytes at "
                        "F_CPU/2; everything else the loader does counts against it")
    return result
