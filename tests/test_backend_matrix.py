"""The backend/fuse matrix (issue 4's acceptance): for every chip and backend the simulator can run, the fuses the
plan picks let StorageBasics run (SPM accepted), and one boot-section size smaller makes it fail (SPM refused).

Each (chip, backend) pair is built with `spareflash.build.build_sketch` and the plan, then run in the simulator
(strict SPM: a refused SPM crashes the run with "Flash write refused"):

* ATmega328P (Uno) and ATmega2560 (Mega) x bootstub / optiboot / urboot: examples/StorageBasics through
  arduino-builder; ATmega32U4 (Leonardo, its Serial is USB) the same with StorageConsole; for the
  bootloader backends our own test doubles of Optiboot 8 / urboot (tests/firmware/backends) are linked into the
  boot section of the same image, as a programmed bootloader would sit there.
* ATmega168P and ATmega88P (BOOTSZ in efuse) x bootstub, ATtiny85, ATtiny84, ATtiny45 and ATtiny25 x direct:
  tests/firmware/matrix/StorageConsole, the same storage calls printing through GPIOR1 (no Serial on these bare-chip
  builds). The ATtiny45/25 build FlashStorage format 2 (the plan's storage_format: the assembly engine,
  library/src/flashstorage_v2.S), the others format 1.

Accepted: the ELF carries the plan's fuses (`.fuse`/`.lock`), nothing else is given to the simulator, the run ends
with StorageBasics' output, and the storage region decodes (spareflash.storage) to the values it put.
Refused: every plan already uses the smallest boot section, so the image is built with the next larger one (the
stub or bootloader double at its start, the regions below it) and run with the plan's fuses, which select the
smaller section: the SPM code then lies below the boot section and the chip refuses it. The same image with fuses
for the section it was built for runs, so the fuses alone make the difference. Tiny parts (no boot section): the
same image with SELFPRGEN unprogrammed.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "firmware" / "backends"))

from fwbuild import with_boot_code, with_bootsz  # noqa: E402

from spareflash.build import DEFAULT_BUILD_ROOT, BuildResult, build_sketch, get_board  # noqa: E402
from spareflash.fuses import check_fuses  # noqa: E402
from spareflash.plan import Layout, PlanConfig, plan  # noqa: E402
from spareflash.storage import decode_storage  # noqa: E402

pytest.importorskip("yasimavr")

from spareflash.sim import Simulator, load_firmware, registered_devices  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STORAGE_BASICS = ROOT / "examples" / "StorageBasics"
STORAGE_CONSOLE = ROOT / "tests" / "firmware" / "matrix" / "StorageConsole"
DOUBLES = ROOT / "tests" / "firmware" / "backends"
BUDGET = 80_000_000
EXPECTED_LINES = ["begin: 0", "boots: 1 put: 0", "settings: 1000 7 1", "scratch after remove: gone"]
# what StorageBasics leaves in the region: boots = 1 (uint32), settings {1000, 7, 1}; key 3 was removed
EXPECTED_VALUES = {1: (1).to_bytes(4, "little").hex(), 2: bytes([0xE8, 0x03, 7, 1]).hex()}


@dataclass(frozen=True)
class Case:
    board: str
    backend: str

    @property
    def mcu(self) -> str:
        return get_board(self.board).mcu

    @property
    def sketch(self) -> Path:
        # the Leonardo's Serial is USB CDC, which the simulator does not model: it prints through GPIOR1 too
        return STORAGE_BASICS if get_board(self.board).fqbn and self.board != "leonardo" else STORAGE_CONSOLE

    def __str__(self) -> str:
        return f"{self.mcu}-{self.backend}"


SIMULATED = [Case("uno", "bootstub"), Case("uno", "optiboot"), Case("uno", "urboot"),
             Case("mega", "bootstub"), Case("mega", "optiboot"), Case("mega", "urboot"),
             Case("leonardo", "bootstub"), Case("leonardo", "optiboot"), Case("leonardo", "urboot"),
             Case("atmega168p", "bootstub"), Case("atmega88p", "bootstub"), Case("attiny85", "direct"),
             Case("attiny84", "direct"), Case("attiny45", "direct"), Case("attiny25", "direct")]


def matrix() -> list[object]:
    # every part of the matrix has a simulator model: a missing one is an error, not a skip
    devices = set(registered_devices())
    missing = sorted({c.mcu for c in SIMULATED} - devices)
    assert not missing, f"no simulator model for {missing}"
    return [pytest.param(case, id=str(case)) for case in SIMULATED]


def double_object(backend: str, mcu: str) -> Path:
    """The bootloader test double assembled for `mcu` (cached under .build/matrix/)."""
    src = DOUBLES / ("optiboot8_double.S" if backend == "optiboot" else "urboot_double.S")
    out = DEFAULT_BUILD_ROOT / "matrix" / f"{src.stem}-{mcu}.o"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.o")
        subprocess.run(["avr-gcc", f"-mmcu={mcu}", "-c", str(src), "-o", str(tmp)], check=True)
        tmp.replace(out)
    return out


def bootloader_flags(backend: str, layout: Layout) -> list[str]:
    """The double at the layout's boot start, its version word / table at the top of flash (as the real ones)."""
    top = layout.chip.flash_size
    if backend == "optiboot":
        table, size, syms = ".testbootver", 2, ("optiboot_double_start", "optiboot_double_version")
    else:
        # above 64 KB the double's table starts with a 4-byte trampoline (see urboot_double.S)
        table, size, syms = (".testboottab", 6 if top <= 0x10000 else 10,
                             ("urboot_double_start", "urboot_double_table"))
    return [str(double_object(backend, layout.chip.name)), f"-Wl,--section-start=.testboot=0x{layout.boot_start:X}",
            f"-Wl,--section-start={table}=0x{top - size:X}", *(f"-Wl,-u,{s}" for s in syms)]


def build(case: Case, layout: Layout) -> BuildResult:
    extra = bootloader_flags(case.backend, layout) if case.backend in ("optiboot", "urboot") else []
    return build_sketch(case.sketch, case.board, layout=layout, extra_flags=extra)


def run(result: BuildResult, case: Case, fuses: dict[str, int] | None = None) -> tuple[Simulator, str]:
    """Run from power-on; the console text (UART for StorageBasics, GPIOR1 otherwise), or 'REASON: message'."""
    sim = Simulator(str(result.elf), case.mcu, fuses=fuses, strict_spm=True, freq=get_board(case.board).f_cpu)
    res = sim.run(max_cycles=BUDGET)
    if res.reason != "sleep":
        return sim, f"{res.reason}: {res.message}"
    return sim, sim.serial_text if case.sketch == STORAGE_BASICS else sim.debug.decode(errors="replace")


def planned(case: Case) -> Layout:
    board = get_board(case.board)
    return plan(PlanConfig(case.mcu, backend=case.backend, board=board.plan_board))


@pytest.mark.parametrize("case", matrix())
def test_the_planned_fuses_let_storage_basics_program_the_region(case: Case) -> None:
    layout = planned(case)
    assert check_fuses(layout.chip, layout.fuses, layout.backend) == []
    result = build(case, layout)
    assert load_firmware(result.elf).fuses == layout.fuses  # the ELF carries the plan's fuses and lock bits
    sim, out = run(result, case)  # fuses from the ELF only
    assert [ln.strip() for ln in out.splitlines()[:4]] == EXPECTED_LINES, out
    assert out.rstrip().endswith("done")
    assert sim.page_ops and all(layout.storage.start <= op.page < layout.storage.end for op in sim.page_ops)
    decoded = decode_storage(sim.flash[layout.storage.start:layout.storage.end], layout.chip.page_size,
                             layout.storage_format)
    assert decoded["values"] == EXPECTED_VALUES


def refused_cases() -> list[object]:
    out: list[object] = []
    for p in matrix():
        case = p.values[0]  # type: ignore[attr-defined]
        if case.backend == "direct":
            continue
        out.append(pytest.param(case, id=str(case), marks=list(p.marks)))  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize("case", refused_cases())
def test_one_boot_section_size_smaller_refuses_spm(case: Case) -> None:
    layout = planned(case)
    chip = layout.chip
    assert layout.boot is not None and chip.boot_fuse is not None
    sizes = sorted(chip.boot_sizes, key=lambda b: b.size)
    i = sizes.index(layout.boot)
    if i == 0:
        # the plan already uses the smallest section: build for the next larger one, run with the plan's fuses
        image_layout = with_boot_code(layout, sizes[1].code)
        good = with_bootsz(chip, layout.fuses, sizes[1].code)
        bad = dict(layout.fuses)
    else:
        # a bootloader keeps the board's larger section (the Mega's 8 KB): the plan's image, fuses one size smaller
        image_layout = layout
        good = dict(layout.fuses)
        bad = with_bootsz(chip, layout.fuses, sizes[i - 1].code)
    if case.backend != "bootstub":
        # BOOTRST off: reset would enter the smaller section, where this image has no bootloader
        bad[chip.boot_fuse] |= 1
    result = build(case, image_layout)
    _, out = run(result, case, good)
    assert [ln.strip() for ln in out.splitlines()[:4]] == EXPECTED_LINES, out  # the image itself is fine
    sim, out = run(result, case, bad)
    assert out.startswith("crash: ") and "refused" in out.lower(), out
    s = image_layout.storage
    assert sim.flash[s.start:s.end] == b"\xff" * s.size  # nothing was written


@pytest.mark.parametrize("case", [c for c in SIMULATED if c.backend == "direct"], ids=str)
def test_a_tiny_without_selfprgen_refuses_spm(case: Case) -> None:
    layout = planned(case)
    assert layout.fuses["efuse"] & 1 == 0  # the plan programs SELFPRGEN
    result = build(case, layout)
    sim, out = run(result, case, dict(layout.fuses, efuse=layout.fuses["efuse"] | 1))
    assert out.startswith("crash: ") and "refused" in out.lower(), out
    assert sim.flash[layout.storage.start:layout.storage.end] == b"\xff" * layout.storage.size


def test_build_sketch_takes_a_layout_for_the_boards_chip_only() -> None:
    from spareflash.errors import SpareFlashError

    with pytest.raises(SpareFlashError, match="layout is for atmega168p but board 'atmega88p'"):
        build_sketch(STORAGE_CONSOLE, "atmega88p", layout=plan(PlanConfig("atmega168p")))
    with pytest.raises(SpareFlashError, match="not both"):
        build_sketch(STORAGE_CONSOLE, "atmega88p", layout=plan(PlanConfig("atmega88p")),
                     plan_config=PlanConfig("atmega88p"))
    # a bare chip has no Arduino board: it plans from the chip's factory fuses
    assert get_board("atmega88p").plan_board is None and get_board("atmega88p").mcu == "atmega88p"
