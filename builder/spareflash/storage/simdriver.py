"""Run the C++ storage code on the simulated chip: the StorageDriver firmware (tests/firmware/storage_driver).

The firmware executes a command script against the real FlashStorage / FlashLog / FlashEEPROM and the real SPM
backend (the plan's bootstub, fuses and lock bits) on the yasimavr ATmega328P. It is built once; every script is
patched into its `sf_script` PROGMEM array in the flash image the chip is powered on with (`flash_in`), so a
new sequence, a reboot after a power cut or a corrupted region costs a simulator start, not a build.

The script language is the one of `script.ModelRunner` and tests/host/driver.cpp (one text line per command,
one result line each, the same text), so one script runs on the model, the host build and the chip:
    B  P k HEX  G k n  Z k  R k  C k  F  S  LB policy  LA HEX  LL  LC  ER a n  EW a HEX
plus `W HEX` (only before the first command: load raw bytes into the regions) and `D` (only after the last:
dump the regions), which the harness does on the flash image itself, and `V k` (firmware only: the size of
key k, then its value read with that size) for checks that do not know the size to expect.

Power cuts use the recorded page operations of one uncut run (`Simulator.page_ops`: every erase/write with the
page before and after, and its cycle window): the flash at any cut cycle is the initial image with every
operation that finished applied and the one in flight torn (`spareflash.sim.tear`, the same rule and RNG as
`Simulator.cut_power`), so a workload is run once and each cut costs only the reboot that checks it.

Format 2 (docs/storage-format-v2.md): `build_driver_v2` builds the same sketch for the ATtiny45 (or ATtiny25) with
the plan's layout, direct SPM backend and fuses (SPAREFLASH_STORAGE_FORMAT=2: the assembly engine). The same
script language minus the log and EEPROM commands; `S` without erase counts. The script array takes the
application flash the driver's code leaves (about 1.6 KB on the ATtiny45), so format-2 workloads are sized to
it (`fits`). The model side is `ModelRunner(fmt=2)`, StorageModelV2. The ATtiny25's build is the small one
(small_driver_flags: no `S`, which encode_command then refuses); its script array is ~300 B, so long sequences
run as several scripts (chunk_script, run_chunks).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import SpareFlashError
from ..plan import Layout, PlanConfig
from .script import ModelRunner
from .store_v2 import max_value

REPO_ROOT = Path(__file__).resolve().parents[3]
DRIVER_SKETCH = REPO_ROOT / "tests" / "firmware" / "storage_driver" / "StorageDriver"
SCRIPT_SYMBOL = "sf_script"
MCU = "atmega328p"
BUF = 72  # the firmware's data buffer (SPAREFLASH_LOG_MAX_RECORD + 8)
BUF_V2 = 40  # its buffer on format 2 (BUF_SIZE): the largest value, 32 bytes, and room for wrong sizes
V2_COMMANDS = ("B", "P", "G", "Z", "V", "R", "C", "F", "S")

# GPIOR0 markers of the firmware
MARK_BOOT, MARK_CMD, MARK_DONE, MARK_END, MARK_BAD = 0xB0, 0xC1, 0xD0, 0xE0, 0xEB

OK = 0
FULL = 0x20  # SF_ERR_FULL (spareflash_status.h)


class DriverError(SpareFlashError):
    """A script the driver cannot run, or a run that did not end cleanly."""


# -- building -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverFirmware:
    elf: Path
    layout: Layout
    image: bytes  # the whole flash as built (empty script, erased regions)
    script_addr: int
    script_cap: int
    single_write: bool = False
    # the loaded ELF (spareflash.sim.Firmware): every run uses this copy, so a rebuild of the ELF by a concurrent
    # test run cannot change the firmware in the middle of a campaign (and the ELF is parsed once)
    firmware: Any = None
    mcu: str = MCU
    board: str = "uno"
    freq: int = 16_000_000
    buf_size: int | None = None  # the firmware's BUF_SIZE when the build sets it (the ATtiny25's)
    commands: tuple[str, ...] = V2_COMMANDS  # format 2: the commands the build has (the ATtiny25's lacks "S")

    @property
    def storage_format(self) -> int:
        return self.layout.storage_format

    @property
    def buf(self) -> int:
        if self.buf_size is not None:
            return self.buf_size
        return BUF_V2 if self.storage_format == 2 else BUF

    @property
    def has_stats(self) -> bool:
        return self.storage_format == 1 or "S" in self.commands

    @property
    def max_value(self) -> int:
        """The largest value a put takes: format 2's MAXV, else what the driver's buffer holds."""
        return max_value(self.page_size) if self.storage_format == 2 else self.buf

    @property
    def page_size(self) -> int:
        return self.layout.chip.page_size

    @property
    def storage_pages(self) -> int:
        return self.layout.storage.size // self.page_size

    @property
    def log_pages(self) -> int:
        return self.layout.log.size // self.page_size

    @property
    def region_start(self) -> int:
        return self.layout.storage.start

    @property
    def region_end(self) -> int:
        """End of storage + log (the plan puts the log directly after the storage region)."""
        return self.layout.log.end if self.layout.log.size else self.layout.storage.end

    def model(self) -> ModelRunner:
        return ModelRunner(self.page_size, self.storage_pages, self.log_pages, self.single_write,
                           fmt=self.storage_format)

    def encode(self, lines: Sequence[str]) -> bytes:
        return b"".join(encode_command(ln, self.buf, self.storage_format, self.commands) for ln in lines)

    def fits(self, lines: Sequence[str]) -> bool:
        """Whether the firmware lines (no W/D) fit the script array (with its 0 terminator)."""
        return len(self.encode(lines)) < self.script_cap

    def flash_image(self, script: bytes, regions: bytes | None = None, base: bytes | None = None) -> bytes:
        """`base` (default: the built image) with `script` in sf_script and, if given, `regions` (storage then
        log bytes) at the storage start."""
        if len(script) >= self.script_cap:
            raise DriverError(f"script of {len(script)} bytes does not fit the driver's {self.script_cap}-byte array")
        img = bytearray(base if base is not None else self.image)
        img[self.script_addr:self.script_addr + self.script_cap] = bytes(script) + bytes(self.script_cap - len(script))
        if regions is not None:
            if len(regions) > self.region_end - self.region_start:
                raise DriverError(f"{len(regions)} region bytes do not fit {self.region_end - self.region_start}")
            img[self.region_start:self.region_start + len(regions)] = regions
        return bytes(img)


def _script_symbol(elf: Path) -> tuple[int, int]:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(elf, "rb") as fh:
        for sec in ELFFile(fh).iter_sections():
            if isinstance(sec, SymbolTableSection):
                for sym in sec.get_symbol_by_name(SCRIPT_SYMBOL) or []:
                    return int(sym["st_value"]), int(sym["st_size"])
    raise DriverError(f"{elf.name}: no symbol {SCRIPT_SYMBOL}")


def build_driver(storage_bytes: int = 1024, log_bytes: int = 512, single_write: bool = False) -> DriverFirmware:
    """Build (cached under .build/) the StorageDriver sketch for an Uno with the plan's bootstub backend."""
    from ..build import build_sketch
    from ..sim import load_firmware

    if not DRIVER_SKETCH.is_dir():
        raise DriverError(f"the storage driver firmware is not here ({DRIVER_SKETCH}): run from a checkout")
    flags = ["-DSPAREFLASH_SINGLE_WRITE"] if single_write else []
    r = build_sketch(DRIVER_SKETCH, "uno", plan_config=PlanConfig(MCU, storage_bytes=storage_bytes,
                                                                  log_bytes=log_bytes), extra_flags=flags)
    assert r.layout is not None
    addr, size = _script_symbol(r.elf)
    fw = load_firmware(str(r.elf))
    image = bytes(fw.flash) + b"\xff" * (r.layout.chip.flash_size - len(fw.flash))
    if r.layout.log.size and r.layout.log.start != r.layout.storage.end:
        raise DriverError("the plan no longer puts the log right after the storage region")
    return DriverFirmware(r.elf, r.layout, image, addr, size, single_write, fw)


V2_SCRIPT_SLACK = 16  # bytes of application flash left free when the script array is sized (alignment)
SMALL_FLASH = 2048  # parts with at most this much flash (the ATtiny25) get the small driver build
MIN_SCRIPT = 128  # the least script array a driver build may leave: a reboot check after a cut takes ~60 B


def small_driver_flags(page_size: int) -> list[str]:
    """The ATtiny25's driver build (StorageDriver.ino): no stats, no register saves in setup(), compares instead
    of a jump table, and a buffer of the largest value + 1 (the refused MAXV + 1 put and wrong-size get)."""
    return ["-DDRIVER_NO_STATS", "-DDRIVER_OS_MAIN", "-fno-jump-tables", f"-DBUF_SIZE={max_value(page_size) + 1}"]


def build_driver_v2(mcu: str = "attiny45", storage_bytes: int | None = None) -> DriverFirmware:
    """Build (cached) the StorageDriver sketch for a format-2 part: the plan's layout (default storage region
    unless `storage_bytes`), the direct SPM backend and the plan's fuses. Built twice: once with a 16-byte script
    array to measure the code, then with the array taking the rest of the application region. On a 2 KB part
    (the ATtiny25) the small build (small_driver_flags): its scripts cannot use `S`."""
    from ..build import build_sketch, get_board
    from ..chips import get_chip
    from ..sim import load_firmware

    if not DRIVER_SKETCH.is_dir():
        raise DriverError(f"the storage driver firmware is not here ({DRIVER_SKETCH}): run from a checkout")
    chip = get_chip(mcu)
    small = chip.flash_size <= SMALL_FLASH
    flags = small_driver_flags(chip.page_size) if small else []
    commands = tuple(c for c in V2_COMMANDS if c != "S") if small else V2_COMMANDS
    cfg = PlanConfig(mcu, storage_bytes=storage_bytes)
    probe = build_sketch(DRIVER_SKETCH, mcu, plan_config=cfg, extra_flags=["-DSCRIPT_CAP=16", *flags])
    assert probe.layout is not None
    if probe.layout.storage_format != 2:
        raise DriverError(f"{mcu} uses storage format {probe.layout.storage_format}: build_driver() is its driver")
    code = len(load_firmware(str(probe.elf)).flash) - 16
    cap = probe.layout.storage.start - code - V2_SCRIPT_SLACK
    if cap < MIN_SCRIPT:
        raise DriverError(f"the driver leaves only {cap} bytes of {mcu}'s application flash for scripts")
    r = build_sketch(DRIVER_SKETCH, mcu, plan_config=cfg, extra_flags=[f"-DSCRIPT_CAP={cap}", *flags])
    assert r.layout is not None
    addr, size = _script_symbol(r.elf)
    fw = load_firmware(str(r.elf))
    image = bytes(fw.flash) + b"\xff" * (r.layout.chip.flash_size - len(fw.flash))
    if len(fw.flash) > r.layout.storage.start:
        raise DriverError(f"the driver's image ({len(fw.flash)} B) runs into the storage region")
    return DriverFirmware(r.elf, r.layout, image, addr, size, False, fw, mcu, mcu, get_board(mcu).f_cpu,
                          max_value(chip.page_size) + 1 if small else None, commands)


# -- scripts ----------------------------------------------------------------------------------------------------


def _byte(text: str, what: str, hi: int = 255) -> int:
    v = int(text)
    if not 0 <= v <= hi:
        raise DriverError(f"{what} {v} out of range 0..{hi}")
    return v


def _data(text: str, buf: int = BUF) -> bytes:
    d = bytes.fromhex(text)
    if len(d) > buf:
        raise DriverError(f"{len(d)} data bytes: the driver takes at most {buf}")
    return d


def encode_command(line: str, buf: int = BUF, fmt: int = 1, commands: Sequence[str] = V2_COMMANDS) -> bytes:
    """One command line -> the firmware's bytes (see StorageDriver.ino). Format 2: `commands` are the ones the
    build has."""
    p = line.split()
    cmd, a = p[0], p[1:]
    if fmt == 2 and cmd not in commands:
        if cmd in V2_COMMANDS:
            raise DriverError(f"this format-2 storage driver is built without command {cmd!r} (the ATtiny45's has it)")
        raise DriverError(f"the format-2 storage driver has no command {cmd!r}")
    if cmd == "B":
        return b"B"
    if cmd == "P":
        d = _data(a[1], buf) if len(a) > 1 else b""
        return bytes([ord("P"), _byte(a[0], "key"), len(d)]) + d
    if cmd == "G":
        return bytes([ord("G"), _byte(a[0], "key"), _byte(a[1], "size", buf)])
    if cmd in ("Z", "V", "R", "C"):
        return bytes([ord(cmd), _byte(a[0], "key")])
    if cmd in ("F", "S"):
        return cmd.encode()
    if cmd == "LB":
        return bytes([ord("L"), _byte(a[0], "policy")])
    if cmd == "LA":
        d = _data(a[0])
        return bytes([ord("A"), len(d)]) + d
    if cmd == "LL":
        return b"I"
    if cmd == "LC":
        return b"X"
    if cmd == "ER":
        addr = _byte(a[0], "address", 0xFFFF)
        return bytes([ord("r"), addr & 0xFF, addr >> 8, _byte(a[1], "size", BUF)])
    if cmd == "EW":
        addr = _byte(a[0], "address", 0xFFFF)
        d = _data(a[1])
        return bytes([ord("w"), addr & 0xFF, addr >> 8, len(d)]) + d
    raise DriverError(f"the storage driver has no command {cmd!r}")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DriverError(f"the firmware's output ended early ({len(self.data)} bytes)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        b = self.take(2)
        return b[0] | b[1] << 8


def decode_result(line: str, rd: _Reader, fmt: int = 1) -> str:
    """Read one command's result from the firmware's output, formatted like tests/host/driver.cpp prints it."""
    p = line.split()
    cmd, a = p[0], p[1:]
    if cmd in ("B", "P", "R", "F", "LB", "LA", "LC", "EW", "Z", "C"):
        return str(rd.u8())
    if cmd == "G":
        st = rd.u8()
        return f"{st} " + (rd.take(int(a[1])).hex() if st == OK else "")
    if cmd == "V":
        n = rd.u8()
        if not n:
            return "0"
        st = rd.u8()
        return f"{n} {st} {rd.take(n).hex()}"
    if cmd == "S":
        st = rd.u8()
        f = [rd.u16() for _ in range(7)]
        remaining = rd.u16() | rd.u16() << 16
        counts = [rd.u16() for _ in range(f[0] if fmt == 1 else 0)]
        return " ".join(str(x) for x in (st, *f, remaining, *counts))
    if cmd == "LL":
        count = rd.u16()
        recs = []
        while (n := rd.u8()) != 0xFF:
            recs.append(rd.take(n).hex())
        return " ".join([str(count), *recs])
    if cmd == "ER":
        return rd.take(int(a[1])).hex()
    raise DriverError(f"the storage driver has no command {cmd!r}")


def model_result(model: ModelRunner, line: str) -> str:
    """What the model answers for a line, `V k` included (ModelRunner does not know it)."""
    p = line.split()
    if p[0] != "V":
        return model.run(line)
    st, val = model._store().get(int(p[1]))
    return f"{len(val)} {st} {val.hex()}" if st == OK and val else "0"


# -- running ----------------------------------------------------------------------------------------------------


@dataclass
class DriverRun:
    lines: list[str]
    results: list[str]
    flash_in: bytes
    flash: bytes
    page_ops: list[Any]  # list[spareflash.sim.PageOp]
    cmd_cycles: list[int]  # cycle of each firmware command's start (MARK_CMD), in script order
    done_cycles: list[int]  # cycle each firmware command returned at (MARK_DONE)
    fw_lines: list[str] = field(default_factory=list)  # the commands the firmware ran (no W/D)
    cycles: int = 0

    def command_cycles(self, i: int) -> int:
        """Cycles firmware command i took (index into fw_lines)."""
        return self.done_cycles[i] - self.cmd_cycles[i]


def split_script(lines: Sequence[str]) -> tuple[bytes | None, list[str], int]:
    """(raw region bytes from leading W lines, firmware lines, number of trailing D lines)."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    raw: bytes | None = None
    i = 0
    while i < len(lines) and lines[i].split()[0] == "W":
        parts = lines[i].split()
        raw = bytes.fromhex(parts[1]) if len(parts) > 1 else b""
        i += 1
    j = len(lines)
    while j > i and lines[j - 1] == "D":
        j -= 1
    body = lines[i:j]
    for ln in body:
        if ln.split()[0] in ("W", "D"):
            raise DriverError(f"{ln.split()[0]} is only supported at the start (W) or the end (D) of a script")
    return raw, body, len(lines) - j


def default_budget(lines: Sequence[str]) -> int:
    # a put is at most 3 page operations of 72,000 cycles plus its scans; EEPROM writes can touch two chunks
    return 5_000_000 + 1_500_000 * len(lines)


def run_script(fw: DriverFirmware, lines: Sequence[str], *, regions: bytes | None = None, base: bytes | None = None,
               max_cycles: int | None = None) -> DriverRun:
    """Power the simulated chip on with the script in flash (and `regions`, or the W line, as the regions' bytes;
    else the regions of `base`/the built image), run it to the end, decode the results."""
    from ..sim import Simulator

    raw, body, dumps = split_script(lines)
    if raw is not None:
        regions = raw
    script = fw.encode(body)
    image = fw.flash_image(script, regions, base)
    sim = Simulator(fw.firmware or str(fw.elf), fw.mcu, flash_in=image, freq=fw.freq)
    try:
        res = sim.run(max_cycles=max_cycles or default_budget(body))
        flash, debug, page_ops, markers = sim.flash, sim.debug, list(sim.page_ops), list(sim.markers)
    finally:
        _release(sim)
    if not res.ok:
        raise DriverError(f"storage driver: {res.message}")
    values = [m.value for m in markers]
    if MARK_BAD in values:
        raise DriverError(f"storage driver refused command {values.count(MARK_DONE)} ({body[values.count(MARK_DONE)]})")
    cmd_cycles = [m.cycle for m in markers if m.value == MARK_CMD]
    done_cycles = [m.cycle for m in markers if m.value == MARK_DONE]
    if len(done_cycles) != len(body):
        raise DriverError(f"storage driver ran {len(done_cycles)} of {len(body)} commands")
    rd = _Reader(debug)
    results = [decode_result(ln, rd, fw.storage_format) for ln in body]
    if rd.pos != len(rd.data):
        raise DriverError(f"storage driver printed {len(rd.data) - rd.pos} bytes more than its results")
    results += [flash[fw.region_start:fw.region_end].hex()] * dumps
    out_lines = ([f"W {raw.hex()}"] if raw is not None else []) + body + ["D"] * dumps
    if raw is not None:
        results.insert(0, "0")
    return DriverRun(out_lines, results, image, flash, page_ops, cmd_cycles, done_cycles, body, res.cycles)


def _release(sim: Any) -> None:
    """Free a finished Simulator's model (see Simulator.close: yasimavr keeps unclosed ones alive)."""
    sim.close()


def run_model(fw: DriverFirmware, lines: Sequence[str], regions: bytes | None = None) -> tuple[list[str], ModelRunner]:
    model = fw.model()
    if regions is not None:
        model.run(f"W {regions.hex()}")
    return [model_result(model, ln) for ln in lines if ln.strip()], model


def blank(fw: DriverFirmware) -> bytes:
    """The driver's regions (storage, then log) erased: what `regions=` gives a run that starts on a new chip."""
    return b"\xff" * (fw.region_end - fw.region_start)


def first_difference(lines: Sequence[str], expected: Sequence[str], got: Sequence[str]) -> str:
    """Where the chip's results (`got`) first part from the model's (`expected`) for `lines`, in one line."""
    for i, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            return f"line {i} {lines[i][:40]!r}: model {a[:70]!r} chip {b[:70]!r}"
    return f"{len(expected)} results from the model, {len(got)} from the chip"


def chunk_script(fw: DriverFirmware, lines: Sequence[str]) -> list[list[str]]:
    """Firmware lines (no W/D) cut into scripts that each fit the driver's array, every one after the first
    starting with `B` (a reboot: the chip powers on with the next script and the flash the last one left), so a
    sequence is not limited to one script array (the ATtiny25's holds ~300 B). The twin runs the chunks one after
    the other, the inserted `B` lines included."""
    chunks: list[list[str]] = []
    cur: list[str] = []
    for ln in lines:
        if cur and not fw.fits([*cur, ln]):
            chunks.append(cur)
            cur = ["B"] if ln != "B" else []
        cur.append(ln)
        if not fw.fits(cur):
            raise DriverError(f"{ln[:30]!r} does not fit the driver's {fw.script_cap}-byte script array")
    if cur:
        chunks.append(cur)
    return chunks


def run_chunks(fw: DriverFirmware, chunks: Sequence[Sequence[str]], regions: bytes | None = None) -> list[DriverRun]:
    """Run chunk_script's chunks one power-on after the other on the flash each leaves (the first on `regions`),
    the last one followed by a region dump (`D`)."""
    runs: list[DriverRun] = []
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        body = [*chunk, "D"] if last else list(chunk)
        if runs:
            runs.append(run_script(fw, body, base=runs[-1].flash))
        else:
            runs.append(run_script(fw, body, regions=regions))
    return runs


# -- workloads --------------------------------------------------------------------------------------------------


def storage_workload(rng: random.Random, nops: int, keys: int = 10, with_log: bool = False, cold: int = 3
                     ) -> list[str]:
    """Random put/get/remove/contains/size/begin/stats/format (and log) operations on keys 0..keys-1, put-heavy
    so a small region garbage-collects often; `cold` more keys are written once at the start, so every trip of the
    ring makes garbage collection copy them."""
    lines = ["B"] + ([f"LB {rng.randint(0, 1)}"] if with_log else [])
    lines += [f"P {k} {rng.randbytes(rng.randint(1, 8)).hex()}" for k in range(keys, keys + cold)]
    for _ in range(nops):
        r = rng.random()
        k = rng.randrange(keys)
        if with_log and r < 0.2:
            lines.append(f"LA {rng.randbytes(rng.randint(1, 24)).hex()}" if rng.random() < 0.85 else "LL")
            continue
        r = rng.random()
        if r < 0.62:
            lines.append(f"P {k} {rng.randbytes(rng.choice([1, 2, 4, 4, 4, 8, 8, 16, 32])).hex()}")
        elif r < 0.72:
            lines.append(f"R {k}")
        elif r < 0.82:
            lines.append(f"G {k} {rng.choice([1, 2, 4, 8, 16])}")
        elif r < 0.86:
            lines.append(f"Z {k}")
        elif r < 0.89:
            lines.append(f"C {k}")
        elif r < 0.95:
            lines.append("B")
        elif r < 0.99:
            lines.append("S")
        else:
            lines.append("F")
    return [*lines, "S", *(f"Z {k}" for k in range(keys + cold))]


def log_workload(rng: random.Random, nops: int) -> list[str]:
    lines = [f"LB {rng.randint(0, 1)}"]
    for _ in range(nops):
        r = rng.random()
        if r < 0.85:
            lines.append(f"LA {rng.randbytes(rng.choice([1, 4, 8, 12, 20, 40, 64])).hex()}")
        elif r < 0.93:
            lines.append("LL")
        elif r < 0.97:
            lines.append(f"LB {rng.randint(0, 1)}")
        else:
            lines.append("LC")
    return [*lines, "LL"]


def eeprom_workload(rng: random.Random, nops: int, length: int = 256) -> list[str]:
    lines = []
    for _ in range(nops):
        a = rng.randrange(length + 40)  # past the end wraps, like the EEPROM
        if rng.random() < 0.6:
            lines.append(f"EW {a} {rng.randbytes(rng.randint(1, 20)).hex()}")
        else:
            lines.append(f"ER {a} {rng.randint(1, 20)}")
    return [*lines, "ER 0 64"]


def storage_workload_v2(fw: DriverFirmware, rng: random.Random, keys: int = 10, cold: int = 3,
                        nops: int | None = None, big: float = 0.5) -> list[str]:
    """Format 2: random puts of 1..MAXV bytes (now and then a refused one: key 255, no bytes, MAXV + 1 bytes),
    removes, gets of the size last put or a wrong one, sizes, contains, reboots, stats and formats on keys
    0..keys-1 (`big`: the share of puts of 1..MAXV bytes, the rest 1..8), as many as fit the driver's script
    array (or `nops`); `cold` more keys are written once at the
    start, so every trip round the ring makes compaction copy them. Ends with stats and every key's size. A driver
    built without stats (the ATtiny25's) gets sizes instead of stats lines."""
    maxv = fw.max_value
    lines = ["B", *(f"P {k} {rng.randbytes(rng.randint(1, maxv)).hex()}" for k in range(keys, keys + cold))]
    tail = [*(["S"] if fw.has_stats else []), *(f"Z {k}" for k in range(keys + cold))]
    size: dict[int, int] = {}
    n = 0
    while nops is None or n < nops:
        k = rng.randrange(keys)
        r = rng.random()
        if r < 0.58:
            v = rng.randint(1, maxv) if rng.random() < big else rng.randint(1, 8)
            line = f"P {k} {rng.randbytes(v).hex()}"
            size[k] = v
        elif r < 0.60:
            line = rng.choice([f"P 255 {rng.randbytes(2).hex()}", f"P {k}", f"P {k} {rng.randbytes(maxv + 1).hex()}"])
        elif r < 0.69:
            line = f"R {k}"
        elif r < 0.80:
            line = f"G {k} {size.get(k, 1) if rng.random() < 0.6 else rng.randint(1, maxv + 1)}"
        elif r < 0.84:
            line = f"Z {k}"
        elif r < 0.87:
            line = f"C {k}"
        elif r < 0.90:
            line = f"V {k}"
        elif r < 0.95:
            line = "B"
        elif r < 0.99:
            line = "S" if fw.has_stats else f"Z {k}"
        else:
            line = "F"
        if nops is None and not fw.fits([*lines, line, *tail]):
            break
        lines.append(line)
        n += 1
    return [*lines, *tail]


# -- power cuts -------------------------------------------------------------------------------------------------


def tear_share(op: Any, rng: random.Random, share: float) -> bytes:
    """The page a cut during `op` leaves when each of its bit changes happened with probability `share` (the
    physics of sim.tear, which is share 1/2; shares near 1 aim at tears that complete one unit of a write, a
    header, and leave another, the record behind it, torn)."""
    out = bytearray(op.before)
    for i, (old, new) in enumerate(zip(op.before, op.after)):
        for bit in range(8):
            m = 1 << bit
            if (old ^ new) & m and rng.random() < share:
                out[i] ^= m
    return bytes(out)


def flash_at_cut(initial: bytes, ops: Sequence[Any], cycle: int, seed: int, share: float | None = None
                 ) -> tuple[bytes, object | None]:
    """The flash a power cut at `cycle` leaves: `initial` plus every page operation finished by then, the one in
    flight torn with random.Random(seed) (what `Simulator.cut_power(seed)` does at that cycle; with `share`,
    tear_share's rule instead)."""
    from ..sim import tear

    flash = bytearray(initial)
    inflight = None
    for op in ops:
        if op.start > cycle:
            break
        if op.end <= cycle:
            flash[op.page:op.page + len(op.after)] = op.after
        else:
            rng = random.Random(seed)
            flash[op.page:op.page + len(op.before)] = tear(op, rng) if share is None else tear_share(op, rng, share)
            inflight = op
            break
    return bytes(flash), inflight


@dataclass
class CutPoint:
    cycle: int
    kind: str  # "erase" | "write" | "gc" (a write after the put's record was durable) | "idle"
    seed: int
    share: float | None = None  # flash_at_cut's share (None: sim.tear)


@dataclass
class CutCampaignResult:
    cut_points: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    workloads: int = 0
    failures: list[str] = field(default_factory=list)
    sim_cycles: int = 0
    near_complete: int = 0  # cuts torn with a share near 1 (format 2's campaign)
    probe_full: int = 0  # format 2 with full_ok: reboot checks whose new put found the store full, as the twin did


def powercut_workload(rng: random.Random, nops: int, keys: int = 14, cold: int = 6) -> list[str]:
    """Puts, removes, log appends and clean reboots; the store stays well below a quarter full. The last `cold`
    keys are written once at the start and never again, so every trip of the ring makes garbage collection copy
    them; the other keys are skewed (low keys hot)."""
    hot = keys - cold
    lines = ["B", "LB 0", *(f"P {k} {rng.randbytes(8).hex()}" for k in range(hot, keys))]
    for _ in range(nops):
        r = rng.random()
        k = min(int(rng.expovariate(0.3)), hot - 1)
        if r < 0.74:
            lines.append(f"P {k} {rng.randbytes(rng.randint(1, 8)).hex()}")
        elif r < 0.81:
            lines.append(f"R {k}")
        elif r < 0.88:  # small and few enough that the 4-page log never fills (STOP policy)
            lines.append(f"LA {rng.randbytes(rng.randint(1, 6)).hex()}")
        else:
            lines += ["B", "LB 0"]
    return lines


def classify_ops(run: DriverRun) -> list[str]:
    """Kind of each page operation of a run: "erase", "write", or "gc" (a write of a put/remove after its own
    record was written: a garbage-collection copy)."""
    kinds = []
    first_write: set[int] = set()
    for op, c in zip(run.page_ops, _command_of_ops(run)):
        kind = op.kind
        if kind == "write" and c is not None and run.fw_lines[c].split()[0] in ("P", "R"):
            if c in first_write:
                kind = "gc"
            first_write.add(c)
        kinds.append(kind)
    return kinds


def classify_ops_v2(run: DriverRun, page_size: int) -> list[str]:
    """Format 2's page operations by their role (docs/storage-format-v2.md 6): "erase" (of the page a put starts),
    "write" (a record appended to the head), "header" (a start's header, with the record behind it, or a
    format's), "copies" (compaction's copies: the first write to a page the same command erased, header bytes
    untouched) and "gc-header" (compaction's header, written after its copies)."""
    from .store_v2 import HDR

    kinds: list[str] = []
    prev: tuple[int | None, str, int] = (None, "", -1)  # (command, kind, page) of the operation before
    for op, c in zip(run.page_ops, _command_of_ops(run)):
        same = prev[0] == c and c is not None and prev[2] == op.page
        if op.kind == "erase":
            kind = "erase"
        elif op.before[:HDR] != op.after[:HDR]:
            kind = "gc-header" if same and prev[1] == "copies" else "header"
        else:
            kind = "copies" if same and prev[1] == "erase" else "write"
        kinds.append(kind)
        prev = (c, kind, op.page)
    return kinds


def cut_points(run: DriverRun, rng: random.Random, kinds: list[str] | None = None) -> list[CutPoint]:
    """Every page operation of `run` cut once inside its window, and once in the idle time after it. `kinds`: the
    operations' kinds (default classify_ops: format 1's)."""
    ops = run.page_ops
    out: list[CutPoint] = []
    for i, (op, kind) in enumerate(zip(ops, kinds if kinds is not None else classify_ops(run))):
        out.append(CutPoint(rng.randrange(op.start, op.end), kind, rng.getrandbits(32)))
        nxt = ops[i + 1].start if i + 1 < len(ops) else run.cycles
        if nxt > op.end:
            out.append(CutPoint(rng.randrange(op.end, nxt), "idle", 0))
    return out


def _spread(points: list[CutPoint], n: int, rng: random.Random) -> list[CutPoint]:
    """n of the points, taking the kinds in turn so the rare ones (erase, gc) are all used first."""
    by_kind: dict[str, list[CutPoint]] = {}
    for p in points:
        by_kind.setdefault(p.kind, []).append(p)
    for lst in by_kind.values():
        rng.shuffle(lst)
    out: list[CutPoint] = []
    while len(out) < n and any(by_kind.values()):
        for lst in by_kind.values():
            if lst and len(out) < n:
                out.append(lst.pop())
    return out


def _command_of_ops(run: DriverRun) -> list[int | None]:
    res: list[int | None] = []
    for op in run.page_ops:
        c = None
        for j, (s, e) in enumerate(zip(run.cmd_cycles, run.done_cycles)):
            if s <= op.start < e:
                c = j
                break
        res.append(c)
    return res


def expected_state(run: DriverRun, cut: int) -> tuple[dict[int, bytes], list[bytes], str | None]:
    """(committed values, committed log records, the command in flight) at a cut cycle: a command counts once
    its MARK_DONE came before the cut and it returned SF_OK."""
    values: dict[int, bytes] = {}
    log: list[bytes] = []
    inflight = None
    for j, line in enumerate(run.fw_lines):
        if run.done_cycles[j] >= cut:
            if run.cmd_cycles[j] < cut:
                inflight = line
            break
        st = run.results[j + (1 if run.lines and run.lines[0].startswith("W ") else 0)]
        p = line.split()
        if st != "0":
            continue
        if p[0] == "P":
            values[int(p[1])] = bytes.fromhex(p[2])
        elif p[0] == "R":
            values.pop(int(p[1]), None)
        elif p[0] == "F":
            values.clear()
        elif p[0] == "LA":
            log.append(bytes.fromhex(p[1]))
    return values, log, inflight


def value_line(v: bytes | None) -> str:
    """What the driver answers to `V k` for a value (`size status hex`), or for an absent key."""
    return f"{len(v)} 0 {v.hex()}" if v else "0"


def check_after_cut(fw: DriverFirmware, flash: bytes, values: dict[int, bytes], log: list[bytes],
                    inflight: str | None, keys: int, rng: random.Random) -> str | None:
    """Reboot on `flash` and check the recovery guarantees; None when they hold, else what failed."""
    probe_key = keys
    probe = rng.randbytes(rng.randint(1, 8))
    probe_rec = rng.randbytes(rng.randint(1, 8))
    all_keys = list(range(keys))
    script = ["B", *(f"V {k}" for k in all_keys), "LB 0", "LL", f"P {probe_key} {probe.hex()}", f"V {probe_key}",
              f"LA {probe_rec.hex()}", "B", f"V {probe_key}", *(f"V {k}" for k in all_keys), "LB 0", "LL"]
    try:
        run = run_script(fw, script, base=flash)
    except DriverError as exc:
        return f"reboot failed: {exc}"
    res = run.results

    def log_line(recs: list[bytes]) -> str:
        return " ".join([str(len(recs)), *(r.hex() for r in recs)])

    fl = inflight.split() if inflight else [""]
    if res[0] != "0":
        return f"begin() returned {res[0]}"
    seen: dict[int, str] = {}
    for i, k in enumerate(all_keys):
        got = res[1 + i]
        ok = [value_line(values.get(k))]
        if fl[0] == "P" and int(fl[1]) == k:
            ok.append(value_line(bytes.fromhex(fl[2])))
        elif fl[0] == "R" and int(fl[1]) == k:
            ok.append("0")
        if got not in ok:
            return f"key {k}: read {got!r}, want {' or '.join(map(repr, ok))}"
        seen[k] = got
    n = 1 + keys
    ok_logs = [log_line(log)] + ([log_line([*log, bytes.fromhex(fl[1])])] if fl[0] == "LA" else [])
    if res[n] != "0" or res[n + 1] not in ok_logs:
        return f"log after the cut: begin {res[n]}, records {res[n + 1][:60]!r}, want {ok_logs[0][:60]!r}"
    recovered_log = res[n + 1]
    first_write = run.cmd_cycles[n + 2]
    early = [op for op in run.page_ops if op.start < first_write]
    if early:
        return f"mount or reads wrote to flash ({early[0].kind} of page 0x{early[0].page:X})"
    if res[n + 2] != "0":
        return f"a put after the reboot failed with status {res[n + 2]}"
    if res[n + 3] != value_line(probe) or res[n + 6] != value_line(probe):
        return f"probe key {probe_key}: wrote {probe.hex()}, read {res[n + 3]!r} / after reboot {res[n + 6]!r}"
    if res[n + 4] != "0":
        return f"a log append after the reboot failed with status {res[n + 4]}"
    for i, k in enumerate(all_keys):
        if res[n + 7 + i] != seen[k]:
            return f"key {k} changed after the probe write: {seen[k]!r} -> {res[n + 7 + i]!r}"
    m = n + 7 + keys
    want_log = recovered_log.split()
    want_log = [str(int(want_log[0]) + 1), *want_log[1:], probe_rec.hex()]
    if res[m] != "0" or res[m + 1] != " ".join(want_log):
        return f"log after the probe append: {res[m + 1][:60]!r}"
    start = run.flash_in
    outside = [a for a in range(0, len(start), fw.page_size) if not fw.region_start <= a < fw.region_end
               and run.flash[a:a + fw.page_size] != start[a:a + fw.page_size]]
    if outside:
        return f"flash outside the regions changed (page 0x{outside[0]:X})"
    return None


def sim_power_cut_campaign(fw: DriverFirmware, seed: int, cuts: int, *, nops: int = 400, keys: int = 14,
                           per_workload: int = 150, progress: Callable[[int], None] | None = None
                           ) -> CutCampaignResult:
    """Cut the power at `cuts` points of random workloads on the simulated chip and check every recovery: at most
    `per_workload` points of each workload (the rare kinds, erase and GC copy, first), then a new workload."""
    rng = random.Random(seed)
    res = CutCampaignResult()
    while res.cut_points < cuts:
        lines = powercut_workload(rng, nops, keys)
        run = run_script(fw, lines, regions=blank(fw))
        res.workloads += 1
        res.sim_cycles += run.cycles
        points = _spread(cut_points(run, rng), min(cuts - res.cut_points, per_workload), rng)

        def check(cp: CutPoint, run: DriverRun = run) -> tuple[str | None, str | None]:
            flash, _ = flash_at_cut(run.flash_in, run.page_ops, cp.cycle, cp.seed)
            values, log, inflight = expected_state(run, cp.cycle)
            return inflight, check_after_cut(fw, flash, values, log, inflight, keys, rng)

        if not _check_cuts(res, seed, points, check, progress):
            break
    return res


def _check_cuts(res: CutCampaignResult, seed: int, points: Sequence[CutPoint],
                check: Callable[[CutPoint], tuple[str | None, str | None]],
                progress: Callable[[int], None] | None) -> bool:
    """Both formats' campaigns: `check(cut) -> (operation in flight, error or None)` for each cut point of the
    current workload, counted into `res`; False once 5 failures are in (the campaign stops there)."""
    for cp in points:
        inflight, err = check(cp)
        res.cut_points += 1
        res.by_kind[cp.kind] = res.by_kind.get(cp.kind, 0) + 1
        if err:
            res.failures.append(f"seed {seed} workload {res.workloads} cut at cycle {cp.cycle} ({cp.kind}, "
                                f"during {inflight!r}): {err}")
        if len(res.failures) >= 5:
            return False
        if progress:
            progress(res.cut_points)
    return True


# -- power cuts on format 2 -------------------------------------------------------------------------------------


def powercut_workload_v2(fw: DriverFirmware, rng: random.Random, keys: int = 10, cold: int = 4,
                         nops: int | None = None, big: float = 0.17) -> list[str]:
    """Format 2: puts (mostly 1..8 bytes, a share `big` up to MAXV), removes, clean reboots and a rare format, as
    many as fit the script array (or `nops`). The last `cold` keys are written once at the start and never
    again, so every trip of the ring makes compaction copy them; the other keys are skewed (low keys hot)."""
    hot, maxv = keys - cold, fw.max_value
    lines = ["B", *(f"P {k} {rng.randbytes(rng.randint(4, 12)).hex()}" for k in range(hot, keys))]
    n = 0
    while nops is None or n < nops:
        r = rng.random()
        k = min(int(rng.expovariate(0.3)), hot - 1)
        if r < 0.78:
            line = f"P {k} {rng.randbytes(rng.randint(1, maxv) if rng.random() < big else rng.randint(1, 8)).hex()}"
        elif r < 0.88:
            line = f"R {k}"
        elif r < 0.995:
            line = "B"
        else:
            line = "F"
        if nops is None and not fw.fits([*lines, line]):
            break
        lines.append(line)
        n += 1
    return lines


def check_after_cut_v2(fw: DriverFirmware, flash: bytes, values: dict[int, bytes], inflight: str | None,
                       keys: int, rng: random.Random, full: list[int] | None = None) -> str | None:
    """Format 2: reboot on `flash` and check docs/storage-format-v2.md 8 (every committed value reads back, the
    in-flight operation reads old or new, mount and reads write nothing, a new put succeeds and survives a
    reboot without changing the other values, nothing outside the region changes), and that the twin, given the
    same torn region, answers every line the same and leaves the same bytes. None when all of it holds.
    `full` (a counter, full[0]): the new put may instead find the store full (SF_ERR_FULL) when the twin on the
    same region says so too and the probe key stays absent; counted. That is the format's capacity (docs 6: no
    page start can place the record beside the oldest page's live records), which 32-byte pages reach with tens
    of live bytes."""
    probe_key = keys
    probe = rng.randbytes(rng.randint(1, 8))
    all_keys = list(range(keys))
    region = flash[fw.region_start:fw.region_end]
    stats = ["S"] if fw.has_stats else []
    script = [f"W {region.hex()}", "B", *(f"V {k}" for k in all_keys), *stats, f"P {probe_key} {probe.hex()}",
              f"V {probe_key}", "B", f"V {probe_key}", *(f"V {k}" for k in all_keys), "D"]
    try:
        run = run_script(fw, script, base=flash)
    except DriverError as exc:
        return f"reboot failed: {exc}"
    res = run.results

    fl = inflight.split() if inflight else [""]
    if res[1] != "0":
        return f"begin() returned {res[1]}"
    for i, k in enumerate(all_keys):
        got = res[2 + i]
        ok = [value_line(values.get(k))]
        if fl[0] == "P" and int(fl[1]) == k:
            ok.append(value_line(bytes.fromhex(fl[2])))
        elif fl[0] in ("R", "F") and (fl[0] == "F" or int(fl[1]) == k):
            ok.append("0")
        if got not in ok:
            return f"key {k}: read {got!r}, want {' or '.join(map(repr, ok))}"
    n = 1 + keys + len(stats)  # the result before the put's (S, or the last V)
    first_write = run.cmd_cycles[n]  # fw_lines: B, V x keys, [S,] P
    early = [op for op in run.page_ops if op.start < first_write]
    if early:
        return f"mount or reads wrote to flash ({early[0].kind} of page 0x{early[0].page:X})"
    probe_full = full is not None and res[n + 1] == str(FULL)
    if res[n + 1] != "0" and not probe_full:
        return f"a put after the reboot failed with status {res[n + 1]}"
    if probe_full and (res[n + 2] != "0" or res[n + 4] != "0"):
        return f"probe key {probe_key}: its put found the store full, yet it reads {res[n + 2]!r} / {res[n + 4]!r}"
    if not probe_full and (res[n + 2] != value_line(probe) or res[n + 4] != value_line(probe)):
        return f"probe key {probe_key}: wrote {probe.hex()}, read {res[n + 2]!r} / after reboot {res[n + 4]!r}"
    for i in range(keys):
        if res[n + 5 + i] != res[2 + i]:
            return f"key {i} changed after the probe write: {res[2 + i]!r} -> {res[n + 5 + i]!r}"
    expected, _ = run_model(fw, script)
    if expected != res:
        i = next(i for i, (a, b) in enumerate(zip(expected, res)) if a != b)
        return f"chip and twin differ at {script[i][:30]!r}: twin {expected[i][:60]!r}, chip {res[i][:60]!r}"
    outside = [a for a in range(0, len(run.flash_in), fw.page_size) if not fw.region_start <= a < fw.region_end
               and run.flash[a:a + fw.page_size] != run.flash_in[a:a + fw.page_size]]
    if outside:
        return f"flash outside the region changed (page 0x{outside[0]:X})"
    if probe_full and full is not None:
        full[0] += 1
    return None


SHARES = (None, None, 0.9, 0.97, 0.99)  # format 2's tears: 2 in 5 by sim.tear, the rest near complete


def sim_power_cut_campaign_v2(fw: DriverFirmware, seed: int, cuts: int, *, keys: int = 10, cold: int = 4,
                              big: float = 0.17, full_ok: bool = False, per_workload: int = 60,
                              progress: Callable[[int], None] | None = None) -> CutCampaignResult:
    """Format 2: cut the power at `cuts` points of random workloads on the simulated chip (at most `per_workload`
    of each, the kinds taken in turn so erases, compaction copies and compaction headers are all cut; torn by
    sim.tear or near complete, SHARES), check every recovery (check_after_cut_v2); each uncut workload must also
    match the twin line for line. `full_ok`: see check_after_cut_v2's `full` (counted in probe_full)."""
    rng = random.Random(seed)
    res = CutCampaignResult()
    full = [0] if full_ok else None
    while res.cut_points < cuts:
        lines = powercut_workload_v2(fw, rng, keys, cold, big=big)
        run = run_script(fw, [*lines, "D"], regions=blank(fw))
        expected, _ = run_model(fw, [*lines, "D"], regions=blank(fw))
        res.workloads += 1
        res.sim_cycles += run.cycles
        if run.results != expected:
            i = next(i for i, (a, b) in enumerate(zip(expected, run.results)) if a != b)
            res.failures.append(f"seed {seed} workload {res.workloads}: uncut run differs from the twin at line {i} "
                                f"({[*lines, 'D'][i][:30]!r}): twin {expected[i][:60]!r}, chip {run.results[i][:60]!r}")
        kinds = classify_ops_v2(run, fw.page_size)
        points = _spread(cut_points(run, rng, kinds), min(cuts - res.cut_points, per_workload), rng)

        def check(cp: CutPoint, run: DriverRun = run) -> tuple[str | None, str | None]:
            if cp.kind != "idle":
                cp.share = rng.choice(SHARES)
                res.near_complete += cp.share is not None
            flash, _ = flash_at_cut(run.flash_in, run.page_ops, cp.cycle, cp.seed, cp.share)
            values, _log, inflight = expected_state(run, cp.cycle)
            return inflight, check_after_cut_v2(fw, flash, values, inflight, keys, rng, full)

        if not _check_cuts(res, seed, points, check, progress) or len(res.failures) >= 5:
            break
    res.probe_full = full[0] if full else 0
    return res


# -- corruption -------------------------------------------------------------------------------------------------


@dataclass
class CorruptionCase:
    kind: str  # "bytes" | "bits" | "page" | "page-header-kept"
    region: bytes  # the corrupted storage region (log region erased)
    values: dict[int, bytes]  # what the store held before the corruption
    intact: set[int]  # keys whose page header, the key/len bytes walked to their record and the record are untouched


def corruption_case(fw: DriverFirmware, rng: random.Random, keys: int = 8, max_len: int = 16) -> CorruptionCase:
    """A region written by the model (random puts/removes), then hit by random bytes, bit flips or a garbage page
    (as spareflash.storage.campaign.corruption_campaign does on the model alone). Format 2: written by its twin,
    values up to `max_len` bytes (at most MAXV), `intact` by value_dependencies_v2."""
    from . import store_v2
    from .campaign import corrupt, random_fill, value_dependencies, value_dependencies_v2
    from .flash import FlashEmu
    from .store import StorageModel

    P, N = fw.page_size, fw.storage_pages
    flash = FlashEmu(P, N)
    if fw.storage_format == 2:
        twin = store_v2.StorageModelV2(flash)
        values = random_fill(twin, rng, rng.randint(5, 150), keys, max_len=min(max_len, fw.max_value))
        deps = {key: value_dependencies_v2(twin, key) for key in values}
        kind, touched = corrupt(flash.data, rng, P, max_hits=10, header=store_v2.HDR)
        return CorruptionCase(kind, bytes(flash.data), values, {k for k in values if not deps[k] & touched})
    store = StorageModel(flash, single_write=fw.single_write)
    values = random_fill(store, rng, rng.randint(5, 150), keys, max_len=12)
    deps = {key: value_dependencies(store, key) for key in values}
    data = flash.data
    kind, touched = corrupt(data, rng, P, max_hits=10)
    return CorruptionCase(kind, bytes(data), values, {k for k in values if not deps[k] & touched})


@dataclass
class CorruptionResult:
    cases: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    max_begin_cycles: int = 0
    intact_checked: int = 0
    failures: list[str] = field(default_factory=list)


def begin_cycle_bound(fw: DriverFirmware) -> int:
    """Upper bound for begin() on any region contents: a header CRC per page plus one walk of the head page (its
    records and the blank check of its tail), at a generous cost per byte read, and the backend check. A loop
    that did not stop at the page end, or rescanned pages per record, would blow through it.
    Format 2 reads 6 header bytes a page (crc8 and Berger count, bit by bit: ~90 cycles a byte; a blank 8-page
    region mounts in 4,492 cycles) and walks the head page once; there is no backend check."""
    if fw.storage_format == 2:
        return 2_000 + 120 * (fw.storage_pages * 6 + 2 * fw.page_size)
    per_byte = 40  # LPM + CRC-16 update + loop: ~25 cycles a byte in the header CRCs and the walks
    fixed = 8_000  # call overhead and the backend check (a blank 8-page region mounts in ~4,000 cycles)
    return fixed + per_byte * (fw.storage_pages * 8 + 2 * fw.page_size)


def check_corruption_case(fw: DriverFirmware, case: CorruptionCase, rng: random.Random, keys: int = 8
                          ) -> tuple[list[str], int]:
    """Mount the corrupted region on the chip; (failures, begin() cycles)."""
    probes = [(keys + i, rng.randbytes(4)) for i in range(3)]
    st = 1 if fw.has_stats else 0  # the S line, when the driver has it
    lines = [f"W {case.region.hex()}", "B", *(f"V {k}" for k in range(keys + 1)), *["S"] * st,
             *(f"P {k} {v.hex()}" for k, v in probes), *(f"V {k}" for k in range(keys + 3)), "D"]
    fails: list[str] = []
    try:
        run = run_script(fw, lines)
    except DriverError as exc:
        return [f"{case.kind}: {exc}"], 0
    expected, _ = run_model(fw, lines)
    begin = run.command_cycles(0)
    if begin > begin_cycle_bound(fw):
        fails.append(f"{case.kind}: begin() took {begin} cycles, bound {begin_cycle_bound(fw)}")
    if run.results != expected:
        diff = next(i for i, (a, b) in enumerate(zip(expected, run.results)) if a != b)
        fails.append(f"{case.kind}: line {diff} {lines[diff][:30]!r}: model {expected[diff][:60]!r}, "
                     f"chip {run.results[diff][:60]!r}")
    from .image import decode_storage

    decoded = {int(k): v for k, v in decode_storage(case.region, fw.page_size, fw.storage_format)["values"].items()}
    for k in range(keys + 1):  # what `spareflash dump` would show for the same bytes
        want = f"{len(decoded[k]) // 2} 0 {decoded[k]}" if k in decoded else "0"
        if run.results[2 + k] != want:
            fails.append(f"{case.kind}: key {k} reads {run.results[2 + k]!r}, the model's decode has {want!r}")
    for k in case.intact:
        v = case.values[k]
        if run.results[2 + k] != f"{len(v)} 0 {v.hex()}":
            fails.append(f"{case.kind}: intact key {k} read {run.results[2 + k]!r}, stored {v.hex()}")
    first_put = run.cmd_cycles[keys + 2 + st]
    s0, s1 = fw.layout.storage.start, fw.layout.storage.end
    for op in run.page_ops:
        if op.start < first_put:
            fails.append(f"{case.kind}: mount or reads wrote to flash ({op.kind} of page 0x{op.page:X})")
        if not s0 <= op.page < s1:
            fails.append(f"{case.kind}: {op.kind} of page 0x{op.page:X}, outside the storage region")
    if run.flash[:s0] != run.flash_in[:s0] or run.flash[s1:] != run.flash_in[s1:]:
        fails.append(f"{case.kind}: flash outside the storage region changed")
    for i, (k, v) in enumerate(probes):
        if run.results[keys + 3 + st + i] != "0" or run.results[keys + 6 + st + k] != f"4 0 {v.hex()}":
            fails.append(f"{case.kind}: probe key {k} not written/read back ({run.results[keys + 3 + st + i]})")
    return fails, begin


def sim_corruption_campaign(fw: DriverFirmware, seed: int, cases: int, keys: int = 8, max_len: int = 16
                            ) -> CorruptionResult:
    rng = random.Random(seed)
    res = CorruptionResult()
    for i in range(cases):
        case = corruption_case(fw, rng, keys, max_len)
        fails, begin = check_corruption_case(fw, case, rng, keys)
        res.cases += 1
        res.by_kind[case.kind] = res.by_kind.get(case.kind, 0) + 1
        res.max_begin_cycles = max(res.max_begin_cycles, begin)
        res.intact_checked += len(case.intact)
        res.failures += [f"seed {seed} case {i} {f}" for f in fails]
    return res
