"""Storage benchmark (issue 3): FlashStorage on the simulated ATmega328P at 16 MHz, 4 KB region, 16 keys of 4 bytes.

Every figure comes from one run, in deterministic units (simulated cycles, bytes, erase counts), beside its
baseline measured in the same run:

* Workload: tests/firmware/bench_storage/StorageBench puts BENCH_PUTS values (20,000; 500 with quick=True) under
  keys drawn from a xorshift16 sequence, value = put index (uint32). Each put sits between two GPIOR0 markers:
  `put_mean_over_page_write` = mean cycles per put / one page-write time (chips.py page_write_ms at 16 MHz,
  72,000 cycles), amortised erases and garbage collection included; `put_worst_page_ops` = most page operations
  (erase or write, from the simulator's SPM log) started inside one put. The Python model runs the same workload
  and must leave the same region bytes as the firmware (a note says so, or says it does not).
* Endurance (logical 4-byte updates before any page reaches chips.py flash_endurance = 10,000 erases): the model's
  true per-page erase counts (FlashEmu.erases) over the workload continued to ENDURANCE_PUTS puts, measured after
  a warm-up that has gone round the ring several times, extrapolated linearly: updates = puts x 10,000 / (most
  erases of one page during those puts). Target >= 45% of region_bytes x 10,000 / 4.
  Baselines, same workload: a naive store keeping the 16 values in one page that it erases and rewrites on every
  put (FlashEmu, same extrapolation), and Arduino's EEPROM library: EEPROM.put(key x 4, value) writes the bytes that
  changed (EEPROM.update semantics); updates = puts x 100,000 / (most writes of one EEPROM cell).
* 16-byte struct: BENCH_REPS puts of a 16-byte struct whose every byte changes, FlashStorage.put vs Arduino's
  EEPROM.put of the same struct, interleaved in the same firmware run (means of the cycles between markers; the
  EEPROM's window lasts until its last byte write has completed, which the next flash put would otherwise wait
  for). `struct16_speedup_vs_eeprom` is the mean over all struct puts (erases and garbage collection amortised; this
  workload makes no GC copies, its GC cost is the CPU of the liveness tests, docs/storage-format.md 5.9);
  `struct16_speedup_typical` the mean over the puts that did one page write and nothing else.
* begin() and the worst get() on a full region of 1, 2, 4, 8 and 16 KB: the model fills each region with the same
  workload (two passes round the ring: every page in use, GC in steady state), the image is put into the firmware's
  flash and the firmware times begin() and get() of the 16 keys and of absent keys 16, 32 and 200 (an absent key
  walks every record of the chain: the worst case).
* Code size: examples/StorageBasics minus tests/firmware/bench_storage/StorageBasicsBare, both built for the Uno
  with the same plan and flags by build_sketch. The bare sketch is StorageBasics with every library call removed:
  the same Serial prints with the same argument types, the values replaced by constants (so the difference is the
  library's code, its call sites and its static RAM, nothing of the sketch's own printing). Flash = .text + .data;
  static RAM = .data + .bss; the bootstub (its own section in the boot section) is reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..build import build_sketch
from ..chips import get_chip
from ..plan import PlanConfig
from ..sim import Simulator
from ..sim.firmware import load_firmware
from ..storage.flash import FlashEmu
from ..storage.store import HDR, StorageModel
from . import BenchResult, Row

REPO = Path(__file__).resolve().parents[3]
BENCH_SKETCH = REPO / "tests" / "firmware" / "bench_storage" / "StorageBench"
BARE_SKETCH = REPO / "tests" / "firmware" / "bench_storage" / "StorageBasicsBare"
BASICS_SKETCH = REPO / "examples" / "StorageBasics"
MCU = "atmega328p"
BOARD = "uno"
F_CPU = 16_000_000
KEYS = 16
REGION = 4096
SIZES_KB = (1, 2, 4, 8, 16)
ABSENT_KEYS = (16, 32, 200)  # the firmware's list, after keys 0..15

PUT_MEAN_TARGET = 1.15
PUT_OPS_TARGET = 3
ENDURANCE_TARGET = 0.45
SPEEDUP_TARGET = 10.0
BEGIN_MS_TARGET = 2.0
GET_MS_TARGET = 1.0
CODE_TARGET = 1200
RAM_TARGET = 24
BOOTSTUB_TARGET = 64


def xorshift16_keys(n: int, keys: int = KEYS) -> list[int]:
    """The keys StorageBench.ino draws: xorshift16 (7, 9, 8) from 0xACE1, key = x % keys."""
    x, out = 0xACE1, []
    for _ in range(n):
        x ^= (x << 7) & 0xFFFF
        x ^= x >> 9
        x ^= (x << 8) & 0xFFFF
        out.append(x % keys)
    return out


def model_workload(region_bytes: int, puts: int, page_size: int) -> StorageModel:
    """The firmware's workload on the Python model: put(key_i, i as uint32 little endian)."""
    store = StorageModel(FlashEmu(page_size, region_bytes // page_size))
    for i, k in enumerate(xorshift16_keys(puts)):
        st = store.put(k, i.to_bytes(4, "little"))
        if st:
            raise RuntimeError(f"model put {i} returned {st:#x}")
    return store


@dataclass
class Endurance:
    updates: float
    puts: int
    max_erases: int


def flashstorage_endurance(region_bytes: int, page_size: int, puts: int, endurance: int) -> Endurance:
    """Steady-state erases per page: warm up (several times round the ring), then count true erases."""
    pages = region_bytes // page_size
    warm = pages * (page_size - HDR) // 8 * 4  # ~4 times round the ring with 8-byte records
    keys = xorshift16_keys(warm + puts)
    store = StorageModel(FlashEmu(page_size, pages))
    for i, k in enumerate(keys[:warm]):
        store.put(k, i.to_bytes(4, "little"))
    before = list(store.flash.erases)
    for i, k in enumerate(keys[warm:], start=warm):
        store.put(k, i.to_bytes(4, "little"))
    most = max(a - b for a, b in zip(store.flash.erases, before))
    return Endurance(puts * endurance / most, puts, most)


def naive_endurance(page_size: int, puts: int, endurance: int) -> Endurance:
    """A store that keeps the 16 values in one page and erases and rewrites that page on every put."""
    flash = FlashEmu(page_size, 1)
    values = bytearray(b"\xff" * (KEYS * 4))
    for i, k in enumerate(xorshift16_keys(puts)):
        values[k * 4:k * 4 + 4] = i.to_bytes(4, "little")
        flash.erase(0)
        flash.program(0, bytes(values))
    most = max(flash.erases)
    return Endurance(puts * endurance / most, puts, most)


def eeprom_endurance(puts: int, endurance: int) -> Endurance:
    """Arduino's EEPROM.put(k * 4, uint32): a cell is written only when its byte changes (EEPROM.update)."""
    cells = [0xFF] * (KEYS * 4)
    writes = [0] * (KEYS * 4)
    for i, k in enumerate(xorshift16_keys(puts)):
        for j, b in enumerate(i.to_bytes(4, "little")):
            if cells[k * 4 + j] != b:
                cells[k * 4 + j] = b
                writes[k * 4 + j] += 1
    most = max(writes)
    return Endurance(puts * endurance / most, puts, most)


def _pairs(sim: Simulator, a: int, b: int) -> list[tuple[int, int]]:
    """(start, end) cycles of every marker a followed by marker b."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for m in sim.markers:
        if m.value == a:
            start = m.cycle
        elif m.value == b and start is not None:
            out.append((start, m.cycle))
            start = None
    return out


def _durations(sim: Simulator, a: int, b: int) -> list[int]:
    return [e - s for s, e in _pairs(sim, a, b)]


def _run(elf: Path, flash_in: bytes | None, budget: int) -> Simulator:
    sim = Simulator(str(elf), MCU, flash_in=flash_in)
    res = sim.run(max_cycles=budget)
    if not res.ok:
        raise RuntimeError(f"StorageBench did not finish: {res.message}")
    text = sim.serial_text
    if "begin: 0" not in text or "errors: 0" not in text:
        raise RuntimeError(f"StorageBench reported errors: {text.strip()!r}")
    return sim


def _ops_per_window(sim: Simulator, windows: list[tuple[int, int]]) -> list[int]:
    """Page operations (erase or write, from the SPM log) started inside each (start, end) window."""
    starts = sorted(op.start for op in sim.page_ops)
    out: list[int] = []
    j = 0
    for s, e in windows:
        while j < len(starts) and starts[j] < s:
            j += 1
        k = j
        while k < len(starts) and starts[k] < e:
            k += 1
        out.append(k - j)
        j = k
    return out


def _ms(cycles: float) -> float:
    return cycles * 1000.0 / F_CPU


@dataclass
class SizeRow:
    kb: int
    begin_cycles: int
    get_worst_cycles: int
    get_present_worst_cycles: int


def measure_size(kb: int) -> SizeRow:
    """begin() and get() on a region of kb KB that the model has filled (every page in use)."""
    chip = get_chip(MCU)
    region = kb * 1024
    r = build_sketch(BENCH_SKETCH, BOARD, plan_config=PlanConfig(MCU, storage_bytes=region),
                     extra_flags=["-DBENCH_PUTS=0", "-DBENCH_REPS=0"])
    assert r.layout is not None
    pages = region // chip.page_size
    store = model_workload(region, 2 * pages * (chip.page_size - HDR) // 8, chip.page_size)
    image = bytearray(load_firmware(r.elf).flash.ljust(chip.flash_size, b"\xff"))
    s = r.layout.storage
    image[s.start:s.end] = store.flash.data
    sim = _run(r.elf, bytes(image), 50_000_000)
    gets = _durations(sim, 20, 21)
    if len(gets) != KEYS + len(ABSENT_KEYS):
        raise RuntimeError(f"StorageBench: {len(gets)} timed gets, expected {KEYS + len(ABSENT_KEYS)}")
    return SizeRow(kb, _durations(sim, 10, 11)[0], max(gets), max(gets[:KEYS]))


def code_size() -> tuple[int, int, int]:
    """(flash bytes, static RAM bytes, bootstub bytes): StorageBasics minus StorageBasicsBare."""
    lib = build_sketch(BASICS_SKETCH, BOARD).size
    bare = build_sketch(BARE_SKETCH, BOARD).size
    code = (lib["text"] + lib["data"]) - (bare["text"] + bare["data"])
    ram = (lib["data"] + lib["bss"]) - (bare["data"] + bare["bss"])
    return code, ram, lib.get("bootstub", 0)


def measure(quick: bool = False) -> BenchResult:
    chip = get_chip(MCU)
    page_write = chip.page_write_ms * F_CPU / 1000  # 72,000 cycles
    puts = 500 if quick else 20_000
    reps = 4 if quick else 24
    res = BenchResult("storage")
    notes = res.notes

    # ---- the workload in the firmware ---------------------------------------------------------------------
    r = build_sketch(BENCH_SKETCH, BOARD, plan_config=PlanConfig(MCU, storage_bytes=REGION),
                     extra_flags=[f"-DBENCH_PUTS={puts}", f"-DBENCH_REPS={reps}"])
    assert r.layout is not None
    sim = _run(r.elf, None, puts * 400_000 + reps * 2_000_000 + 50_000_000)
    windows = _pairs(sim, 1, 2)
    if len(windows) != puts:
        raise RuntimeError(f"StorageBench: {len(windows)} timed puts, expected {puts}")
    put_cycles = [e - s for s, e in windows]
    ops_per_put = _ops_per_window(sim, windows)
    put_mean = sum(put_cycles) / puts
    struct_windows = _pairs(sim, 5, 6)
    struct_fs = [e - s for s, e in struct_windows]
    struct_ops = _ops_per_window(sim, struct_windows)
    struct_ee = _durations(sim, 7, 8)
    fs_mean = sum(struct_fs) / len(struct_fs)
    ee_mean = sum(struct_ee) / len(struct_ee)
    fs_one_write = min(struct_fs)
    # the typical struct put: one page write, no erase or GC copy in it
    typical = [c for c, n in zip(struct_fs, struct_ops) if n == 1] or [fs_one_write]
    fs_typical = sum(typical) / len(typical)
    begin_after = _durations(sim, 12, 13)[0]
    get_after = max(_durations(sim, 24, 25))

    # The model replays the same puts (workload, then the struct puts) and must leave the same bytes.
    model = model_workload(REGION, puts, chip.page_size)
    for rep in range(reps):
        model.put(100, bytes((rep * 3 + j + 1) & 0xFF for j in range(16)))
    s = r.layout.storage
    same = bytes(model.flash.data) == sim.flash[s.start:s.end]
    notes.append("firmware and Python model leave byte-identical regions after the workload" if same else
                 "MISMATCH: the firmware's region differs from the Python model's after the same workload")

    # The mean's floor: a 20-byte record (key, len, 16 bytes, crc) fits (page - header) // 20 times in a page, so
    # one put in that many also erases the next page; no software at all would still cost this much.
    per_page = (chip.page_size - HDR) // (16 + 4)
    floor = page_write * (1 + 1 / per_page)
    notes.append(f"16-byte struct: {per_page} records per {chip.page_size}-byte page, so the mean put is at least "
                 f"{page_write:.0f} x (1 + 1/{per_page}) = {floor:.0f} cycles (write + amortised erase) and the "
                 f"mean speed-up at most {ee_mean:.0f} / {floor:.0f} = {ee_mean / floor:.2f}x; measured mean "
                 f"{fs_mean:.0f} cycles (GC copies included), typical put {fs_typical:.0f}. EEPROM.put is timed "
                 "until its last byte write completes (eeprom_busy_wait)")

    # ---- endurance (model erase counts, extrapolated) -----------------------------------------------------
    end_puts = 20_000 if quick else 200_000
    fsend = flashstorage_endurance(REGION, chip.page_size, end_puts, chip.flash_endurance)
    naive = naive_endurance(chip.page_size, end_puts, chip.flash_endurance)
    ee = eeprom_endurance(end_puts, chip.eeprom_endurance)
    limit = REGION * chip.flash_endurance / 4
    notes.append(f"endurance: model, {end_puts} puts after a warm-up, most-erased page {fsend.max_erases} erases; "
                 f"naive {naive.max_erases}; EEPROM most-written cell {ee.max_erases} writes; linear extrapolation "
                 f"to {chip.flash_endurance} erases ({chip.eeprom_endurance} EEPROM writes)")

    # ---- begin/get by region size ---------------------------------------------------------------------------
    sizes = {kb: measure_size(kb) for kb in SIZES_KB}

    code, ram, stub = code_size()

    f = res.fields
    f["put_mean_cycles"] = round(put_mean)
    f["put_mean_over_page_write"] = round(put_mean / page_write, 4)
    f["put_worst_cycles"] = max(put_cycles)
    f["put_worst_page_ops"] = max(ops_per_put)
    f["put_mean_page_ops"] = round(sum(ops_per_put) / puts, 4)
    f["endurance_updates"] = round(fsend.updates)
    f["endurance_fraction_of_limit"] = round(fsend.updates / limit, 4)
    f["naive_endurance_updates"] = round(naive.updates)
    f["eeprom_endurance_updates"] = round(ee.updates)
    f["struct16_put_cycles"] = round(fs_mean)
    f["struct16_eeprom_put_cycles"] = round(ee_mean)
    f["struct16_speedup_vs_eeprom"] = round(ee_mean / fs_mean, 3)
    f["struct16_speedup_one_page_write"] = round(ee_mean / fs_one_write, 3)
    f["struct16_put_typical_cycles"] = round(fs_typical)
    f["struct16_speedup_typical"] = round(ee_mean / fs_typical, 3)
    f["begin_ms_after_workload"] = round(_ms(begin_after), 4)
    f["get_worst_ms_after_workload"] = round(_ms(get_after), 4)
    for kb, row in sizes.items():
        f[f"begin_ms_{kb}k"] = round(_ms(row.begin_cycles), 4)
        f[f"get_worst_ms_{kb}k"] = round(_ms(row.get_worst_cycles), 4)
        f[f"get_present_worst_ms_{kb}k"] = round(_ms(row.get_present_worst_cycles), 4)
    f["code_bytes"] = code
    f["static_ram_bytes"] = ram
    f["bootstub_bytes"] = stub
    f["puts"] = puts

    rows = res.rows
    rows.append(Row("put() mean / one page write", f["put_mean_over_page_write"], "x", f"<= {PUT_MEAN_TARGET}",
                    f["put_mean_over_page_write"] <= PUT_MEAN_TARGET,
                    f"page write {page_write:.0f} cycles; mean {put_mean:.0f} cycles over {puts} puts"))
    rows.append(Row("put() worst page operations", f["put_worst_page_ops"], "ops", f"<= {PUT_OPS_TARGET}",
                    f["put_worst_page_ops"] <= PUT_OPS_TARGET, f"mean {f['put_mean_page_ops']} ops per put"))
    rows.append(Row("endurance (4-byte updates)", f["endurance_updates"], "updates",
                    f">= {ENDURANCE_TARGET:.0%} of {limit:.0f}", f["endurance_fraction_of_limit"] >= ENDURANCE_TARGET,
                    f"naive page rewrite {naive.updates:.0f}; Arduino EEPROM {ee.updates:.0f}"))
    rows.append(Row("endurance / region limit", f["endurance_fraction_of_limit"], "fraction",
                    f">= {ENDURANCE_TARGET}", f["endurance_fraction_of_limit"] >= ENDURANCE_TARGET,
                    f"limit = {REGION} B x {chip.flash_endurance} / 4"))
    rows.append(Row("16-byte struct put speed-up", f["struct16_speedup_vs_eeprom"], "x", f">= {SPEEDUP_TARGET}",
                    f["struct16_speedup_vs_eeprom"] >= SPEEDUP_TARGET,
                    f"EEPROM.put {ee_mean:.0f} cycles vs put {fs_mean:.0f} (mean of {reps}, erases amortised)"))
    rows.append(Row("16-byte struct put speed-up, typical put", f["struct16_speedup_typical"], "x",
                    "(informational)", None,
                    f"{len(typical)} of {reps} puts with one page write and no erase/copy: mean {fs_typical:.0f} "
                    f"cycles; fastest {fs_one_write}"))
    for kb in sizes:
        target = kb == 4
        rows.append(Row(f"begin() full {kb} KB", f[f"begin_ms_{kb}k"], "ms",
                        f"<= {BEGIN_MS_TARGET}" if target else "(growth)",
                        f[f"begin_ms_{kb}k"] <= BEGIN_MS_TARGET if target else None, "model-filled region"))
        rows.append(Row(f"get() worst, full {kb} KB", f[f"get_worst_ms_{kb}k"], "ms",
                        f"<= {GET_MS_TARGET}" if target else "(growth)",
                        f[f"get_worst_ms_{kb}k"] <= GET_MS_TARGET if target else None,
                        f"absent key; present keys <= {f[f'get_present_worst_ms_{kb}k']} ms"))
    rows.append(Row("begin() after the workload (4 KB)", f["begin_ms_after_workload"], "ms", f"<= {BEGIN_MS_TARGET}",
                    f["begin_ms_after_workload"] <= BEGIN_MS_TARGET, "firmware-filled region"))
    rows.append(Row("get() worst after the workload (4 KB)", f["get_worst_ms_after_workload"], "ms",
                    f"<= {GET_MS_TARGET}", f["get_worst_ms_after_workload"] <= GET_MS_TARGET, "firmware-filled region"))
    rows.append(Row("code size (StorageBasics - bare)", code, "B", f"<= {CODE_TARGET}", code <= CODE_TARGET,
                    "same sketch, library calls replaced by constants"))
    rows.append(Row("static RAM", ram, "B", f"<= {RAM_TARGET}", ram <= RAM_TARGET, ".data + .bss difference"))
    rows.append(Row("bootstub", stub, "B", f"<= {BOOTSTUB_TARGET}", stub <= BOOTSTUB_TARGET, "boot section"))
    if quick:
        notes.append(f"quick run: {puts} puts, {reps} struct puts, endurance from {end_puts} model puts; "
                     "not the benchmark's figures")
    return res
