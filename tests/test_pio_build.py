"""SpareFlash in a real, offline `pio run`.

Each test writes a small PlatformIO project into a temporary folder: the project's own stand-in for the
official atmelavr platform (tests/pio/platform-atmelavr), Debian's toolchain and ArduinoCore-avr through the
offline core that `./dev setup` provisions, and the SpareFlash library itself through
`lib_deps = SpareFlash=symlink://<snapshot of the repo's library>`. The Arduino core compiles in about a second
with -flto (code generation happens at link time), so every project builds from clean; no build cache is shared.

The specification, as checked below: a project that includes SpareFlash gets the plan's linker symbols and
defines, a reduced `upload.maximum_size` that PlatformIO's size check enforces, the fuse and lock bytes in the
ELF's .fuse/.lock sections and in board_fuses (for `pio run -t fuses`) but not in firmware.hex, and a
verification + compact report after every build, clean or incremental; a failed verification or a bad option
fails the build with one line; a project that has the library but does not use it is left untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from spareflash.devsetup import pio as devsetup
from spareflash.plan import PlanConfig, plan

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = ROOT / "tests" / "pio" / "platform-atmelavr"
PROJECTS = ROOT / "tests" / "pio" / "projects"
CORE = Path(os.environ.get("PLATFORMIO_CORE_DIR") or ROOT / ".pio-core")
BOARD_MAX = {"uno": 32256, "megaatmega2560": 253952, "leonardo": 28672, "attiny85": 8192, "attiny84": 8192,
             "attiny25": 2048}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the SpareFlash library as a user installs it: library.json, the C++ sources, and the Python
    package (linked). Other engineers edit library/src while the suite runs; a snapshot keeps an incremental
    build incremental."""
    devsetup.setup(CORE)  # idempotent; `./dev setup` has normally done it already
    lib = tmp_path_factory.mktemp("lib") / "SpareFlash"
    lib.mkdir()
    shutil.copy(ROOT / "library.json", lib / "library.json")
    shutil.copytree(ROOT / "library", lib / "library")
    (lib / "builder").symlink_to(ROOT / "builder")
    return lib


@pytest.fixture
def project(tmp_path: Path, library: Path):
    def make(sketch: str, board: str, extra: str = "", framework: str | None = "arduino", sub: str = "") -> Path:
        return make_project(tmp_path / sub if sub else tmp_path, library, sketch, board, extra, framework)

    return make


def make_project(tmp: Path, library: Path, sketch: str, board: str, extra: str = "",
                 framework: str | None = "arduino") -> Path:
    proj = tmp / sketch
    shutil.copytree(PROJECTS / sketch, proj / "src")
    ini = [
        f"[env:{board}]",
        f"platform = symlink://{PLATFORM}",
        f"board = {board}",
        *([f"framework = {framework}"] if framework else []),
        f"lib_deps = SpareFlash=symlink://{library}",
        "platform_packages =",
        f"  platformio/toolchain-atmelavr@symlink://{devsetup.toolchain_dir(CORE.resolve())}",
        f"  platformio/framework-arduino-avr@symlink://{devsetup.framework_dir(CORE.resolve())}",
        extra,
    ]
    (proj / "platformio.ini").write_text("\n".join(ini) + "\n")
    return proj


def pio(proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(CORE), PLATFORMIO_NO_ANSI="1",
               PLATFORMIO_DISABLE_PROGRESSBAR="true", PLATFORMIO_SETTING_ENABLE_TELEMETRY="no",
               PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="9999",
               PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD="0")
    env.pop("PLATFORMIO_BUILD_DIR", None)
    return subprocess.run([sys.executable, "-m", "platformio", "run", "-d", str(proj), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    return out


def failed(result: subprocess.CompletedProcess[str]) -> str:
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-4000:]
    return out


def elf_of(proj: Path, board: str) -> Path:
    return proj / ".pio" / "build" / board / "firmware.elf"


def elf_symbols(elf: Path) -> dict[str, int]:
    with elf.open("rb") as fh:
        symtab = ELFFile(fh).get_section_by_name(".symtab")
        return {s.name: s["st_value"] for s in symtab.iter_symbols() if s.name.startswith("__spareflash_")}


def elf_section(elf: Path, name: str) -> bytes | None:
    with elf.open("rb") as fh:
        sec = ELFFile(fh).get_section_by_name(name)
        return None if sec is None else sec.data()


def size_limit(out: str) -> int:
    m = re.search(r"Flash: .*used \d+ bytes from (\d+) bytes", out)
    assert m, out[-3000:]
    return int(m.group(1))


def hex_max_address(hex_path: Path) -> int:
    """Highest byte address an Intel HEX file writes (extended linear/segment records honoured)."""
    base, top = 0, 0
    for line in hex_path.read_text().split():
        n, addr, kind = int(line[1:3], 16), int(line[3:7], 16), int(line[7:9], 16)
        if kind == 0 and n:
            top = max(top, base + addr + n - 1)
        elif kind == 2:
            base = int(line[9:13], 16) << 4
        elif kind == 4:
            base = int(line[9:13], 16) << 16
    return top


def check_applied(proj: Path, board: str, out: str, cfg: PlanConfig) -> None:
    """The whole contract of a SpareFlash build, against the plan computed here in Python."""
    layout = plan(cfg)
    elf = elf_of(proj, board)
    assert elf_symbols(elf) == layout.symbols()
    assert size_limit(out) == min(BOARD_MAX[board], layout.max_app_size) < BOARD_MAX[board]
    names = [f.name for f in layout.chip.fuses]
    assert elf_section(elf, ".fuse") == bytes(layout.fuses[n] for n in names)
    assert elf_section(elf, ".lock") == bytes([layout.fuses["lock"]])
    assert hex_max_address(elf.with_suffix(".hex")) < layout.chip.flash_size  # flash only, no fuse records
    assert "SpareFlash: verification passed (firmware.elf)" in out
    assert f"SpareFlash {layout.chip.display} ({layout.backend})" in out  # the compact report's first line
    info = json.loads((elf.parent / "spareflash" / "layout.json").read_text())
    assert info["layout"] == json.loads(json.dumps(layout.to_dict()))
    assert info["maximum_size"] == {"board": BOARD_MAX[board], "planned": size_limit(out)}


def test_uno_default_plan_clean_then_incremental(project) -> None:
    proj = project("uses", "uno")
    out = ok(pio(proj))
    assert "Linking" in out
    # an Uno user gets 4 KB of storage below the 512-byte bootstub section, from spareflash.plan's defaults
    check_applied(proj, "uno", out, PlanConfig("atmega328p", board="uno"))
    assert size_limit(out) == 0x7E00 - 4096
    assert "upload.maximum_size 32256 -> 28160" in out

    again = ok(pio(proj))  # nothing changed: nothing is relinked, but the image is verified and reported again
    assert "Linking" not in again
    check_applied(proj, "uno", again, PlanConfig("atmega328p", board="uno"))


def test_mega_with_options(project) -> None:
    extra = "\n".join([
        "custom_spareflash_storage = 8K",
        "custom_spareflash_log = 0x800",
        "custom_spareflash_overlay_slots = 2:1024",
    ])
    proj = project("uses", "megaatmega2560", extra)
    out = ok(pio(proj))
    cfg = PlanConfig("atmega2560", storage_bytes=8192, log_bytes=2048, overlay_slots=2, slot_bytes=1024,
                     board="megaatmega2560")
    check_applied(proj, "megaatmega2560", out, cfg)
    layout = plan(cfg)
    assert layout.slots.size == 2048 and layout.log.size == 2048 and layout.storage.size == 8192
    # the symbols above 64 KB keep bit 16 (24-bit addresses on the ATmega2560)
    assert elf_symbols(elf_of(proj, "megaatmega2560"))["__spareflash_storage_start"] > 0xFFFF


def test_leonardo_default_plan(project) -> None:
    proj = project("uses", "leonardo")
    out = ok(pio(proj))
    check_applied(proj, "leonardo", out, PlanConfig("atmega32u4", board="leonardo"))


@pytest.mark.parametrize("board", ["attiny85", "attiny84", "attiny25"])
def test_bare_tiny_avr_libc(project, library: Path, board: str) -> None:
    # no framework: the platform builds a plain avr-libc project; SpareFlash plans the direct (SELFPRGEN) backend
    stems = [p.stem for p in (library / "library" / "src").iterdir() if p.suffix in (".c", ".cpp", ".S")]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    # without the Arduino framework PlatformIO names objects X.o, so X.S and X.cpp would collide
    assert not clash, f"library/src has several sources named {clash}"
    # library.json says frameworks: arduino; a framework-less project must turn the compatibility check off
    proj = project("bare_tiny", board, "lib_compat_mode = off", framework=None)
    out = ok(pio(proj))
    layout = plan(PlanConfig(board, board=board))
    assert layout.backend == "direct"
    check_applied(proj, board, out, PlanConfig(board, board=board))
    efuse = elf_section(elf_of(proj, board), ".fuse")
    assert efuse is not None and efuse[2] & 1 == 0  # SELFPRGEN programmed, or SPM does nothing


@pytest.mark.parametrize(("board", "storage_format"), [("attiny25", 2), ("attiny85", 1)])
def test_bare_tiny_storage_builds_the_planned_format(project, board: str, storage_format: int) -> None:
    # SPAREFLASH_STORAGE_FORMAT reaches C++ and the assembler: format 2 links the assembly engine's entries
    proj = project("storage_tiny", board, "lib_compat_mode = off", framework=None)
    out = ok(pio(proj))
    layout = plan(PlanConfig(board, board=board))
    assert layout.storage_format == storage_format
    check_applied(proj, board, out, PlanConfig(board, board=board))
    with elf_of(proj, board).open("rb") as fh:
        names = {s.name for s in ELFFile(fh).get_section_by_name(".symtab").iter_symbols()}
    assert ({"sf2_begin", "sf2_put", "sf2_get"} <= names) == (storage_format == 2)
    assert any(n.startswith("_ZN12FlashStorage") for n in names) == (storage_format == 1)


def test_project_without_spareflash_is_untouched(project) -> None:
    proj = project("unused", "uno")
    out = ok(pio(proj))
    assert "SpareFlash" in out  # the library was found (its extra script ran) ...
    assert "SpareFlash:" not in out  # ... but did nothing
    assert size_limit(out) == BOARD_MAX["uno"]
    elf = elf_of(proj, "uno")
    assert elf_symbols(elf) == {}
    assert elf_section(elf, ".fuse") is None
    assert not (elf.parent / "spareflash").exists()


def test_size_check_stops_code_growing_into_the_regions(project) -> None:
    proj = project("too_big", "uno")
    out = failed(pio(proj))
    m = re.search(r"program size \((\d+) bytes\) is greater than maximum allowed \(28160 bytes\)", out)
    assert m, out[-2000:]
    assert 28160 < int(m.group(1)) <= BOARD_MAX["uno"]  # the stock Uno limit would have let it through


def test_verification_failure_fails_the_build(project) -> None:
    layout = plan(PlanConfig("atmega328p", board="uno"))
    extra = f"build_flags = -Wl,--section-start=.intruder=0x{layout.storage.start:X}"
    proj = project("region_data", "uno", extra)
    out = failed(pio(proj))
    lines = [ln for ln in out.splitlines() if ln.startswith("SpareFlash: verification failed: ")]
    assert len(lines) == 1, out[-3000:]
    assert "Traceback" not in out


def test_fuses_target_uses_the_planned_fuses(project) -> None:
    # no board is attached: a post script swaps avrdude for `echo`, so the command line is what we check
    proj = project("uses", "uno", "extra_scripts = post:echo_avrdude.py")
    (proj / "echo_avrdude.py").write_text('Import("env")\nenv.Replace(FUSESUPLOADER="echo")\n')
    out = ok(pio(proj, "-t", "fuses"))
    f = plan(PlanConfig("atmega328p", board="uno")).fuses
    selected = f"lfuse = 0x{f['lfuse']:02X}, hfuse = 0x{f['hfuse']:02X}, efuse = 0x{f['efuse']:02X}"
    assert f"Selected fuses: [{selected}]" in out
    assert f"-Ulock:w:0x{f['lock']:02X}:m" in out and f"-Uhfuse:w:0x{f['hfuse']:02X}:m" in out


def test_explicit_board_fuses_win_but_are_checked(project) -> None:
    # BOOTSZ=10 (1 KB boot section at 0x7C00) does not match the bootstub at 0x7E00: refused with the rule name
    proj = project("uses", "uno", "board_fuses.hfuse = 0xDD")
    out = failed(pio(proj))
    assert "Error: SpareFlash: fuse-bootsz:" in out and "Traceback" not in out
    # an explicit efuse that breaks no rule is kept, in the ELF and for `pio run -t fuses`
    proj2 = project("uses", "uno", "board_fuses.efuse = 0xFC", sub="ok")
    ok(pio(proj2))
    assert elf_section(elf_of(proj2, "uno"), ".fuse")[2] == 0xFC


def test_bad_option_is_one_line(project) -> None:
    proj = project("uses", "uno", "custom_spareflash_storage = 1000")
    out = failed(pio(proj))
    assert "Error: SpareFlash: region-alignment:" in out and "Traceback" not in out


def test_report_target_prints_the_full_report(project) -> None:
    proj = project("uses", "uno")
    out = ok(pio(proj, "-t", "spareflash-report"))
    assert "SpareFlash: verification passed" in out
    assert "BOOTSZ" in out  # the full report decodes the fuses; the compact one does not
