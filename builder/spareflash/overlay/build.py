"""The overlay build flow: compile, route entry points through stubs, link once per slot, pack overlays.bin.

    result = build_overlays(["main.cpp", "seg_a.cpp"], PlanConfig("atmega328p", overlay_slots=2,
                            slot_bytes=1024), build_dir=".build/ovl")
    result.elf, result.hex            # resident firmware, no segment code in it
    result.overlays_bin               # the image for the SPI NOR chip (docs/overlay-format.md)

Steps: (1) compile every source with avr-gcc -Os -ffunction-sections (no LTO: the objects are post-processed);
(2) find the segments (`.ovl.<name>` sections) and their entry points (global functions defined there); refuse
resident code that references segment code directly; (3) rename each entry's definition to `__sf_ovl_<name>`
(objcopy) so the public name resolves to the generated resident stub; (4) link once per slot with the segments
in a GNU ld OVERLAY at that slot; the resident image must come out identical in every link; (5) compute the
build id from the segment images and link the firmware with it; strip `.ovl.*` from the ELF/HEX; (6) pack.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from ..build import fuse_section_source
from ..chips import get_chip
from ..errors import SpareFlashError, ToolchainError
from ..plan import Layout, PlanConfig, plan
from .format import (
    MAX_ENTRIES_PER_SEGMENT,
    MAX_SEGMENTS,
    SLOT_HEADER_SIZE,
    Entry,
    OverlayImage,
    Variant,
    build_id_for,
    pack,
)
from .linker import IMPL_PREFIX, EntryPoint, linker_script, slot_link_address, stubs_source

REPO_ROOT = Path(__file__).resolve().parents[3]
LIBRARY_SRC = REPO_ROOT / "library" / "src"
SEGMENT_PREFIX = ".ovl."
# the library sources an overlay firmware needs (plus every backend_*: the plan's define selects one)
LIBRARY_FILES = ("Overlay.cpp", "SpiNor.cpp", "spareflash_flash.cpp", "overlay_bootpage.S")
MAX_RJMP_SLOT = 4096  # the jump table uses rjmp (+-2K words)


class OverlayBuildError(SpareFlashError):
    """The overlay build failed; the message starts with the rule name."""


@dataclass
class OverlayBuild:
    elf: Path  # resident firmware (segments stripped)
    hex: Path
    overlays_bin: Path
    full_elfs: list[Path]  # one link per slot, segments included (for debugging and the verifier)
    layout: Layout
    image: OverlayImage
    segments: list[str]  # index = segment id
    entries: list[EntryPoint]
    build_id: int
    sizes: dict[str, int] = field(default_factory=dict)

    def segment_id(self, name: str) -> int:
        return self.segments.index(name)

    def to_dict(self) -> dict[str, object]:
        return {"elf": str(self.elf), "hex": str(self.hex), "overlays_bin": str(self.overlays_bin),
                "build_id": f"0x{self.build_id:08X}", "segments": self.segments,
                "entries": [{"symbol": e.symbol, "segment": e.segment, "index": e.index} for e in self.entries],
                "sizes": self.sizes, "layout": self.layout.to_dict()}


def _run(cmd: Sequence[str], what: str) -> str:
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise ToolchainError(f"toolchain: {cmd[0]} not found (run ./dev setup)") from exc
    if proc.returncode:
        out = (proc.stderr or proc.stdout).strip()
        first = next((ln for ln in out.splitlines() if "error" in ln.lower()), out.splitlines()[0] if out else "")
        raise ToolchainError(f"{what}: {first.strip()}")
    return proc.stdout + proc.stderr


def _link_error(out: str) -> str:
    m = re.search(r"prohibited cross reference from (\S+) to `([^']+)' in (\S+)", out)
    if m:
        src, sym, dst = (g[len(SEGMENT_PREFIX):] if g.startswith(SEGMENT_PREFIX) else g for g in m.groups())
        what = "code" if sym == dst else sym[len(IMPL_PREFIX):] if sym.startswith(IMPL_PREFIX) else sym
        return (f"cross-reference: segment {src} references {what} of segment {dst} directly; put the two "
                "segments in different source files so the call goes through a stub")
    lines = [ln for ln in out.splitlines() if "error" in ln.lower() or "undefined" in ln.lower()]
    return "link: " + (lines[0].strip() if lines else out.strip().splitlines()[-1] if out.strip() else "failed")


def _compile(src: Path, obj: Path, mcu: str, flags: Sequence[str]) -> None:
    obj.parent.mkdir(parents=True, exist_ok=True)
    cc = "avr-g++" if src.suffix in (".cpp", ".cc") else "avr-gcc"
    std = ["-std=gnu++11", "-fno-exceptions", "-fno-threadsafe-statics"] if cc == "avr-g++" else []
    key = hashlib.sha1(json.dumps([str(src), src.read_bytes().hex(), mcu, list(flags)]).encode()).hexdigest()
    stamp = obj.with_suffix(".key")
    if obj.exists() and stamp.exists() and stamp.read_text() == key and not _headers_newer(obj, src):
        return
    _run([cc, f"-mmcu={mcu}", "-Os", "-g", "-ffunction-sections", "-fdata-sections", "-fno-jump-tables", *std,
          *flags, "-c", str(src), "-o", str(obj)], f"compile {src.name}")
    stamp.write_text(key)


def _headers_newer(obj: Path, src: Path) -> bool:
    t = obj.stat().st_mtime
    return any(h.stat().st_mtime > t for d in (src.parent, LIBRARY_SRC) for h in d.glob("*.h"))


@dataclass
class _ObjInfo:
    path: Path
    segments: set[str]
    entries: list[tuple[str, str]]  # (symbol, segment)


def _scan(obj: Path) -> _ObjInfo:
    with obj.open("rb") as fh:
        elf = ELFFile(fh)
        sec_names = [s.name for s in elf.iter_sections()]
        # `.ovl.<seg>` and `.ovl.<seg>.<anything>` (SPAREFLASH_OVERLAY_STR's `.ovl.<seg>.str`): segment names are
        # C identifiers, so the name ends at the next dot
        seg_of_index = {i: n[len(SEGMENT_PREFIX):].split(".")[0] for i, n in enumerate(sec_names)
                        if n.startswith(SEGMENT_PREFIX)}
        segs = set(seg_of_index.values())
        entries: list[tuple[str, str]] = []
        symtab = elf.get_section_by_name(".symtab")
        seg_syms: dict[int, tuple[str, str]] = {}
        if isinstance(symtab, SymbolTableSection):
            for i, sym in enumerate(symtab.iter_symbols()):
                idx = sym["st_shndx"]
                if isinstance(idx, int) and idx in seg_of_index:
                    seg_syms[i] = (sym.name or sec_names[idx], seg_of_index[idx])
                    if sym["st_info"]["bind"] == "STB_GLOBAL" and sym["st_info"]["type"] == "STT_FUNC":
                        entries.append((sym.name, seg_of_index[idx]))
        for sec in elf.iter_sections():
            if not isinstance(sec, RelocationSection):
                continue
            target = sec_names[sec["sh_info"]]
            if target.startswith(SEGMENT_PREFIX):
                continue
            if not target.startswith((".text", ".progmem", ".data", ".rodata", ".init", ".fini")):
                continue  # debug info may point anywhere
            for rel in sec.iter_relocations():
                hit = seg_syms.get(rel["r_info_sym"])
                if hit:
                    raise OverlayBuildError(
                        f"resident-reference: {target} in {obj.name} references {hit[0]} of segment {hit[1]} "
                        "directly; move the segment's code to its own source file")
    return _ObjInfo(obj, segs, entries)


def _sort_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if name.isdigit() else (1, name)


def _elf_sections(elf_path: Path) -> dict[str, tuple[int, bytes]]:
    out: dict[str, tuple[int, bytes]] = {}
    with elf_path.open("rb") as fh:
        elf = ELFFile(fh)
        for seg in elf.iter_segments():  # every loadable chip section must keep a load address on the chip
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] and seg["p_paddr"] >= 0xA00000:
                names = [s.name for s in elf.iter_sections() if seg.section_in_segment(s)]
                if not all(n.startswith(SEGMENT_PREFIX) for n in names):
                    raise OverlayBuildError(f"load-address: {', '.join(names)} would load outside the chip; a "
                                            "section placed after the overlays needs naming in the linker script")
        for sec in elf.iter_sections():
            if sec["sh_flags"] & 0x2 and sec["sh_type"] != "SHT_NOBITS":
                out[sec.name] = (sec["sh_addr"], sec.data())
    return out


def build_overlays(sources: Sequence[str | os.PathLike[str]], plan_config: PlanConfig,
                   build_dir: str | os.PathLike[str], *, include_dirs: Sequence[str | os.PathLike[str]] = (),
                   defines: Sequence[str] = (),
                   f_cpu: int = 16_000_000, mac_key: bytes | None = None, library: bool = True,
                   cflags: Sequence[str] = ()) -> OverlayBuild:
    """Build a firmware with overlay segments and its overlays.bin (see the module docstring)."""
    layout = plan(plan_config)
    chip = layout.chip
    if layout.slot_count < 1:
        raise OverlayBuildError("slots: the plan reserves no overlay slots (set overlay_slots and slot_bytes)")
    if layout.slot_size > MAX_RJMP_SLOT:
        raise OverlayBuildError(f"slot-size: slots of {layout.slot_size} bytes; at most {MAX_RJMP_SLOT} supported")
    if layout.slots.end > 0x20000:
        raise OverlayBuildError("slot-address: slots above 128 KB (ATmega2560 top) need EIJMP, not supported yet")
    out = Path(build_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OverlayBuildError(f"out: cannot use {out} as the build folder: {exc.strerror}") from None
    srcs = [Path(s).resolve() for s in sources]
    if library:
        srcs += sorted(p for p in LIBRARY_SRC.iterdir() if p.name in LIBRARY_FILES or p.name.startswith("backend_"))
    fuses_c = out / "sf_fuses.c"
    _write(fuses_c, fuse_section_source(layout))
    srcs.append(fuses_c)
    flags = [*cflags, f"-DF_CPU={f_cpu}UL", *(f"-D{d}" for d in (*layout.defines(), *defines)),
             f"-I{LIBRARY_SRC}", *(f"-I{Path(d).resolve()}" for d in include_dirs)]
    objs: list[Path] = []
    for i, src in enumerate(srcs):
        obj = out / "obj" / f"{i:02d}_{src.name}.o"
        _compile(src, obj, chip.name, flags)
        objs.append(obj)

    infos = [_scan(o) for o in objs]
    names = sorted({s for info in infos for s in info.segments}, key=_sort_key)
    if not names:
        raise OverlayBuildError("segments: no function is marked SPAREFLASH_OVERLAY(...) in the sources")
    if len(names) > MAX_SEGMENTS:
        raise OverlayBuildError(f"segments: {len(names)} segments, at most {MAX_SEGMENTS}")
    entries: list[EntryPoint] = []
    for info in infos:
        for sym, seg in info.entries:
            sid = names.index(seg)
            idx = sum(1 for e in entries if e.segment == sid)
            if idx >= MAX_ENTRIES_PER_SEGMENT:
                raise OverlayBuildError(f"entries: segment {seg} has more than {MAX_ENTRIES_PER_SEGMENT} entry points")
            entries.append(EntryPoint(sym, sid, idx))
    link_objs: list[Path] = []
    for info in infos:
        if not info.entries:
            link_objs.append(info.path)
            continue
        renamed = info.path.with_suffix(".ovl.o")
        cmd = ["avr-objcopy", *(f"--redefine-sym={s}={IMPL_PREFIX}{s}" for s, _ in info.entries),
               str(info.path), str(renamed)]
        _run(cmd, "objcopy")
        link_objs.append(renamed)
    stubs = out / "sf_overlay_stubs.S"
    _write(stubs, stubs_source(names, entries))
    stubs_obj = out / "obj" / "sf_overlay_stubs.o"
    _compile(stubs, stubs_obj, chip.name, flags)
    link_objs.append(stubs_obj)

    def link(slot: int, build_id: int, elf: Path) -> dict[str, tuple[int, bytes]]:
        script = out / f"overlay_slot{slot}.ld"
        _write(script, linker_script(names, slot_link_address(layout.slots.start, layout.slot_size, slot)))
        cmd = ["avr-gcc", f"-mmcu={chip.name}", "-Os", "-Wl,--gc-sections", *layout.linker_flags(),
               f"-Wl,--defsym=__sf_ovl_build_id=0x{build_id:X}", f"-Wl,-T,{script}",
               "-o", str(elf), *map(str, link_objs)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise OverlayBuildError(_link_error(proc.stderr + proc.stdout))
        return _elf_sections(elf)

    variants: list[Variant] = []
    resident: dict[str, bytes] | None = None
    full_elfs: list[Path] = []
    seg_entry_counts = [sum(1 for e in entries if e.segment == s) for s in range(len(names))]
    for slot in range(layout.slot_count):
        elf = out / f"firmware_slot{slot}.elf"
        secs = link(slot, 0, elf)
        full_elfs.append(elf)
        res = {n: d for n, (_a, d) in secs.items() if not n.startswith(SEGMENT_PREFIX)}
        if resident is None:
            resident = res
            text_addr, text = secs.get(".text", (0, b""))
            used = text_addr + len(text) + len(secs.get(".data", (0, b""))[1])  # .data's image follows .text
            if used > layout.app_end:
                raise OverlayBuildError(f"resident-size: the resident image needs {used} bytes, the plan leaves "
                                        f"{layout.app_end} below the reserved regions (fewer or smaller slots, "
                                        "or move code into segments)")
        elif res != resident:
            raise OverlayBuildError(f"resident-differs: the resident image changes when segments move to slot {slot}")
        want = slot_link_address(layout.slots.start, layout.slot_size, slot)
        for sid, name in enumerate(names):
            addr, code = secs.get(SEGMENT_PREFIX + name, (want, b""))
            if addr != want:
                raise OverlayBuildError(f"link-address: segment {name} linked at 0x{addr:X}, expected 0x{want:X}")
            if len(code) > layout.slot_size - SLOT_HEADER_SIZE:
                raise OverlayBuildError(f"segment-size: segment {name} is {len(code)} bytes, a slot of "
                                        f"{layout.slot_size} bytes holds {layout.slot_size - SLOT_HEADER_SIZE}")
            variants.append(Variant(sid, slot, code, addr, seg_entry_counts[sid]))
    build_id = build_id_for(variants, chip.signature, layout.slots.start, layout.slot_size, layout.slot_count)
    full = out / "firmware.full.elf"
    final = link(0, build_id, full)
    for sid, name in enumerate(names):  # the build id only changes ldi immediates in resident code
        if final.get(SEGMENT_PREFIX + name, (0, b""))[1] != variants[sid].code:  # slot 0 variants come first
            raise OverlayBuildError(f"unstable-link: segment {name} changed when the build id was linked in")
    elf = out / "firmware.elf"
    hexf = out / "firmware.hex"
    _run(["avr-objcopy", "--remove-section=.ovl.*", str(full), str(elf)], "objcopy")
    _run(["avr-objcopy", "-O", "ihex", "-R", ".eeprom", "-R", ".fuse", "-R", ".lock", "-R", ".signature",
          str(elf), str(hexf)], "objcopy")
    entry_offsets = _entry_offsets(full_elfs[0], entries, names)
    image = OverlayImage(chip.signature, chip.page_size, layout.slot_count, layout.slot_size, layout.slots.start,
                         build_id, len(names), variants,
                         [Entry(e.segment, e.index, entry_offsets.get(e.symbol, 0)) for e in entries])
    binf = out / "overlays.bin"
    binf.write_bytes(pack(image, mac_key=mac_key))
    sizes = {"resident": sum(len(d) for n, d in (resident or {}).items() if n in (".text", ".data")),
             **{f"segment:{n}": len(variants[i].code) for i, n in enumerate(names)}}
    return OverlayBuild(elf, hexf, binf, full_elfs, layout, image, names, entries, build_id, sizes)


def _entry_offsets(elf_path: Path, entries: list[EntryPoint], names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    with elf_path.open("rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        starts = {n: elf.get_section_by_name(SEGMENT_PREFIX + n) for n in names}
        if not isinstance(symtab, SymbolTableSection):
            return out
        for e in entries:
            syms = symtab.get_symbol_by_name(e.impl)
            sec = starts[names[e.segment]]
            if syms and sec is not None:
                out[e.symbol] = (syms[0]["st_value"] - sec["sh_addr"]) // 2
    return out


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def chip_for(plan_config: PlanConfig) -> str:
    return get_chip(plan_config.mcu).name
