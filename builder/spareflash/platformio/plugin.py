"""What the PlatformIO extra script does, as plain functions (the SCons glue is `apply`).

For a project whose sources include SpareFlash, the script
  * plans the flash (`spareflash.plan.plan`) for the board's MCU from the `custom_spareflash_*` options;
  * adds `Layout.linker_flags()` to the link and `Layout.defines()` to the project and library builds;
  * shrinks the board's `upload.maximum_size` to `Layout.max_app_size`, so PlatformIO's own size check
    stops application code from growing into the reserved regions;
  * puts the fuse and lock bytes into the ELF (`.fuse`/`.lock`, from a generated C file using avr-libc's
    FUSES/LOCKBITS) and into `board_fuses.*`, so `pio run -t fuses` programs them; strips those sections from
    firmware.hex, which must only hold flash contents for avrdude;
  * with `custom_spareflash_seed = FILE.json`, builds the seeded storage region (spareflash.storage.seed_region)
    into its own section `.spareflash_seed` at the storage start, so firmware.hex and the ELF carry it and the
    first boot finds the values;
  * after every build (clean or incremental) verifies the ELF (`spareflash.verify.verify_image`) and prints a
    compact report; a failed rule fails the build with one line;
  * adds the target `pio run -t spareflash-report` (full report).
Everything is documented in docs/platformio.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..chips import Chip, get_chip
from ..errors import SpareFlashError
from ..fuses import check_fuses
from ..plan import Layout, PlanConfig, plan

OPTION_PREFIX = "custom_spareflash_"
OPTIONS = ("enable", "storage", "log", "backend", "overlay_slots", "seed")
PLAN_DIR = "spareflash"  # under $BUILD_DIR: layout.json and the generated fuse source
FUSE_FIELDS = {"lfuse": "low", "hfuse": "high", "efuse": "extended"}
# board_fuses.* keys of the official atmelavr platform (builder/fuses.py): lock is "lock_bits"
BOARD_FUSE_KEYS = {"lfuse": "fuses.lfuse", "hfuse": "fuses.hfuse", "efuse": "fuses.efuse", "lock": "fuses.lock_bits"}
SOURCE_SUFFIXES = {".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".ino", ".pde", ".s", ".S"}
_INCLUDE_RE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*[<"](?:SpareFlash\.h|spareflash_\w+\.h)[>"]', re.M)
_SIZE_RE = re.compile(r"^\s*(0x[0-9a-f]+|\d+)\s*(k|kb|kib)?\s*$", re.I)


class PioOptionError(SpareFlashError):
    """A `custom_spareflash_*` option in platformio.ini cannot be understood."""


@dataclass(frozen=True)
class Options:
    enable: str  # "auto" (use when the sources include SpareFlash), "yes", "no"
    config: PlanConfig
    seed: Path | None


# ---- options -----------------------------------------------------------------------------------------
def parse_size(text: str, option: str) -> int:
    """'4096', '4K', '4 KB', '4KiB' or '0x1000' -> bytes."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise PioOptionError(f"{OPTION_PREFIX}{option}: '{text}' is not a size (e.g. 4096, 4K, 0x1000)")
    value = int(m.group(1), 0)
    return value * 1024 if m.group(2) else value


def parse_slots(text: str) -> tuple[int, int]:
    """'2:1024' -> (2 slots, 1024 bytes each); '0' or '' -> no slots."""
    text = str(text).strip()
    if text in ("", "0"):
        return 0, 0
    count, sep, size = text.partition(":")
    if not sep or not count.strip().isdigit():
        raise PioOptionError(f"{OPTION_PREFIX}overlay_slots: '{text}' should be COUNT:SLOT_BYTES, e.g. 2:1024")
    if int(count) < 1:
        raise PioOptionError(f"{OPTION_PREFIX}overlay_slots: '{text}' asks for 0 slots; write 0 for none")
    return int(count), parse_size(size, "overlay_slots")


def read_options(get: Callable[[str], Any], mcu: str, board: str | None, project_dir: Path) -> Options:
    """Read the custom_spareflash_* options through `get(name) -> value or None`."""

    def opt(name: str) -> str | None:
        value = get(OPTION_PREFIX + name)
        if value is None:
            return None
        if isinstance(value, (list, tuple)):  # multi-line values arrive as lists
            value = " ".join(str(v) for v in value)
        value = str(value).strip()
        return value or None

    enable = (opt("enable") or "auto").lower()
    enable = {"1": "yes", "true": "yes", "on": "yes", "0": "no", "false": "no", "off": "no"}.get(enable, enable)
    if enable not in ("auto", "yes", "no"):
        raise PioOptionError(f"{OPTION_PREFIX}enable: '{enable}' should be auto, yes or no")
    storage = opt("storage")
    log = opt("log")
    slots, slot_bytes = parse_slots(opt("overlay_slots") or "0")
    backend = opt("backend")
    seed_text = opt("seed")
    seed = None
    if seed_text:
        seed = Path(seed_text)
        if not seed.is_absolute():
            seed = project_dir / seed
    config = PlanConfig(
        mcu=mcu,
        backend=backend.lower() if backend else None,
        storage_bytes=parse_size(storage, "storage") if storage is not None else None,
        log_bytes=parse_size(log, "log") if log is not None else 0,
        overlay_slots=slots,
        slot_bytes=slot_bytes,
        board=board,
    )
    return Options(enable, config, seed)


# ---- seeds ---------------------------------------------------------------------------------------------
SEED_SECTION = ".spareflash_seed"
SEED_SYMBOL = "__spareflash_seed"
# {"uint32": 41}-style typed values: struct format (little endian, as avr-gcc lays out integers and floats)
SEED_TYPES = {"int8": "<b", "uint8": "<B", "int16": "<h", "uint16": "<H", "int32": "<i", "uint32": "<I",
              "float": "<f"}
_HEX_RE = re.compile(r"^(?:0x)?((?:[0-9a-f]{2})+)$", re.I)


class SeedError(SpareFlashError):
    """A custom_spareflash_seed file that cannot be turned into a storage region."""


def _seed_key(text: str, where: str) -> int:
    try:
        key = int(text.strip(), 0)
    except ValueError:
        raise SeedError(f"seed-file: {where}: key '{text}' is not a number (keys are 0..254)") from None
    if not 0 <= key <= 254:
        raise SeedError(f"seed-key: {where}: key {key} is outside 0..254")
    return key


def _seed_value(value: Any, where: str) -> bytes:
    """One value of a seed file as the bytes FlashStorage stores (the format is in docs/platformio.md)."""
    if isinstance(value, bool):
        raise SeedError(f"seed-file: {where}: true/false is not a value; use {{\"uint8\": 1}}")
    if isinstance(value, int):
        if not -0x8000 <= value <= 0x7FFF:
            raise SeedError(f"seed-file: {where}: {value} does not fit an int (16 bits on AVR); give the type, e.g. "
                            f'{{"uint32": {value}}}')
        return struct.pack("<h", value)
    if isinstance(value, str):
        compact = re.sub(r"[\s:_]", "", value)
        m = _HEX_RE.match(compact)
        if not m:
            raise SeedError(f"seed-file: {where}: '{value}' is not hex bytes (e.g. \"e8 03 07 00\"); text goes in "
                            '{"text": "..."}')
        return bytes.fromhex(m.group(1))
    if isinstance(value, list):
        if not value or not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value):
            raise SeedError(f"seed-file: {where}: a list must hold 1 or more bytes (0..255)")
        return bytes(value)
    if isinstance(value, dict) and len(value) == 1:
        kind, v = next(iter(value.items()))
        if kind == "text" and isinstance(v, str):
            return v.encode("utf8")
        if kind in SEED_TYPES and isinstance(v, (int, float)) and not isinstance(v, bool):
            fmt = SEED_TYPES[kind]
            if kind != "float" and not isinstance(v, int):
                raise SeedError(f"seed-file: {where}: {kind} needs an integer, not {v}")
            if kind == "float" and not math.isfinite(float(v)):
                raise SeedError(f"seed-file: {where}: {v} is not a finite float")
            try:
                return struct.pack(fmt, v)
            except struct.error:
                raise SeedError(f"seed-file: {where}: {v} does not fit {kind}") from None
    raise SeedError(f"seed-file: {where}: {json.dumps(value)[:40]} is not a value (an int, hex bytes, a list of "
                    f"bytes, or one of {{{', '.join(['text', *SEED_TYPES])}: ...}})")


def load_seed(path: Path) -> dict[int, bytes]:
    """key -> value bytes from a seed file (JSON object: key -> value); SeedError with one line if it is bad."""
    where = f"{OPTION_PREFIX}seed {path.name}"

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # json.loads keeps only the last of two equal keys; a seeded value must not vanish silently
        seen: dict[str, Any] = {}
        for k, v in pairs:
            if k in seen:
                raise SeedError(f"seed-file: {where}: key '{k}' is given twice")
            seen[k] = v
        return seen

    try:
        data = json.loads(path.read_text(encoding="utf8"), object_pairs_hook=unique)
    except OSError as exc:
        raise SeedError(f"seed-file: {where}: cannot read it ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SeedError(f"seed-file: {where}: not JSON ({exc})") from None
    except RecursionError:
        raise SeedError(f"seed-file: {where}: not JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise SeedError(f"seed-file: {where}: must be a JSON object mapping keys to values")
    out: dict[int, bytes] = {}
    for k, v in data.items():
        key = _seed_key(k, where)
        if key in out:
            raise SeedError(f"seed-file: {where}: key {key} is given twice")
        out[key] = _seed_value(v, f"{where}: key {key}")
    return out


def seed_image(layout: Layout, values: Mapping[int, bytes], source: str = "") -> bytes:
    """The storage region holding `values`, exactly as FlashStorage would leave it (spareflash.storage), in the
    plan's storage format. Values the format cannot store stop the build with one line, the rule first
    (seed-key, seed-value-size, seed-full, ...: spareflash.storage.seed_region), then the option and file."""
    from ..storage import seed_region

    where = f"{OPTION_PREFIX}seed" + (f" {source}" if source else "")
    if not layout.storage.size:
        raise SeedError(f"seed-no-region: {where}: the plan has no storage region (custom_spareflash_storage = 0)")
    try:
        return seed_region(layout, values)
    except SpareFlashError as exc:
        rule, _, why = str(exc).partition(": ")
        raise SeedError(f"{rule}: {where}: {why}") from None


def seed_source(layout: Layout, region: bytes) -> str:
    """Assembler for the section `.spareflash_seed` holding `region` (placed at the storage start by the link).

    Trailing erased pages are left out: flash reads 0xFF there anyway and the upload stays short.
    """
    page = layout.chip.page_size
    used = len(region.rstrip(b"\xff"))
    used = -(-used // page) * page
    lines = [
        f"/* Generated by SpareFlash for {layout.chip.display}: the seeded storage region "
        f"(0x{layout.storage.start:X}, {used} of {layout.storage.size} bytes). Do not edit. */",
        f'  .section {SEED_SECTION},"a",@progbits',
        f"  .global {SEED_SYMBOL}",
        f"{SEED_SYMBOL}:",
    ]
    for i in range(0, used, 16):
        lines.append("  .byte " + ",".join(f"0x{b:02X}" for b in region[i:i + 16]))
    return "\n".join(lines) + "\n"


def seed_link_flags(layout: Layout) -> list[str]:
    """Place the seed at the storage start; -u keeps the otherwise unreferenced section through --gc-sections."""
    return [f"-Wl,--section-start={SEED_SECTION}=0x{layout.storage.start:X}", f"-Wl,-u,{SEED_SYMBOL}"]


# ---- does the project use SpareFlash? ------------------------------------------------------------------
def _source_files(root: Path, exclude: Iterable[Path]) -> Iterable[Path]:
    excluded = [p.resolve() for p in exclude]
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath).resolve()
        if any(here == e or e in here.parents for e in excluded):
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if Path(name).suffix in SOURCE_SUFFIXES:
                yield Path(dirpath) / name


def sources_include_spareflash(dirs: Iterable[Path], exclude: Iterable[Path] = ()) -> Path | None:
    """The first project source that includes SpareFlash.h (or a spareflash_*.h header), else None."""
    exclude = list(exclude)
    for d in dirs:
        if not d.is_dir():
            continue
        for f in _source_files(d, exclude):
            try:
                if _INCLUDE_RE.search(f.read_bytes()):
                    return f
            except OSError:
                continue
    return None


# ---- fuses ---------------------------------------------------------------------------------------------
def effective_fuses(layout: Layout, explicit: Mapping[str, int]) -> tuple[dict[str, int], list[str]]:
    """The plan's fuses with the user's explicit board_fuses.* on top, and the rules they break."""
    fuses = dict(layout.fuses)
    fuses.update(explicit)
    chip = layout.chip
    problems = check_fuses(chip, fuses, layout.backend)
    if layout.backend == "bootstub" and chip.boot_fuse and chip.boot_fuse in fuses:
        boot = chip.boot_size_from_fuses(fuses)
        if boot is not None and boot.start != layout.boot_start:
            problems.append(f"fuse-bootsz: {chip.boot_fuse} 0x{fuses[chip.boot_fuse]:02X} selects a boot section at "
                            f"0x{boot.start:X}, but the bootstub is placed at 0x{layout.boot_start:X}")
    return fuses, problems


def parse_fuse(value: object, key: str) -> int:
    try:
        number = int(str(value).strip(), 0)
    except ValueError:
        raise PioOptionError(f"board_{key}: '{value}' is not a number (e.g. 0xDE)") from None
    if not 0 <= number <= 0xFF:
        raise PioOptionError(f"board_{key}: {value} is not a byte")
    return number


def fuse_source(chip: Chip, fuses: Mapping[str, int]) -> str:
    """A C file that puts the fuse and lock bytes into the ELF's .fuse/.lock sections (avr-libc FUSES/LOCKBITS).

    The simulator and avrdude's ELF input read them from there; they never reach firmware.hex (see `apply`).
    """
    names = [f.name for f in chip.fuses]
    fields = ", ".join(f".{FUSE_FIELDS[n]} = 0x{fuses[n]:02X}" for n in names)
    lines = [
        f"/* Generated by SpareFlash for {chip.display}: the planned fuse and lock bytes. Do not edit. */",
        "#include <avr/io.h>",
        f"#if !defined(FUSE_MEMORY_SIZE) || FUSE_MEMORY_SIZE != {len(names)}",
        f'#error "SpareFlash expected {len(names)} fuse bytes for {chip.display}"',
        "#endif",
        f"FUSES = {{ {fields} }};",
    ]
    if "lock" in fuses:
        lines.append(f"LOCKBITS = 0x{fuses['lock']:02X};")
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, text: str) -> bool:
    """Keep incremental builds incremental: an unchanged generated file keeps its timestamp."""
    if path.is_file() and path.read_text(encoding="utf8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf8")
    return True


def describe(layout: Layout, old_max: int, new_max: int) -> str:
    parts = [f"SpareFlash: {layout.chip.display}, backend {layout.backend}"]
    for r in layout.regions:
        if r.size:
            parts.append(f"{r.name} 0x{r.start:05X}-0x{r.end:05X} ({r.size} B)")
    parts.append(f"upload.maximum_size {old_max} -> {new_max}")
    return "; ".join(parts)


# ---- verification and report (written by the "verify" engineer; imported lazily) ------------------------
def _import_optional(module: str) -> Any | None:
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def verify_and_report(elf: Path, layout: Layout, fuses: Mapping[str, int], full: bool = False) -> int:
    """0 when the image passes (or verification is unavailable, said so plainly), 1 when a rule fails."""
    verify = _import_optional("spareflash.verify")
    status = 0
    if verify is None:
        print("SpareFlash: verification unavailable (spareflash.verify is not installed); the image was NOT "
              "verified", file=sys.stderr)
    else:
        try:
            result = verify.verify_image(str(elf), layout, fuses=dict(fuses))
        except SpareFlashError as exc:
            print(f"SpareFlash: verification failed: {exc}", file=sys.stderr)
            return 1
        if not result.ok:
            first = result.violations[0]
            more = f" (+{len(result.violations) - 1} more)" if len(result.violations) > 1 else ""
            print(f"SpareFlash: verification failed: {first.rule}: {first.message}{more}", file=sys.stderr)
            status = 1
        else:
            print(f"SpareFlash: verification passed ({elf.name})")
    report = _import_optional("spareflash.report")
    if report is None:
        print("SpareFlash: report unavailable (spareflash.report is not installed)")
    else:
        from rich.console import Console

        console = Console(no_color=bool(os.environ.get("PLATFORMIO_NO_ANSI")), highlight=False, soft_wrap=True)
        report.build_report(str(elf), layout, fuses=dict(fuses)).render(console, compact=not full)
    return status


# ---- SCons glue ------------------------------------------------------------------------------------------
def _fail(env: Any, message: str) -> None:
    sys.stderr.write(f"Error: SpareFlash: {message}\n")
    env.Exit(1)


# What verification and the report import, by module name -> pip requirement. PlatformIO's own Python has
# pyelftools but not the others; a user who only adds the library to lib_deps must not have to know that.
RUNTIME_REQUIREMENTS = {"elftools": "pyelftools>=0.29", "intelhex": "intelhex>=2.3", "rich": "rich>=13"}


def missing_requirements(find_spec: Callable[[str], object] | None = None) -> list[str]:
    import importlib.util

    find = find_spec or importlib.util.find_spec
    return [req for module, req in RUNTIME_REQUIREMENTS.items() if find(module) is None]


def ensure_requirements(denv: Any) -> None:
    """Install what PlatformIO's Python lacks (once; pip into the interpreter running SCons)."""
    missing = missing_requirements()
    if not missing:
        return
    print(f"SpareFlash: installing into PlatformIO's Python: {' '.join(missing)}")
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], capture_output=True, text=True)
    if proc.returncode != 0 or missing_requirements():
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        _fail(denv, f"requirements: cannot install {' '.join(missing)} into {sys.executable}: {last}")


def apply(env: Any, projenv: Any | None, lib_dir: str | Path | None = None) -> bool:
    """Run from extra_script.py inside the library's env; True when SpareFlash was applied to the build.

    `lib_dir` is the library's own folder, left out of the source scan (a copy of SpareFlash in the project's
    lib/ folder includes its own header).
    """
    from SCons.Script import DefaultEnvironment

    denv = DefaultEnvironment()
    if denv.get("SPAREFLASH_LAYOUT") is not None:  # the library was found twice; once is enough
        return True
    if "BOARD" not in denv:
        return False
    board = denv.BoardConfig()
    project_dir = Path(denv.subst("$PROJECT_DIR"))
    mcu = board.get("build.mcu", "")
    try:
        opts = read_options(lambda n: denv.GetProjectOption(n, None), mcu, denv.subst("$BOARD"), project_dir)
    except SpareFlashError as exc:
        _fail(denv, str(exc))
        return False
    if opts.enable == "no":
        return False
    if opts.enable == "auto":
        dirs = [Path(denv.subst(d)) for d in ("$PROJECT_SRC_DIR", "$PROJECT_INCLUDE_DIR", "$PROJECT_LIB_DIR")]
        if sources_include_spareflash(dirs, exclude=[Path(lib_dir)] if lib_dir else []) is None:
            return False
    ensure_requirements(denv)
    try:
        get_chip(mcu)
        layout = plan(opts.config)
        explicit = {}
        for name, key in BOARD_FUSE_KEYS.items():
            value = denv.GetProjectOption("board_" + key, None)
            if value is not None:
                explicit[name] = parse_fuse(value, key)
        fuses, problems = effective_fuses(layout, explicit)
    except SpareFlashError as exc:
        _fail(denv, str(exc))
        return False
    if problems:
        _fail(denv, problems[0])
        return False
    seed: bytes | None = None
    seed_values: dict[int, bytes] = {}
    seed_name = opts.seed.name if opts.seed is not None else ""
    if opts.seed is not None:
        if not opts.seed.is_file():
            _fail(denv, f"seed-file: {OPTION_PREFIX}seed: {opts.seed} does not exist")
            return False
        try:
            seed_values = load_seed(opts.seed)
            seed = seed_image(layout, seed_values, seed_name)
        except SpareFlashError as exc:
            _fail(denv, str(exc))
            return False

    # link, defines
    denv.Append(LINKFLAGS=layout.linker_flags())
    for e in (env, projenv):
        if e is not None:
            e.Append(CPPDEFINES=layout.defines())

    # size check: the limit is read when checkprogsize runs, so shrinking the board config is enough
    old_max = int(board.get("upload.maximum_size", layout.chip.flash_size))
    new_max = min(old_max, layout.max_app_size)
    board.update("upload.maximum_size", new_max)

    # fuses: board_fuses.* for `pio run -t fuses`, and the ELF's .fuse/.lock sections
    for name, key in BOARD_FUSE_KEYS.items():
        if name in fuses:
            board.update(key, f"0x{fuses[name]:02X}")
    plan_dir = Path(denv.subst("$BUILD_DIR")) / PLAN_DIR
    fuse_c = plan_dir / "spareflash_fuses.c"
    write_if_changed(fuse_c, fuse_source(layout.chip, fuses))
    info = {"layout": layout.to_dict(), "fuses": {k: f"0x{v:02X}" for k, v in fuses.items()},
            "maximum_size": {"board": old_max, "planned": new_max},
            "seed": str(opts.seed) if opts.seed else None,
            "seed_values": {str(k): v.hex() for k, v in sorted(seed_values.items())}}
    write_if_changed(plan_dir / "layout.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    objects = [denv.Object(str(plan_dir / "spareflash_fuses.o"), str(fuse_c))]
    if seed is not None:
        # the seeded region is its own section at the storage start: in the ELF (simulator, verify) and, like any
        # flash section, in firmware.hex (avrdude uploads it); PlatformIO's size check does not count it
        seed_s = plan_dir / "spareflash_seed.S"
        write_if_changed(seed_s, seed_source(layout, seed))
        objects.append(denv.Object(str(plan_dir / "spareflash_seed.o"), str(seed_s)))
        denv.Append(LINKFLAGS=seed_link_flags(layout))
    denv.Append(PIOBUILDFILES=objects)

    # firmware.hex holds flash only (avrdude refuses records at 0x820000+): the platform's ElfToHex builder
    # (same name and command on the official atmelavr platform) gets the fuse/lock/signature sections removed.
    # Replacing the builder, not adding a post action, keeps it right with build_cache_dir: a hex retrieved from
    # the cache skips post actions, while the builder's command is part of the cache key.
    hex_cmd = "$OBJCOPY -O ihex -R .eeprom -R .fuse -R .lock -R .signature $SOURCES $TARGET"
    if "ElfToHex" in denv["BUILDERS"]:
        from SCons.Script import Builder

        denv["BUILDERS"]["ElfToHex"] = Builder(action=denv.VerboseAction(hex_cmd, "Building $TARGET"),
                                               suffix=".hex")
    else:
        print("SpareFlash: this platform has no ElfToHex builder; firmware.hex may carry the fuse/lock bytes")

    denv["SPAREFLASH_LAYOUT"] = layout
    print(describe(layout, old_max, new_max))
    if seed is not None:
        print(f"SpareFlash: storage seeded from {seed_name}: keys {', '.join(map(str, sorted(seed_values)))} "
              f"at 0x{layout.storage.start:X}")

    elf_path = "$BUILD_DIR/${PROGNAME}.elf"

    def _after_build(target: Any, source: Any, env: Any) -> int:  # noqa: ARG001 - SCons action signature
        return verify_and_report(Path(env.subst(elf_path)), layout, fuses)

    def _full_report(target: Any, source: Any, env: Any) -> int:  # noqa: ARG001
        return verify_and_report(Path(env.subst(elf_path)), layout, fuses, full=True)

    # checkprogsize is an AlwaysBuild alias that runs after every link check, clean or incremental build
    denv.AddPostAction("checkprogsize", denv.VerboseAction(_after_build, "SpareFlash: verifying $PIOMAINPROG"))
    denv.AddCustomTarget(
        name="spareflash-report", dependencies=elf_path,
        actions=[denv.VerboseAction(_full_report, "SpareFlash report")],
        title="SpareFlash report", description="Verify the image and print the full SpareFlash memory report")
    return True
