"""Storage format 2 benchmark: FlashStorage format 2 (docs/storage-format-v2.md) on the ATtiny45 and ATtiny25 with
the plan's default layouts (8 pages at the top of flash: 8 x 64 B on the ATtiny45, 8 x 32 B on the ATtiny25).

Every figure comes from one run, in deterministic units (bytes, page operations, simulated cycles, erase counts),
beside its baseline measured in the same run:

* Code size: tests/firmware/matrix/StorageConsole (StorageBasics' calls, text through GPIOR1) built for the part
  with the plan minus tests/firmware/bench_storage2/StorageConsoleBare (the same sketch with every library call
  replaced by a constant of the same type, same printing), both by build_sketch with the same plan. Flash =
  .text + .data, static RAM = .data + .bss. Baselines: the application region (the whole StorageConsole must fit
  it) and format 1: the same sketch built with SPAREFLASH_STORAGE_FORMAT=1 (linked into an oversized text region
  only to measure it; it does not fit). The engine's sections (core `.text`, `.text.sf2_format`,
  `.text.sf2_stats`, `.bss`) are read from flashstorage_v2.S's object file of the StorageConsole build.
* Capacity (the twin, StorageModelV2): for values of 1/4/8/16 bytes, the largest K such that K keys put once and
  then CAP_UPDATES random updates (random key of the K, random value; Random(seed), for each of CAP_SEEDS seeds)
  are all accepted (no SF_ERR_FULL). K is searched downwards from the bound no store of N pages can pass: the
  chain holds at most N - 1 pages, so K x (4 + size) <= (N - 1) x (P - 6). Baseline: the part's EEPROM holds
  eeprom_size / size such values.
* Put cost. The steady workload: KEYS keys (16, or the 4-byte capacity when smaller) of 4-byte values, key =
  xorshift16 (7, 9, 8) from 0xACE1 mod KEYS, put i stores i as uint32 (spareflash.bench.storage's workload). The
  twin: page operations (erase or program calls) per put, mean and worst, over PUTS_TWIN puts after a warm-up of
  4 trips round the ring. The chip: the twin's region after that warm-up (every page in use: the full default
  region) goes into the StorageDriver firmware's flash (simdriver.build_driver_v2, yasimavr at the board's 8 MHz);
  it runs begin(), a get() of every key and of an absent key (the worst walk), then the next PUTS_CHIP puts of the
  workload (scripts chained with a reboot when the driver's script array is too small, as chunk_script does;
  those begin()s are counted with the first). Cycles are the driver's command windows (the command's bytes are
  read from flash and its result is written to GPIOR1 inside them: a few dozen cycles). The chip's page
  operations per put are compared with the twin's for the same puts, and the regions after them byte for byte.
  Baseline: tests/firmware/bench_storage2/EepromPutTiny on the same simulated part, Arduino's EEPROM.put of the
  same 4-byte values at 4 x key with the cells as the same warm-up leaves them (EEPROM.put writes only the bytes
  that change; each window ends when its last byte write has completed, 3.4 ms per byte), EEPROM.get of every key,
  and EEPROM.put of a value whose 4 bytes all change.
* Endurance (the twin's true erase counts, FlashEmu.erases): the steady workload continued for ENDURANCE_PUTS puts
  after the warm-up; updates = puts x 10,000 / (most erases of one page during those puts), linear extrapolation to
  chips.py flash_endurance. Baselines on the same workload: a naive store (the KEYS values in as few pages as hold
  them, the key's page erased and rewritten on every update: 10,000 per page when they fit one page) and Arduino's
  EEPROM (EEPROM.put writes only changed bytes; updates = puts x 100,000 / most writes of one cell).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..build import DEFAULT_BUILD_ROOT, build_sketch, elf_size, get_board
from ..chips import Chip, get_chip
from ..errors import SpareFlashError
from ..plan import Layout, PlanConfig, plan
from ..storage.flash import FlashEmu
from ..storage.store_v2 import HDR, REC_OVERHEAD, StorageModelV2
from . import BenchResult, Row
from .storage import xorshift16_keys

if TYPE_CHECKING:
    from ..sim import Marker

REPO = Path(__file__).resolve().parents[3]
CONSOLE_SKETCH = REPO / "tests" / "firmware" / "matrix" / "StorageConsole"
BARE_SKETCH = REPO / "tests" / "firmware" / "bench_storage2" / "StorageConsoleBare"
EEPROM_SKETCH = REPO / "tests" / "firmware" / "bench_storage2" / "EepromPutTiny"
ARDUINO_EEPROM = Path("/usr/share/arduino/hardware/arduino/avr/libraries/EEPROM/src")
PARTS = ("attiny45", "attiny25")
SIZES = (1, 4, 8, 16)
KEYS = 16
VALUE = 4
ABSENT_KEY = 254
# (full run, --quick)
CAP_UPDATES = (5_000, 300)
CAP_SEEDS = ((1, 2, 3), (1,))
PUTS_TWIN = (20_000, 1_000)
PUTS_CHIP = (200, 12)
EEPROM_FULL_PUTS = (8, 2)
ENDURANCE_PUTS = (200_000, 5_000)


class BenchError(SpareFlashError):
    """The benchmark's firmware or its twin did something the benchmark cannot measure."""


# ---- code size ---------------------------------------------------------------------------------------------------


@dataclass
class CodeSize:
    console: int  # StorageConsole, format 2: .text + .data
    bare: int
    ram: int  # static RAM difference
    app_region: int
    format1: int  # StorageConsole forced to format 1
    format1_ram: int
    engine: dict[str, int]  # section of flashstorage_v2.S's object -> bytes

    @property
    def code(self) -> int:
        return self.console - self.bare

    @property
    def format1_code(self) -> int:
        return self.format1 - self.bare


def _object_sections(obj: Path) -> dict[str, int]:
    from elftools.elf.elffile import ELFFile

    with obj.open("rb") as fh:
        return {s.name: int(s["sh_size"]) for s in ELFFile(fh).iter_sections() if s.name}


def engine_sections(build_dir: Path) -> dict[str, int]:
    """Bytes of the assembly engine's sections: core (.text), format(), stats() and its RAM (.bss)."""
    objs = sorted((build_dir / "obj").glob("*flashstorage_v2.S.o"))
    if not objs:
        raise BenchError(f"no flashstorage_v2.S object in {build_dir}")
    secs = _object_sections(objs[0])
    return {"core": secs.get(".text", 0), "format": secs.get(".text.sf2_format", 0),
            "stats": secs.get(".text.sf2_stats", 0), "ram": secs.get(".bss", 0)}


def format1_size(mcu: str) -> dict[str, int]:
    """StorageConsole with SPAREFLASH_STORAGE_FORMAT=1 on this part. It does not fit: the build's size check
    refuses it, so it is linked into a text region larger than any AVR flash and measured from its ELF."""
    bdir = DEFAULT_BUILD_ROOT / f"bench2-StorageConsole-{mcu}-format1"
    flags = ["-USPAREFLASH_STORAGE_FORMAT", "-DSPAREFLASH_STORAGE_FORMAT=1",
             "-Wl,--defsym=__TEXT_REGION_LENGTH__=0x800000"]
    try:
        return build_sketch(CONSOLE_SKETCH, mcu, build_dir=bdir, extra_flags=flags).size
    except SpareFlashError as exc:
        if not str(exc).startswith("size:"):
            raise
    return elf_size(bdir / f"{CONSOLE_SKETCH.name}.elf")


def code_size(mcu: str) -> CodeSize:
    lib = build_sketch(CONSOLE_SKETCH, mcu)
    bare = build_sketch(BARE_SKETCH, mcu)
    assert lib.layout is not None and lib.build_dir is not None
    if lib.layout.storage_format != 2:
        raise BenchError(f"{mcu} builds storage format {lib.layout.storage_format}, not 2")
    f1 = format1_size(mcu)
    return CodeSize(lib.size["flash"], bare.size["flash"], lib.size["ram"] - bare.size["ram"],
                    lib.layout.max_app_size, f1["flash"], f1["ram"] - bare.size["ram"],
                    engine_sections(lib.build_dir))


# ---- capacity (the twin) -----------------------------------------------------------------------------------------


def accepts(page_size: int, pages: int, keys: int, size: int, updates: int, seed: int) -> bool:
    """keys keys of `size` bytes put once, then `updates` random updates: every put accepted."""
    store = StorageModelV2(FlashEmu(page_size, pages))
    rng = random.Random(seed)
    for k in range(keys):
        if store.put(k, rng.randbytes(size)):
            return False
    return all(not store.put(rng.randrange(keys), rng.randbytes(size)) for _ in range(updates))


def capacity_bound(page_size: int, pages: int, size: int) -> int:
    """No more keys fit: the chain is at most N - 1 pages of P - 6 bytes of records."""
    return (pages - 1) * (page_size - HDR) // (REC_OVERHEAD + size)


def capacity(page_size: int, pages: int, size: int, updates: int, seeds: tuple[int, ...]) -> int:
    k = capacity_bound(page_size, pages, size)
    while k and not all(accepts(page_size, pages, k, size, updates, s) for s in seeds):
        k -= 1
    return k


# ---- the steady workload on the twin ---------------------------------------------------------------------------


def warm_puts(page_size: int, pages: int) -> int:
    """About 4 trips round the ring with 8-byte records (the 4-byte values of the workload)."""
    return pages * (page_size - HDR) // (REC_OVERHEAD + VALUE) * 4


def workload_store(page_size: int, pages: int, puts: int, keys: int) -> StorageModelV2:
    store = StorageModelV2(FlashEmu(page_size, pages))
    for i, k in enumerate(xorshift16_keys(puts, keys)):
        if store.put(k, i.to_bytes(4, "little")):
            raise BenchError(f"the twin refused workload put {i} ({keys} keys of {VALUE} B)")
    return store


@dataclass
class TwinCost:
    ops: list[int]  # page operations per put
    erases: list[int]  # erases of each page during the measured puts

    @property
    def mean(self) -> float:
        return sum(self.ops) / len(self.ops)


def twin_cost(page_size: int, pages: int, keys: int, puts: int) -> TwinCost:
    """Page operations per put and erases per page over `puts` puts after the warm-up."""
    warm = warm_puts(page_size, pages)
    seq = xorshift16_keys(warm + puts, keys)
    store = workload_store(page_size, pages, warm, keys)
    before = list(store.flash.erases)
    ops: list[int] = []
    for i in range(warm, warm + puts):
        n = store.flash.op_count
        if store.put(seq[i], i.to_bytes(4, "little")):
            raise BenchError(f"the twin refused workload put {i}")
        ops.append(store.flash.op_count - n)
    return TwinCost(ops, [a - b for a, b in zip(store.flash.erases, before)])


def naive_most_erases(page_size: int, keys: int, puts: int) -> tuple[int, int]:
    """(pages, most erases of one page): the values packed in pages, the key's page erased and rewritten on every
    update."""
    per_page = page_size // VALUE
    pages = -(-keys // per_page)
    flash = FlashEmu(page_size, pages)
    values = bytearray(b"\xff" * (pages * page_size))
    for i, k in enumerate(xorshift16_keys(puts, keys)):
        values[k * VALUE:k * VALUE + VALUE] = i.to_bytes(4, "little")
        p = k // per_page
        flash.erase(p)
        flash.program(p * page_size, bytes(values[p * page_size:(p + 1) * page_size]))
    return pages, max(flash.erases)


def eeprom_most_writes(keys: int, puts: int) -> int:
    """EEPROM.put(4 k, uint32 i): a cell is written only when its byte changes."""
    cells = [0xFF] * (keys * VALUE)
    writes = [0] * (keys * VALUE)
    for i, k in enumerate(xorshift16_keys(puts, keys)):
        for j, b in enumerate(i.to_bytes(4, "little")):
            if cells[k * VALUE + j] != b:
                cells[k * VALUE + j] = b
                writes[k * VALUE + j] += 1
    return max(writes)


# ---- the chip --------------------------------------------------------------------------------------------------


@dataclass
class ChipCost:
    begin: list[int]
    get_present: list[int]
    get_absent: int
    put: list[int]
    put_ops: list[int]  # the chip's page operations per put
    twin_ops: list[int]  # the twin's for the same puts
    same_region: bool


def chip_cost(mcu: str, keys: int, puts: int) -> ChipCost:
    """begin/get/put cycles of the StorageDriver on the twin's full region (see the module docstring)."""
    from ..storage.simdriver import build_driver_v2, chunk_script, run_chunks

    fw = build_driver_v2(mcu)
    P, N = fw.page_size, fw.storage_pages
    warm = warm_puts(P, N)
    store = workload_store(P, N, warm, keys)
    if store.used != N - 1:
        raise BenchError(f"the warm-up left {store.used} of {N - 1} chain pages in use")
    region = bytes(store.flash.data)
    seq = xorshift16_keys(warm + puts, keys)
    lines = ["B", *(f"G {k} {VALUE}" for k in range(keys)), f"G {ABSENT_KEY} {VALUE}",
             *(f"P {seq[i]} {i.to_bytes(4, 'little').hex()}" for i in range(warm, warm + puts))]
    runs = run_chunks(fw, chunk_script(fw, lines), regions=region)
    cost = ChipCost([], [], 0, [], [], [], False)
    for run in runs:
        for idx, ln in enumerate(run.fw_lines):
            cyc = run.command_cycles(idx)
            cmd = ln.split()
            if cmd[0] == "B":
                store.mount()
                cost.begin.append(cyc)
            elif cmd[0] == "G":
                if int(cmd[1]) == ABSENT_KEY:
                    cost.get_absent = cyc
                else:
                    cost.get_present.append(cyc)
                want = store.get(int(cmd[1]), VALUE)
                got = run.results[idx].split()
                if int(got[0]) != want[0]:
                    raise BenchError(f"{ln}: the chip says {got[0]}, the twin {want[0]}")
            else:
                s, e = run.cmd_cycles[idx], run.done_cycles[idx]
                cost.put.append(cyc)
                cost.put_ops.append(sum(1 for op in run.page_ops if s <= op.start < e))
                n = store.flash.op_count
                store.put(int(cmd[1]), bytes.fromhex(cmd[2]))
                cost.twin_ops.append(store.flash.op_count - n)
                if run.results[idx] != "0":
                    raise BenchError(f"{ln}: the chip's put returned {run.results[idx]}")
    last = runs[-1]
    cost.same_region = last.flash[fw.region_start:fw.region_end] == bytes(store.flash.data)
    return cost


@dataclass
class EepromCost:
    put: list[int]  # the workload's puts
    get: list[int]
    put_all_bytes: list[int]  # a 4-byte value whose every byte changes


def _windows(markers: Sequence[Marker], a: int, b: int) -> list[int]:
    """Cycles from each marker a to the marker b after it."""
    out: list[int] = []
    start: int | None = None
    for m in markers:
        if m.value == a:
            start = m.cycle
        elif m.value == b and start is not None:
            out.append(m.cycle - start)
            start = None
    return out


def eeprom_cost(mcu: str, keys: int, warm: int, puts: int, full: int) -> EepromCost:
    from ..sim import Simulator

    r = build_sketch(EEPROM_SKETCH, mcu, apply_plan=False, libraries=[ARDUINO_EEPROM],
                     extra_flags=[f"-DBENCH_KEYS={keys}", f"-DBENCH_WARM={warm}", f"-DBENCH_PUTS={puts}",
                                  f"-DBENCH_FULL={full}"])
    sim = Simulator(str(r.elf), mcu, freq=get_board(mcu).f_cpu)
    try:
        res = sim.run(max_cycles=(keys * 4 + (puts + full) * 5) * 40_000 + 5_000_000)
        markers, text = list(sim.markers), bytes(sim.debug)
    finally:
        sim.close()
    if not res.ok or text != b"K":
        raise BenchError(f"EepromPutTiny on {mcu}: {res.message} {text!r}")
    cost = EepromCost(_windows(markers, 1, 2), _windows(markers, 3, 4), _windows(markers, 5, 6))
    if (len(cost.put), len(cost.get), len(cost.put_all_bytes)) != (puts, keys, full):
        raise BenchError(f"EepromPutTiny on {mcu}: {len(cost.put)} puts, {len(cost.get)} gets timed")
    return cost


# ---- one part --------------------------------------------------------------------------------------------------


def _mean(xs: list[int]) -> float:
    return sum(xs) / len(xs)


def measure_part(mcu: str, quick: bool, res: BenchResult) -> None:
    chip: Chip = get_chip(mcu)
    layout: Layout = plan(PlanConfig(mcu))
    P, N = chip.page_size, layout.storage.size // chip.page_size
    region = layout.storage.size
    f_cpu = get_board(mcu).f_cpu
    f, rows, notes = res.fields, res.rows, res.notes
    name = chip.display
    px = f"{mcu}_"

    # code size
    cs = code_size(mcu)
    f[px + "code_bytes"] = cs.code
    f[px + "console_bytes"] = cs.console
    f[px + "app_region_bytes"] = cs.app_region
    f[px + "console_spare_bytes"] = cs.app_region - cs.console
    f[px + "static_ram_bytes"] = cs.ram
    f[px + "format1_console_bytes"] = cs.format1
    f[px + "format1_code_bytes"] = cs.format1_code
    f[px + "format1_over_bytes"] = cs.format1 - cs.app_region
    for sec in ("core", "format", "stats", "ram"):
        f[px + f"engine_{sec}_bytes"] = cs.engine[sec]
    rows.append(Row(f"{name}: code size (StorageConsole - bare)", cs.code, "B", "(informational)", None,
                    f"format 1: {cs.format1_code:,} B; bare sketch {cs.bare:,} B"))
    rows.append(Row(f"{name}: StorageConsole, format 2", cs.console, "B", f"<= {cs.app_region:,} (app region)",
                    cs.console <= cs.app_region,
                    f"{cs.app_region - cs.console:,} B spare beside the {region} B region"))
    rows.append(Row(f"{name}: StorageConsole, format 1", cs.format1, "B", f"<= {cs.app_region:,} (app region)",
                    None, f"does not fit: {cs.format1 - cs.app_region:,} B over" if cs.format1 > cs.app_region
                    else f"fits: {cs.app_region - cs.format1:,} B spare"))
    rows.append(Row(f"{name}: static RAM (StorageConsole - bare)", cs.ram, "B", "(informational)", None,
                    f"format 1: {cs.format1_ram} B; {chip.sram_size} B RAM"))
    rows.append(Row(f"{name}: engine core / format() / stats()", cs.engine["core"], "B", "(informational)", None,
                    f"format() {cs.engine['format']} B, stats() {cs.engine['stats']} B (own sections), "
                    f"engine RAM {cs.engine['ram']} B"))

    # capacity
    q = int(quick)
    cap_updates = CAP_UPDATES[q]
    cap_seeds = CAP_SEEDS[q]
    caps: dict[int, int] = {}
    for size in SIZES:
        caps[size] = capacity(P, N, size, cap_updates, cap_seeds)
        ee = chip.eeprom_size // size
        f[px + f"capacity_keys_{size}b"] = caps[size]
        f[px + f"eeprom_keys_{size}b"] = ee
        rows.append(Row(f"{name}: capacity, {size}-byte values", caps[size], "keys", "(informational)", None,
                        f"EEPROM {chip.eeprom_size} B: {ee} keys; bound {capacity_bound(P, N, size)}"))
    notes.append(f"{name} capacity: the largest K (down from (N - 1) x (P - 6) / (4 + size) with N = {N}, P = {P}) "
                 f"for which K keys put once and then {cap_updates:,} random updates (random key and value, "
                 f"seeds {', '.join(map(str, cap_seeds))}) are all accepted by the twin on the default {region} B "
                 "region")

    # put cost on the twin
    keys = min(KEYS, caps[VALUE])
    twin_puts = PUTS_TWIN[q]
    tc = twin_cost(P, N, keys, twin_puts)
    f[px + "keys"] = keys
    f[px + "put_mean_page_ops"] = round(tc.mean, 4)
    f[px + "put_worst_page_ops"] = max(tc.ops)
    rows.append(Row(f"{name}: put() page operations, mean", f[px + "put_mean_page_ops"], "ops", "(informational)",
                    None, f"twin, {twin_puts:,} puts of {keys} keys x {VALUE} B; naive store: 2 (erase + write)"))
    rows.append(Row(f"{name}: put() page operations, worst", max(tc.ops), "ops", "(informational)", None,
                    f"{sum(1 for n in tc.ops if n == max(tc.ops))} of {twin_puts:,} puts"))

    # cycles on the chip, against the EEPROM
    chip_puts = PUTS_CHIP[q]
    cc = chip_cost(mcu, keys, chip_puts)
    ec = eeprom_cost(mcu, keys, warm_puts(P, N), chip_puts, EEPROM_FULL_PUTS[q])
    same_ops = cc.put_ops == cc.twin_ops
    f[px + "begin_cycles"] = max(cc.begin)
    f[px + "get_worst_cycles"] = max(cc.get_absent, *cc.get_present)
    f[px + "get_present_worst_cycles"] = max(cc.get_present)
    f[px + "get_absent_cycles"] = cc.get_absent
    f[px + "put_mean_cycles"] = round(_mean(cc.put))
    f[px + "put_worst_cycles"] = max(cc.put)
    f[px + "put_append_cycles"] = min(cc.put)
    f[px + "eeprom_put_mean_cycles"] = round(_mean(ec.put))
    f[px + "eeprom_put_4changed_cycles"] = round(_mean(ec.put_all_bytes))
    f[px + "eeprom_get_cycles"] = max(ec.get)
    f[px + "put_speedup_vs_eeprom"] = round(_mean(ec.put) / _mean(cc.put), 3)
    f[px + "put_speedup_vs_eeprom_4changed"] = round(_mean(ec.put_all_bytes) / _mean(cc.put), 3)
    f[px + "chip_puts"] = chip_puts
    page_op = round(chip.page_write_ms * f_cpu / 1000)
    rows.append(Row(f"{name}: begin(), full region", f[px + "begin_cycles"], "cycles", "(informational)", None,
                    f"{len(cc.begin)} begin()s, least {min(cc.begin)}; EEPROM needs none"))
    rows.append(Row(f"{name}: get() worst, full region", f[px + "get_worst_cycles"], "cycles", "(informational)",
                    None, f"{keys} present keys <= {max(cc.get_present)}, an absent key {cc.get_absent}; "
                    f"EEPROM.get 4 B <= {max(ec.get)}"))
    rows.append(Row(f"{name}: put() mean, 4 B", f[px + "put_mean_cycles"], "cycles", "(informational)", None,
                    f"EEPROM.put of the same bytes {f[px + 'eeprom_put_mean_cycles']} (mean of {chip_puts}); "
                    f"one page operation {page_op}"))
    rows.append(Row(f"{name}: put() worst, 4 B", max(cc.put), "cycles", "(informational)", None,
                    f"fastest (one append) {min(cc.put)}; {max(cc.put_ops)} page operations at most"))
    rows.append(Row(f"{name}: put() speed-up vs EEPROM.put, same bytes", f[px + "put_speedup_vs_eeprom"], "x",
                    "(informational)", None, "the workload's values: put index as uint32, ~1 byte changes"))
    rows.append(Row(f"{name}: put() speed-up vs EEPROM.put, 4 bytes changed", f[px + "put_speedup_vs_eeprom_4changed"],
                    "x", "(informational)", None, f"EEPROM.put {f[px + 'eeprom_put_4changed_cycles']} cycles"))
    rows.append(Row(f"{name}: chip page operations = twin's", len(cc.put), "puts", "equal, same region bytes",
                    same_ops and cc.same_region,
                    f"chip {sum(cc.put_ops)} ops, twin {sum(cc.twin_ops)}; region "
                    + ("byte-identical" if cc.same_region else "DIFFERS")))

    # endurance
    end_puts = ENDURANCE_PUTS[q]
    te = twin_cost(P, N, keys, end_puts)
    most = max(te.erases)
    updates = end_puts * chip.flash_endurance / most
    naive_pages, naive_most = naive_most_erases(P, keys, end_puts)
    naive = end_puts * chip.flash_endurance / naive_most
    ee_most = eeprom_most_writes(keys, end_puts)
    ee_updates = end_puts * chip.eeprom_endurance / ee_most
    f[px + "endurance_updates"] = round(updates)
    f[px + "naive_endurance_updates"] = round(naive)
    f[px + "eeprom_endurance_updates"] = round(ee_updates)
    f[px + "endurance_vs_naive"] = round(updates / naive, 3)
    f[px + "endurance_vs_eeprom"] = round(updates / ee_updates, 4)
    rows.append(Row(f"{name}: endurance (4-byte updates)", f[px + "endurance_updates"], "updates",
                    "(informational)", None,
                    f"naive page rewrite {naive:,.0f} ({naive_pages} page{'s' if naive_pages > 1 else ''}); "
                    f"EEPROM {ee_updates:,.0f}"))
    notes.append(f"{name} endurance: twin, {end_puts:,} puts of {keys} keys x {VALUE} B after a "
                 f"{warm_puts(P, N)}-put warm-up, most-erased page {most} erases (of {N}: {te.erases}); naive "
                 f"most-erased page {naive_most}; EEPROM most-written cell {ee_most}; linear extrapolation to "
                 f"{chip.flash_endurance:,} erases ({chip.eeprom_endurance:,} EEPROM writes)")
    notes.append(f"{name} cycles at {f_cpu / 1e6:g} MHz: the driver's command windows on the twin's full region "
                 f"(warm-up {warm_puts(P, N)} puts), {chip_puts} puts; page operations chip = twin: {same_ops}")


def measure(quick: bool = False) -> BenchResult:
    res = BenchResult("storage2")
    for mcu in PARTS:
        measure_part(mcu, quick, res)
    if quick:
        res.notes.append("quick run: short capacity sequences, few chip puts, endurance from 5,000 twin puts; "
                         "not the benchmark's figures")
    return res
