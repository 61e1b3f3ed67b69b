"""`spareflash overlay build|info|policy`: build a firmware with code overlays, inspect overlays.bin, policy figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import SpareFlashError
from ..plan import PlanConfig
from . import show_help

SOURCE_SUFFIXES = (".c", ".cpp", ".S")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("overlay", help="code overlays: build firmware + overlays.bin, inspect images")
    osub = p.add_subparsers(dest="overlay_command", metavar="ACTION")

    b = osub.add_parser("build", help="compile sources with SPAREFLASH_OVERLAY segments; write firmware + overlays.bin")
    b.add_argument("sources", nargs="+", help="source files or directories (*.c, *.cpp, *.S)")
    b.add_argument("--mcu", default="atmega328p")
    b.add_argument("--slots", type=int, default=2, help="number of overlay slots")
    b.add_argument("--slot-bytes", type=int, default=1024, help="bytes per slot (multiple of the page size)")
    b.add_argument("--storage-bytes", type=int, default=0, help="FlashStorage region to keep besides the slots")
    b.add_argument("--backend", default=None)
    b.add_argument("--mac-key", default=None, help="32 hex digits: sign every segment with SipHash-2-4")
    b.add_argument("-D", dest="defines", action="append", default=[], help="extra preprocessor define")
    b.add_argument("-o", "--out", default="build/overlay", help="output directory")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=run_build)

    i = osub.add_parser("info", help="check an overlays.bin and list its segments")
    i.add_argument("image")
    i.add_argument("--mac-key", default=None)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_info)

    u = osub.add_parser("upload", help="write overlays.bin into the SPI NOR chip through the OverlayUploader sketch")
    u.add_argument("image", help="overlays.bin")
    u.add_argument("--port", required=True, help="serial port (e.g. /dev/ttyUSB0) or a pyserial URL")
    u.add_argument("--baud", type=int, default=115200)
    u.add_argument("--nor-addr", type=lambda t: int(t, 0), default=0, help="NOR address (4 KB aligned)")
    u.set_defaults(func=run_upload)

    pol = osub.add_parser("policy", help="loads of the firmware's replacement policy and LRU against Belady")
    pol.add_argument("--slots", type=int, default=2)
    pol.set_defaults(func=run_policy)
    p.set_defaults(func=show_help(p))


def _key(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise SpareFlashError("mac-key: not hexadecimal") from exc
    if len(key) != 16:
        raise SpareFlashError(f"mac-key: need 16 bytes (32 hex digits), got {len(key)}")
    return key


def run_build(args: argparse.Namespace) -> int:
    from ..overlay.build import build_overlays

    sources: list[Path] = []
    for s in args.sources:
        p = Path(s)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix in SOURCE_SUFFIXES)
            if not found:
                raise SpareFlashError(f"source: {s} holds no {', '.join(SOURCE_SUFFIXES)} files")
            sources += found
        elif not p.exists():
            raise SpareFlashError(f"source: {s} does not exist")
        elif p.suffix not in SOURCE_SUFFIXES:
            raise SpareFlashError(f"source: {s} is not a {', '.join(SOURCE_SUFFIXES)} file")
        else:
            sources.append(p)
    cfg = PlanConfig(args.mcu, backend=args.backend, storage_bytes=args.storage_bytes, overlay_slots=args.slots,
                     slot_bytes=args.slot_bytes)
    res = build_overlays(sources, cfg, args.out, defines=args.defines, mac_key=_key(args.mac_key))
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(f"firmware     {res.hex}")
        print(f"overlays.bin {res.overlays_bin} ({res.overlays_bin.stat().st_size} bytes, "
              f"build id 0x{res.build_id:08X})")
        for sid, name in enumerate(res.segments):
            n = sum(1 for e in res.entries if e.segment == sid)
            print(f"  segment {sid} {name}: {res.sizes[f'segment:{name}']} bytes, {n} entries")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..chips import chip_for_signature
    from ..overlay.format import unpack

    path = Path(args.image)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpareFlashError(f"image: cannot read {path}: {exc.strerror}") from exc
    img = unpack(data, mac_key=_key(args.mac_key))
    chip = chip_for_signature(img.signature)
    info = {"mcu": chip.name if chip else None, "build_id": f"0x{img.build_id:08X}", "slots": img.slot_count,
            "slot_size": img.slot_size, "slots_start": img.slots_start, "segments": img.segment_count,
            "mac": img.has_mac,
            "variants": [{"segment": v.segment, "slot": v.slot, "size": len(v.code), "crc": f"0x{v.crc:08X}",
                          "link": v.link_address} for v in img.variants]}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{path}: OK, {info['mcu']}, {img.segment_count} segments x {img.slot_count} slots of "
              f"{img.slot_size} bytes at 0x{img.slots_start:X}, build id {info['build_id']}"
              f"{', MACs' if img.has_mac else ''}")
        for v in img.variants:
            print(f"  segment {v.segment} slot {v.slot}: {len(v.code)} bytes @0x{v.link_address:X} crc 0x{v.crc:08X}")
    return 0


def run_upload(args: argparse.Namespace) -> int:
    from ..overlay.upload import upload_file

    res = upload_file(args.image, args.port, args.baud, nor_addr=args.nor_addr)
    print(f"{args.image}: {res.bytes_written} bytes written and verified at NOR 0x{args.nor_addr:06X} "
          f"(JEDEC {res.jedec.hex().upper()}, {res.sectors_erased} sectors erased, {res.pages_programmed} pages, "
          f"{res.retries} retries)")
    return 0


def run_policy(args: argparse.Namespace) -> int:
    from ..overlay.policy import compare

    if args.slots < 1:
        raise SpareFlashError(f"overlay policy: --slots must be at least 1, got {args.slots}")
    print(json.dumps(compare(args.slots), indent=2))
    return 0
