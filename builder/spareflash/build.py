"""Build a sketch with the real AVR toolchain and the flash plan applied.

Arduino boards (uno, nano, mega, leonardo) go through Debian's `arduino-builder` with the repo's library made
visible as an Arduino library; the tiny parts and the bare megas (no Arduino core in Debian) are compiled with
avr-g++ directly, against avr-libc and the tiny `library/tinycore` shim. Either way the plan reaches the build the
same way: `plan.defines()` on every compile, `plan.linker_flags()` on the link, and the fuses/lock bits as avr-libc
`FUSES`/`LOCKBITS` in a generated C file (see `fuse_section_source`), so the ELF carries `.fuse`/`.lock` sections
that the verifier and the simulator read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from .chips import CHIPS, Chip, get_chip
from .errors import SpareFlashError, ToolchainError
from .plan import Layout, PlanConfig, plan

REPO_ROOT = Path(__file__).resolve().parents[2]
# The C++ library ships inside the package (spareflash/data/library, a link to the repo's library/ in a
# checkout, real files in a wheel), so `build_sketch` works from `pip install .` too.
LIBRARY_DIR = (Path(__file__).parent / "data" / "library").resolve()
if not (LIBRARY_DIR / "src").is_dir():
    LIBRARY_DIR = REPO_ROOT / "library"
LIBRARY_SRC = LIBRARY_DIR / "src"
TINYCORE_DIR = LIBRARY_DIR / "tinycore"


def _default_build_root() -> Path:
    """.build/ in a checkout (gitignored); the user's cache dir for an installed package; $SPAREFLASH_BUILD_DIR wins."""
    env = os.environ.get("SPAREFLASH_BUILD_DIR")
    if env:
        return Path(env)
    if (REPO_ROOT / "library.json").is_file() and (REPO_ROOT / "builder").is_dir():
        return REPO_ROOT / ".build"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spareflash"


DEFAULT_BUILD_ROOT = _default_build_root()

ARDUINO_HARDWARE = Path("/usr/share/arduino/hardware")
ARDUINO_BUILDER_HARDWARE = Path("/usr/share/arduino-builder")
ARDUINO_TOOLS = Path("/usr/bin")
# gcc-avr 5.4's float.h defines DECIMAL_DIG only for C99, which ArduinoCore-avr's WString.cpp needs (C++).
CORE_WORKAROUND_FLAGS = ("-DDECIMAL_DIG=__DECIMAL_DIG__",)

SOURCE_SUFFIXES = (".c", ".cpp", ".S")
# Sections that are not program flash: avr-objcopy must leave them out of the .hex.
HEX_DROP_FLAGS = ("-R", ".eeprom", "-R", ".fuse", "-R", ".lock", "-R", ".signature")


@dataclass(frozen=True)
class Board:
    """How to build for one board. The MCU is not written here: it comes from the chip model's board list
    (a bare chip without an Arduino board names its chip instead, and starts from the chip's factory fuses)."""

    name: str
    plan_board: str | None  # key into Chip.boards (the fuses the board ships with); None for a bare chip
    fqbn: str | None  # None: no Arduino core; built with avr-gcc directly
    f_cpu: int
    bare_chip: str | None = None  # a chip in the chip model, for boards the chip model does not list

    @property
    def chip(self) -> Chip:
        if self.bare_chip is not None:
            return get_chip(self.bare_chip)
        for chip in CHIPS.values():
            if self.plan_board in chip.boards:
                return chip
        raise SpareFlashError(f"board '{self.name}': no chip in the chip model lists board '{self.plan_board}'")

    @property
    def mcu(self) -> str:
        return self.chip.name


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board("uno", "uno", "arduino:avr:uno", 16_000_000),
        Board("nano", "nanoatmega328", "arduino:avr:nano:cpu=atmega328", 16_000_000),
        Board("mega", "megaatmega2560", "arduino:avr:mega:cpu=atmega2560", 16_000_000),
        Board("mega2560", "megaatmega2560", "arduino:avr:mega:cpu=atmega2560", 16_000_000),
        Board("leonardo", "leonardo", "arduino:avr:leonardo", 16_000_000),
        Board("attiny85", "attiny85", None, 8_000_000),
        # The other tiny parts, built the same way (avr-libc + tinycore, 8 MHz internal RC: the chip model's board
        # fuses leave CKDIV8 unprogrammed).
        Board("attiny45", "attiny45", None, 8_000_000),
        Board("attiny25", "attiny25", None, 8_000_000),
        Board("attiny84", "attiny84", None, 8_000_000),
        # Bare chips (no Arduino core here: avr-libc + tinycore like the ATtiny85; print through GPIOR1). The
        # simulator models both; the 168P/88P keep BOOTSZ in efuse, so they exercise that fuse layout.
        Board("atmega168p", None, None, 16_000_000, bare_chip="atmega168p"),
        Board("atmega88p", None, None, 8_000_000, bare_chip="atmega88p"),
    )
}


def get_board(name: str) -> Board:
    key = name.strip().lower()
    if key in BOARDS:
        return BOARDS[key]
    raise SpareFlashError(f"unknown board '{name}' (known: {', '.join(BOARDS)})")


@dataclass(frozen=True)
class BuildResult:
    elf: Path
    hex: Path
    layout: Layout | None
    size: dict[str, int] = field(default_factory=dict)
    build_dir: Path | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "elf": str(self.elf),
            "hex": str(self.hex),
            "build_dir": str(self.build_dir) if self.build_dir else None,
            "size": dict(self.size),
            "layout": self.layout.to_dict() if self.layout else None,
        }


# ---- fuses -----------------------------------------------------------------------------------------------------
_FUSE_FIELDS = {"lfuse": "low", "hfuse": "high", "efuse": "extended"}


def fuse_section_source(layout: Layout) -> str:
    """C source that puts the plan's fuse and lock bytes into the ELF's `.fuse` and `.lock` sections.

    Uses avr-libc's FUSES/LOCKBITS macros (attribute `used`, so LTO and --gc-sections keep them). Compile it as C
    with the same -mmcu as the sketch and link the object in; reused by the PlatformIO script.
    """
    chip = layout.chip
    fields = []
    for fb in chip.fuses:
        if fb.name in layout.fuses:
            fields.append(f"    .{_FUSE_FIELDS[fb.name]} = 0x{layout.fuses[fb.name]:02X},")
    lines = [
        f"/* Generated by spareflash for {chip.display}, backend {layout.backend}: do not edit. */",
        "#include <avr/io.h>",
        "#include <avr/fuse.h>",
        "#include <avr/lock.h>",
        "",
        "FUSES = {",
        *fields,
        "};",
    ]
    if "lock" in layout.fuses:
        lines.append(f"LOCKBITS = 0x{layout.fuses['lock']:02X};")
    return "\n".join(lines) + "\n"


# ---- helpers ---------------------------------------------------------------------------------------------------
def _run(cmd: Sequence[str], what: str, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
    except FileNotFoundError as exc:
        raise ToolchainError(f"{what}: '{cmd[0]}' not found (run ./dev setup)") from exc
    if proc.returncode != 0:
        raise ToolchainError(f"{what} failed: {first_error_line(proc.stdout)}")
    return proc.stdout


_ERROR_RE = re.compile(r"(error:|Error|undefined reference|No such file|too big|cannot find|not found)", re.I)


def first_error_line(output: str) -> str:
    """The line of a toolchain's output that best says what went wrong (the first error, else the last line)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if _ERROR_RE.search(ln) and not ln.startswith("Using ") and "exit status" not in ln:
            return ln
    return lines[-1] if lines else "no output"


def _sketch_files(sketch_dir: Path) -> tuple[Path, list[Path]]:
    """The main .ino (named like the folder, as Arduino requires) and every source file of the sketch."""
    if not sketch_dir.is_dir():
        raise SpareFlashError(f"sketch folder '{sketch_dir}' does not exist")
    main = sketch_dir / f"{sketch_dir.name}.ino"
    if not main.is_file():
        inos = sorted(sketch_dir.glob("*.ino"))
        if len(inos) != 1:
            raise SpareFlashError(f"sketch folder '{sketch_dir}' has no {sketch_dir.name}.ino")
        main = inos[0]
    sources = sorted(p for p in sketch_dir.iterdir() if p.suffix in (".ino", *SOURCE_SUFFIXES) and p.is_file())
    return main, sources


def _resolve_plan(board: Board, plan_config: PlanConfig | None) -> Layout:
    if plan_config is None:
        plan_config = PlanConfig(mcu=board.mcu, board=board.plan_board)
    else:
        if plan_config.mcu.strip().lower() != board.mcu:
            raise SpareFlashError(f"plan is for {plan_config.mcu} but board '{board.name}' has a {board.mcu}")
        if plan_config.board is None:
            plan_config = dataclasses.replace(plan_config, board=board.plan_board)
    return plan(plan_config)


def _split_flags(extra_flags: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split user flags into (compile, link): linker-only flags go to the link, the rest to both."""
    compile_flags: list[str] = []
    link_flags: list[str] = []
    for f in extra_flags:
        if f.startswith(("-Wl,", "-T", "-L", "-l")) or f.endswith((".o", ".a", ".ld")):
            link_flags.append(f)
        else:
            compile_flags.append(f)
            link_flags.append(f)
    return compile_flags, link_flags


def _default_build_dir(sketch_dir: Path, board: Board, key: Mapping[str, object]) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return DEFAULT_BUILD_ROOT / f"{sketch_dir.name}-{board.name}-{digest}"


def elf_size(elf: Path) -> dict[str, int]:
    """Section sizes read from the ELF (portable; `avr-size -C` is a Debian-only patch)."""
    from elftools.elf.elffile import ELFFile

    sections: dict[str, int] = {}
    with open(elf, "rb") as fh:
        for sec in ELFFile(fh).iter_sections():
            if sec.name and sec["sh_flags"] & 0x2:  # SHF_ALLOC
                sections[sec.name] = sec["sh_size"]
    text = sections.get(".text", 0)
    data = sections.get(".data", 0)
    return {
        "text": text,
        "data": data,
        "bss": sections.get(".bss", 0),
        "noinit": sections.get(".noinit", 0),
        "eeprom": sections.get(".eeprom", 0),
        "bootstub": sections.get(".spareflash_bootstub", 0),
        "flash": text + data,
        "ram": data + sections.get(".bss", 0) + sections.get(".noinit", 0),
    }


def _check_size(size: dict[str, int], layout: Layout | None, chip: Chip) -> None:
    """One line when code + data do not fit: how big the code is, the region it must fit, by how much it misses."""
    limit = chip.flash_size
    where = f"{chip.flash_size:,} B flash"
    if layout is not None and layout.max_app_size < limit:
        limit = layout.max_app_size
        where = f"{chip.flash_size - limit:,} B of the {chip.flash_size:,} B flash reserved above it"
    if size["flash"] > limit:
        raise SpareFlashError(f"size: code {size['flash']:,} B does not fit the {limit:,} B application region of "
                              f"{chip.display} ({where}): {size['flash'] - limit:,} B too big")


_TEXT_OVERFLOW_RE = re.compile(r"region [`']text' overflowed by (\d+) bytes")


def _link(cmd: list[str], what: str, elf: Path, layout: Layout | None, chip: Chip) -> None:
    """Link; when the code overflows the chip's flash, say by how much in the same words as `_check_size`.

    The linker's own message ("region `text' overflowed", then collect2's exit status) names neither the part
    nor the code size, so the link is repeated once with a text region larger than any AVR flash, only to
    measure the code; that ELF is deleted.
    """
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode == 0:
        return
    if _TEXT_OVERFLOW_RE.search(proc.stdout):
        probe = elf.with_name(elf.stem + ".oversize.elf")
        i = cmd.index("-o")
        measure = [*cmd[:i], "-Wl,--defsym=__TEXT_REGION_LENGTH__=0x800000", "-o", str(probe), *cmd[i + 2:]]
        if subprocess.run(measure, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0:
            try:
                _check_size(elf_size(probe), layout, chip)
            finally:
                probe.unlink(missing_ok=True)
    raise ToolchainError(f"{what} failed: {first_error_line(proc.stdout)}")


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _compile_fuses(layout: Layout, build_dir: Path) -> Path:
    src = build_dir / "spareflash_fuses.c"
    obj = build_dir / "spareflash_fuses.o"
    _write_if_changed(src, fuse_section_source(layout))
    if not obj.exists() or obj.stat().st_mtime < src.stat().st_mtime:
        _run(["avr-gcc", f"-mmcu={layout.chip.name}", "-c", "-Os", str(src), "-o", str(obj)], "compiling the fuses")
    return obj


def make_library_folder(dest: Path, src_dir: Path = LIBRARY_SRC) -> Path:
    """An Arduino library folder `dest/SpareFlash` (library.properties + src symlink) for arduino-builder."""
    from .arduino import library_properties

    lib = dest / "SpareFlash"
    lib.mkdir(parents=True, exist_ok=True)
    _write_if_changed(lib / "library.properties", library_properties())
    link = lib / "src"
    if link.is_symlink() and Path(os.readlink(link)) != src_dir:
        link.unlink()
    if not link.exists():
        link.symlink_to(src_dir, target_is_directory=True)
    return dest


# ---- arduino-builder --------------------------------------------------------------------------------------------
def arduino_builder_command(sketch: Path, fqbn: str, build_path: Path, *, prefs: dict[str, str],
                            hardware: Sequence[Path] = (ARDUINO_HARDWARE, ARDUINO_BUILDER_HARDWARE),
                            libraries: Sequence[Path] = (), build_cache: Path | None = None) -> list[str]:
    cmd = ["arduino-builder", "-compile", "-logger", "human", "-warnings", "default"]
    for hw in hardware:
        cmd += ["-hardware", str(hw)]
    cmd += ["-tools", str(ARDUINO_TOOLS)]
    for lib in libraries:
        cmd += ["-libraries", str(lib)]
    cmd += ["-fqbn", fqbn, "-build-path", str(build_path)]
    if build_cache is not None:
        cmd += ["-build-cache", str(build_cache)]
    for k, v in prefs.items():
        cmd.append(f"-prefs={k}={v}")
    cmd.append(str(sketch))
    return cmd


def _flags_pref(flags: Iterable[str]) -> str:
    return " ".join(shlex.quote(f) for f in flags)


def _build_arduino(board: Board, sketch_dir: Path, layout: Layout | None, build_dir: Path,
                   compile_flags: list[str], link_flags: list[str], libraries: Sequence[Path]) -> BuildResult:
    assert board.fqbn is not None
    main, _ = _sketch_files(sketch_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    libs_dir = make_library_folder(build_dir / "libraries")
    defines = [f"-D{d}" for d in layout.defines()] if layout else []
    cflags = [*CORE_WORKAROUND_FLAGS, *defines, *compile_flags]
    lflags = list(link_flags)
    if layout is not None:
        lflags = [*layout.linker_flags(), str(_compile_fuses(layout, build_dir)), *lflags]
    prefs = {
        "compiler.c.extra_flags": _flags_pref(cflags),
        "compiler.cpp.extra_flags": _flags_pref(cflags),
        "compiler.S.extra_flags": _flags_pref(defines),
        "compiler.c.elf.extra_flags": _flags_pref(lflags),
        # The platform's hex recipe drops only .eeprom; the fuse/lock bytes must not end up in the flash image.
        "compiler.elf2hex.extra_flags": _flags_pref(HEX_DROP_FLAGS),
    }
    if layout is not None:
        prefs["upload.maximum_size"] = str(layout.max_app_size)
    out = build_dir / "arduino"
    out.mkdir(exist_ok=True)
    # arduino-builder names a cached core.a by board and core path only, not by the compile flags: keep one
    # cache per flag set so a define that changes the core never picks up a core built without it.
    cache = DEFAULT_BUILD_ROOT / "core-cache" / hashlib.sha1(" ".join(cflags).encode()).hexdigest()[:10]
    cache.mkdir(parents=True, exist_ok=True)
    cmd = arduino_builder_command(main, board.fqbn, out, prefs=prefs, libraries=[libs_dir, *libraries],
                                  build_cache=cache)
    with _locked(cache / ".lock"):  # arduino-builder writes the cached core.a without a temporary name
        _run(cmd, f"arduino-builder ({sketch_dir.name} for {board.name})")
    elf = out / f"{main.name}.elf"
    hexf = out / f"{main.name}.hex"
    if not elf.exists() or not hexf.exists():
        raise ToolchainError(f"arduino-builder produced no {elf.name}")
    size = elf_size(elf)
    _check_size(size, layout, board.chip)
    return BuildResult(elf, hexf, layout, size, build_dir)


# ---- tiny parts and bare chips: avr-gcc directly ---------------------------------------------------------------------
def _build_direct(board: Board, sketch_dir: Path, layout: Layout | None, build_dir: Path,
                  compile_flags: list[str], link_flags: list[str], libraries: Sequence[Path]) -> BuildResult:
    main, sources = _sketch_files(sketch_dir)
    obj_dir = build_dir / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    mcu = board.mcu
    defines = [f"-D{d}" for d in layout.defines()] if layout else []
    includes = [f"-I{sketch_dir}", f"-I{LIBRARY_SRC}", f"-I{TINYCORE_DIR}", *(f"-I{p}" for p in libraries)]
    common = [f"-mmcu={mcu}", f"-DF_CPU={board.f_cpu}UL", "-Os", "-g", "-ffunction-sections", "-fdata-sections",
              "-DSPAREFLASH_TINYCORE=1", *defines, *includes, *compile_flags]
    cxx = ["-std=gnu++11", "-fno-exceptions", "-fno-threadsafe-statics", "-fpermissive"]

    lib_sources = [p for d in (LIBRARY_SRC, *libraries) for p in sorted(Path(d).rglob("*")) if p.suffix in
                   SOURCE_SUFFIXES]
    objects: list[Path] = []
    for i, src in enumerate([*sources, *lib_sources]):
        obj = obj_dir / f"{i:03d}_{src.name}.o"
        if src.suffix == ".ino":
            cmd = ["avr-g++", *common, *cxx, "-x", "c++", "-include", "Arduino.h", "-c", str(src), "-o", str(obj)]
        elif src.suffix == ".cpp":
            cmd = ["avr-g++", *common, *cxx, "-c", str(src), "-o", str(obj)]
        elif src.suffix == ".c":
            cmd = ["avr-gcc", *common, "-std=gnu11", "-c", str(src), "-o", str(obj)]
        else:
            cmd = ["avr-gcc", *common, "-x", "assembler-with-cpp", "-c", str(src), "-o", str(obj)]
        _run(cmd, f"compiling {src.name}")
        objects.append(obj)

    # tinycore's main() lives in an archive so it is linked only when the sketch has setup()/loop() and no main.
    core_objs = []
    for src in sorted(TINYCORE_DIR.glob("*.cpp")) if TINYCORE_DIR.is_dir() else []:
        obj = obj_dir / f"core_{src.name}.o"
        _run(["avr-g++", *common, *cxx, "-c", str(src), "-o", str(obj)], f"compiling {src.name}")
        core_objs.append(obj)
    archive = obj_dir / "libtinycore.a"
    if archive.exists():
        archive.unlink()
    if core_objs:
        _run(["avr-ar", "rcs", str(archive), *map(str, core_objs)], "archiving tinycore")

    if layout is not None:
        objects.append(_compile_fuses(layout, build_dir))
    elf = build_dir / f"{sketch_dir.name}.elf"
    hexf = build_dir / f"{sketch_dir.name}.hex"
    link = ["avr-gcc", f"-mmcu={mcu}", "-Os", "-Wl,--gc-sections", *(layout.linker_flags() if layout else []),
            *link_flags, "-o", str(elf), *map(str, objects)]
    if core_objs:
        link.append(str(archive))
    link.append("-lm")
    _link(link, f"linking {sketch_dir.name}", elf, layout, board.chip)
    _run(["avr-objcopy", "-O", "ihex", *HEX_DROP_FLAGS, str(elf), str(hexf)], "objcopy")
    size = elf_size(elf)
    _check_size(size, layout, board.chip)
    return BuildResult(elf, hexf, layout, size, build_dir)


# ---- entry point ------------------------------------------------------------------------------------------------
def build_sketch(sketch_dir: str | os.PathLike[str], board: str = "uno", plan_config: PlanConfig | None = None,
                 build_dir: str | os.PathLike[str] | None = None, extra_flags: Sequence[str] = (),
                 libraries: Sequence[str | os.PathLike[str]] = (), *, apply_plan: bool = True,
                 layout: Layout | None = None) -> BuildResult:
    """Compile the sketch in `sketch_dir` for `board` with the flash plan applied.

    plan_config: None plans with the board's defaults (chip's default backend and storage size).
    apply_plan=False builds a plain sketch (no SpareFlash symbols/fuses; `layout` is None).
    layout: a Layout computed elsewhere, used instead of planning (e.g. a test moving the regions under another
    boot section); it must be for the board's chip.
    build_dir: default `.build/<sketch>-<board>-<hash of the options>` in the repo, reused so rebuilds are fast.
    extra_flags: -Wl,/-T/-L/-l flags and .o/.a/.ld files go to the link, everything else to compile and link.
    libraries: extra Arduino library folders (arduino-builder `-libraries`); for bare boards, source folders.
    Raises ToolchainError with the first error line when the toolchain fails.
    """
    b = get_board(board)
    sdir = Path(sketch_dir).resolve()
    _sketch_files(sdir)
    if layout is not None:
        if plan_config is not None or not apply_plan:
            raise SpareFlashError("build: give either a layout or a plan_config/apply_plan=False, not both")
        if layout.chip.name != b.mcu:
            raise SpareFlashError(f"layout is for {layout.chip.name} but board '{b.name}' has a {b.mcu}")
    else:
        layout = _resolve_plan(b, plan_config) if apply_plan else None
    libs = [Path(p).resolve() for p in libraries]
    compile_flags, link_flags = _split_flags(extra_flags)
    if build_dir is None:
        key = {"layout": layout.to_dict() if layout else None, "flags": list(extra_flags),
               "libs": [str(p) for p in libs], "sketch": str(sdir)}
        bdir = _default_build_dir(sdir, b, key)
    else:
        bdir = Path(build_dir).resolve()
    bdir.mkdir(parents=True, exist_ok=True)
    if b.fqbn is not None and shutil.which("arduino-builder") is None:
        raise ToolchainError("arduino-builder not found (run ./dev setup)")
    # Several engineers' test runs share .build/: one build at a time per build folder.
    with _locked(bdir / ".spareflash-build.lock"):
        if b.fqbn is None:
            return _build_direct(b, sdir, layout, bdir, compile_flags, link_flags, libs)
        return _build_arduino(b, sdir, layout, bdir, compile_flags, link_flags, libs)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
