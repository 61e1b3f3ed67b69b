"""Arduino IDE / arduino-cli integration: library.properties, the platform hook, the library zip."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import SpareFlashError

REPO_ROOT = Path(__file__).resolve().parents[2]
# library.json ships inside the package (spareflash/data/library.json links to the repo's in a checkout).
LIBRARY_JSON = Path(__file__).parent / "data" / "library.json"
if not LIBRARY_JSON.is_file():
    LIBRARY_JSON = REPO_ROOT / "library.json"

# Arduino library specification 1.5: the categories the IDE accepts.
ARDUINO_CATEGORIES = ("Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
                      "Data Storage", "Data Processing", "Other")


def load_library_json(path: Path = LIBRARY_JSON) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpareFlashError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or "name" not in data or "version" not in data:
        raise SpareFlashError(f"{path}: needs at least 'name' and 'version'")
    return data


def _people(value: Any) -> str:
    """library.json 'authors' (dict, list of dicts or string) as the 'Name <email>, ...' Arduino wants."""
    if not value:
        return ""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, dict):
            name = str(item.get("name", "")).strip()
            email = str(item.get("email", "")).strip()
            out.append(f"{name} <{email}>" if email else name)
        else:
            out.append(str(item))
    return ", ".join(x for x in out if x)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def library_properties(meta: dict[str, Any] | None = None) -> str:
    """library.properties (Arduino library specification 1.5) generated from library.json's metadata."""
    meta = meta if meta is not None else load_library_json()
    description = _one_line(meta.get("description", ""))
    # The spec wants a one-sentence summary and an optional paragraph: split at the first sentence end.
    sentence, _, rest = description.partition(". ")
    sentence = sentence.rstrip(".") + "." if sentence else meta["name"]
    authors = _people(meta.get("authors")) or "SpareFlash contributors"
    maintainer = _people(meta.get("maintainer")) or authors
    repo = meta.get("repository")
    url = repo.get("url", "") if isinstance(repo, dict) else (repo or meta.get("homepage", ""))
    headers = meta.get("headers") or ["SpareFlash.h"]
    if isinstance(headers, str):
        headers = [headers]
    archs = []
    for platform in meta.get("platforms", ["atmelavr"]):
        archs.append({"atmelavr": "avr"}.get(platform, platform))
    lines = {
        "name": meta["name"],
        "version": meta["version"],
        "author": authors,
        "maintainer": maintainer,
        "sentence": sentence,
        "paragraph": _one_line(rest),
        "category": "Data Storage",
        "url": url or "https://github.com/spareflash/spareflash",
        "architectures": ",".join(archs) or "avr",
        "includes": ",".join(headers),
        "license": meta.get("license", ""),
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items() if v != "" or k in ("paragraph",))


# ---- the Arduino platform hook ----------------------------------------------------------------------------------
DEBIAN_PLATFORM_DIR = Path("/usr/share/arduino/hardware/arduino/avr")
BEGIN_MARK = "# >>> SpareFlash begin: added by `spareflash arduino install`; `spareflash arduino uninstall` removes it"
END_MARK = "# <<< SpareFlash end"
# Flags recorded on the begin line so that uninstall restores the file byte for byte.
_CREATED = " [created]"
_NEWLINE = " [newline added]"

# Boards the hook adds a menu to: boards.txt id -> spareflash.build board name (for the chip and shipped fuses).
HOOK_BOARDS = {"uno": "uno", "nano": "nano", "mega": "mega", "leonardo": "leonardo"}
MENU_STORAGE_SIZES = (4096, 1024, 2048, 8192)  # the first is the menu's default
MENU_ID = "spareflash"


def find_platform_dir() -> Path:
    """arduino-cli's installed arduino:avr platform when there is one (newest version), else Debian's."""
    roots = []
    env = os.environ.get("ARDUINO_DIRECTORIES_DATA")
    if env:
        roots.append(Path(env))
    roots.append(Path.home() / ".arduino15")
    for root in roots:
        versions = sorted((root / "packages" / "arduino" / "hardware" / "avr").glob("*/platform.txt"),
                          key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")])
        if versions:
            return versions[-1].parent
    return DEBIAN_PLATFORM_DIR


def read_properties(path: Path) -> dict[str, str]:
    """A platform.txt/boards.txt style file as a dict (later keys win, as in the Arduino tools)."""
    props: dict[str, str] = {}
    if not path.is_file():
        return props
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        props[k.strip()] = v.strip()
    return props


def spareflash_command() -> str:
    """How the hook calls spareflash: this Python with -m, so it works without the venv on PATH."""
    return f'"{sys.executable}" -m spareflash.cli'


def platform_local_block() -> str:
    """platform.local.txt lines: the prelink (fuse object) and postobjcopy (verify + compact report) hooks.

    They run for every board of the platform; `spareflash.plan.args` is empty unless the board's SpareFlash menu
    chose a plan, and then the hook does nothing.
    """
    cmd = spareflash_command()
    hook = "{spareflash.cmd} arduino hook --build-mcu {build.mcu}"
    return "\n".join([
        f"spareflash.cmd={cmd}",
        "spareflash.plan.args=",
        f'recipe.hooks.linking.prelink.90.pattern={hook} --fuse-object "{{build.path}}/spareflash_fuses.o" '
        "{spareflash.plan.args}",
        f'recipe.hooks.objcopy.postobjcopy.90.pattern={hook} --elf "{{build.path}}/{{build.project_name}}.elf" '
        "{spareflash.plan.args}",
    ])


def _plan_args(cfg: Any) -> str:
    parts = [f"--mcu {cfg.mcu}", f"--backend {cfg.backend}", f"--board {cfg.board}", f"--storage {cfg.storage_bytes}"]
    if cfg.log_bytes:
        parts.append(f"--log {cfg.log_bytes}")
    return " ".join(parts)


def boards_local_block(platform_dir: Path) -> str:
    """boards.local.txt lines: a SpareFlash menu per supported board, every value computed by the plan."""
    from .build import get_board
    from .fuses import BACKENDS
    from .plan import PlanConfig, PlanError, plan

    boards_txt = read_properties(platform_dir / "boards.txt")
    lines = [f"menu.{MENU_ID}=SpareFlash"]
    for board_id, build_board in HOOK_BOARDS.items():
        if f"{board_id}.name" not in boards_txt:
            continue
        b = get_board(build_board)
        base_extra = boards_txt.get(f"{board_id}.build.extra_flags", "")
        # "off" comes first, so it is the default: installing the hook changes nothing for sketches that do not
        # choose a SpareFlash layout.
        lines.append(f"{board_id}.menu.{MENU_ID}.off=off (no SpareFlash regions)")
        for backend in (bk for bk in BACKENDS if bk != "direct"):
            for storage in MENU_STORAGE_SIZES:
                cfg = PlanConfig(mcu=b.mcu, backend=backend, storage_bytes=storage, board=b.plan_board)
                try:
                    layout = plan(cfg)
                except PlanError:
                    continue
                opt = f"{board_id}.menu.{MENU_ID}.{backend}_{storage}"
                f = layout.fuses
                defines = " ".join(f"-D{d}" for d in layout.defines())
                lines += [
                    f"{opt}={backend}, {storage // 1024} KB storage at 0x{layout.storage.start:X} "
                    f"(sketch max {layout.max_app_size} bytes)",
                    f"{opt}.upload.maximum_size={layout.max_app_size}",
                    f"{opt}.build.extra_flags={(base_extra + ' ' + defines).strip()}",
                    f"{opt}.compiler.c.elf.extra_flags={' '.join(layout.linker_flags())} "
                    '"{build.path}/spareflash_fuses.o"',
                    f"{opt}.spareflash.plan.args={_plan_args(cfg)}",
                    f"{opt}.bootloader.low_fuses=0x{f['lfuse']:02X}",
                    f"{opt}.bootloader.high_fuses=0x{f['hfuse']:02X}",
                    f"{opt}.bootloader.extended_fuses=0x{f['efuse']:02X}",
                    f"{opt}.bootloader.lock_bits=0x{f['lock']:02X}",
                ]
    return "\n".join(lines)


def _check_editable(path: Path) -> None:
    """install/uninstall edit `path` only if it is absent or a UTF-8 text file whose SpareFlash block (if any) is
    whole; otherwise they stop with one line before touching any file."""
    if not path.exists():
        return
    if not path.is_file():
        raise SpareFlashError(f"{path} is not a regular file")
    try:
        text = path.read_bytes().decode()
    except UnicodeDecodeError:
        raise SpareFlashError(f"{path} is not UTF-8 text; fix or remove it by hand") from None
    start = text.find(BEGIN_MARK)
    if start >= 0 and text.find("\n" + END_MARK + "\n", start) < 0:
        raise SpareFlashError(f"{path}: the SpareFlash block has no end marker; remove it by hand")


def add_block(path: Path, body: str) -> None:
    """Append `body` between the markers (replacing an earlier SpareFlash block), remembering how to undo it."""
    remove_block(path)
    existed = path.exists()
    old = path.read_bytes().decode() if existed else ""
    flags = "" if existed else _CREATED
    sep = ""
    if old and not old.endswith("\n"):
        sep, flags = "\n", flags + _NEWLINE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((old + sep + BEGIN_MARK + flags + "\n" + body.rstrip("\n") + "\n" + END_MARK + "\n").encode())


def remove_block(path: Path) -> bool:
    """Remove exactly what add_block added (True if there was a block); user lines around it are kept."""
    if not path.exists():
        return False
    text = path.read_bytes().decode()
    start = text.find(BEGIN_MARK)
    if start < 0 or (start > 0 and text[start - 1] != "\n"):
        return False
    begin_line_end = text.find("\n", start)
    end = text.find("\n" + END_MARK + "\n", begin_line_end - 1)
    if begin_line_end < 0 or end < 0:
        raise SpareFlashError(f"{path}: the SpareFlash block has no end marker; remove it by hand")
    flags = text[start + len(BEGIN_MARK):begin_line_end]
    cut_from = start - 1 if _NEWLINE in flags else start
    rest = text[:cut_from] + text[end + len(END_MARK) + 2:]
    if _CREATED in flags and not rest:
        path.unlink()
    else:
        path.write_bytes(rest.encode())
    return True


def install(platform_dir: Path | None = None) -> Path:
    pdir = Path(platform_dir) if platform_dir else find_platform_dir()
    if not (pdir / "platform.txt").is_file():
        raise SpareFlashError(f"{pdir} is not an Arduino platform folder (no platform.txt)")
    try:
        boards = boards_local_block(pdir)
        targets = (pdir / "platform.local.txt", pdir / "boards.local.txt")
        for target in targets:  # both files are checked before either is written: all or nothing
            _check_editable(target)
        add_block(targets[0], platform_local_block())
        add_block(targets[1], boards)
    except PermissionError as exc:
        raise SpareFlashError(f"cannot write to {pdir}: permission denied (run as root or pass --platform-dir)") \
            from exc
    return pdir


def uninstall(platform_dir: Path | None = None) -> tuple[Path, bool]:
    pdir = Path(platform_dir) if platform_dir else find_platform_dir()
    if not (pdir / "platform.txt").is_file():
        raise SpareFlashError(f"{pdir} is not an Arduino platform folder (no platform.txt)")
    try:
        for name in ("platform.local.txt", "boards.local.txt"):
            _check_editable(pdir / name)
        removed = [remove_block(pdir / name) for name in ("platform.local.txt", "boards.local.txt")]
    except PermissionError as exc:
        raise SpareFlashError(f"cannot write to {pdir}: permission denied") from exc
    return pdir, any(removed)


def compile_fuse_object(layout: Any, out: Path) -> Path:
    """Compile `fuse_section_source(layout)` to `out` (the prelink hook's job)."""
    from .build import _run, fuse_section_source

    src = out.with_suffix(".c")
    for p in (out, src):
        if p.exists() and not p.is_file():
            raise SpareFlashError(f"fuse-object: {p} exists and is not a file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(fuse_section_source(layout))
    except OSError as exc:
        raise SpareFlashError(f"fuse-object: cannot write {src}: {exc.strerror}") from None
    try:
        _run(["avr-gcc", f"-mmcu={layout.chip.name}", "-c", "-Os", str(src), "-o", str(out)], "compiling the fuses")
    except SpareFlashError:
        src.unlink(missing_ok=True)  # a failed hook leaves nothing behind
        raise
    return out


# ---- the Arduino library zip -------------------------------------------------------------------------------------
def _zip_entries(root: Path) -> list[tuple[str, Path]]:
    """(archive name, file) for the library: library.properties is added separately."""
    entries: list[tuple[str, Path]] = []
    for sub in ("src",):
        for p in sorted((root / "library" / sub).rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                entries.append((f"{sub}/{p.relative_to(root / 'library' / sub)}", p))
    examples = root / "examples"
    if examples.is_dir():
        for ex in sorted(examples.iterdir()):
            if not (ex / f"{ex.name}.ino").is_file():
                continue  # the IDE shows only folders holding <name>.ino
            for p in sorted(ex.rglob("*")):
                if p.is_file() and not p.name.startswith("."):
                    entries.append((f"examples/{p.relative_to(examples)}", p))
    # library.json stays out: its srcDir (library/src) describes the repo, not this zip.
    for extra in ("README.md", "LICENSE"):
        if (root / extra).is_file():
            entries.append((extra, root / extra))
    keywords = root / "library" / "keywords.txt"
    if keywords.is_file():
        entries.append(("keywords.txt", keywords))
    return entries


def package_library(out_dir: Path, root: Path = REPO_ROOT) -> Path:
    """Write `SpareFlash-<version>.zip` (Arduino library specification 1.5) into out_dir; deterministic bytes."""
    import zipfile

    meta = load_library_json(root / "library.json")
    name = str(meta["name"])
    if not (root / "library" / "src").is_dir():
        raise SpareFlashError(f"{root / 'library' / 'src'} does not exist")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpareFlashError(f"package: cannot use {out_dir} as the output folder: {exc.strerror}") from None
    dest = out_dir / f"{name}-{meta['version']}.zip"
    stamp = (2020, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def add(arcname: str, data: bytes) -> None:
            info = zipfile.ZipInfo(f"{name}/{arcname}", date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)

        add("library.properties", library_properties(meta).encode())
        for arcname, path in _zip_entries(root):
            add(arcname, path.read_bytes())
    return dest
