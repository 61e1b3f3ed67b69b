"""overlays.bin and the slot header: the Python model of docs/overlay-format.md (the test oracle).

All integers are little-endian (as the AVR stores them). CRC-32 is the IEEE 802.3 polynomial, reflected,
init and final xor 0xFFFFFFFF (zlib.crc32). The MAC is SipHash-2-4 with a 128-bit key, 64-bit output.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Sequence

from ..chips import Chip, chip_for_signature
from ..errors import SpareFlashError

MAGIC = b"SFOV"
FORMAT_VERSION = 1
HEADER_SIZE = 48
FLAG_MAC = 0x01
DIR_RECORD_SIZE = 20
MAC_SIZE = 8
ENTRY_RECORD_SIZE = 4

SLOT_MAGIC = 0x4F53  # bytes "SO"
SLOT_HEADER_VERSION = 1
SLOT_HEADER_SIZE = 16  # code starts at slot start + 16 (8 words)
MAX_SEGMENTS = 64
MAX_ENTRIES_PER_SEGMENT = 63  # the stub adds the entry index with `adiw` (0..63 words)

_HEADER = struct.Struct("<4sBBH3sBHBBIIIHHI8s")  # 44 bytes, then the header CRC
_DIR = struct.Struct("<BBBBHHIII")  # 20 bytes
_ENTRY = struct.Struct("<BBH")
_SLOT = struct.Struct("<HBBHBBII")


class OverlayFormatError(SpareFlashError):
    """An overlays.bin (or slot) that fails a check; the message starts with the rule name."""


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


# ---- SipHash-2-4 ----------------------------------------------------------------------------------------------
_M64 = 0xFFFFFFFFFFFFFFFF


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M64


def siphash24(key: bytes, data: bytes) -> bytes:
    """SipHash-2-4 (Aumasson & Bernstein), 16-byte key, 8-byte little-endian tag."""
    if len(key) != 16:
        raise OverlayFormatError(f"mac-key: SipHash needs a 16-byte key, got {len(key)} bytes")
    k0, k1 = struct.unpack("<QQ", key)
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rounds(n: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & _M64
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _M64
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _M64
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _M64
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)

    n = len(data)
    end = n - n % 8
    for i in range(0, end, 8):
        (m,) = struct.unpack_from("<Q", data, i)
        v3 ^= m
        rounds(2)
        v0 ^= m
    last = (n & 0xFF) << 56
    for i, b in enumerate(data[end:]):
        last |= b << (8 * i)
    v3 ^= last
    rounds(2)
    v0 ^= last
    v2 ^= 0xFF
    rounds(4)
    return struct.pack("<Q", v0 ^ v1 ^ v2 ^ v3)


def mac_message(build_id: int, segment: int, slot: int, code: bytes) -> bytes:
    """What the MAC covers: binds the code to its build, segment id and slot (no replay into another slot)."""
    return struct.pack("<IBBH", build_id, segment, slot, len(code)) + code


# ---- the image -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One segment linked for one slot."""

    segment: int
    slot: int
    code: bytes
    link_address: int  # byte address of the first code byte (slot start + SLOT_HEADER_SIZE)
    entry_count: int
    mac: bytes | None = None

    @property
    def crc(self) -> int:
        return crc32(self.code)


@dataclass(frozen=True)
class Entry:
    segment: int
    index: int  # position in the segment's jump table
    offset_words: int  # the function's word offset from the segment's code start (informational)


@dataclass
class OverlayImage:
    signature: tuple[int, int, int]
    page_size: int
    slot_count: int
    slot_size: int
    slots_start: int
    build_id: int
    segment_count: int
    variants: list[Variant]
    entries: list[Entry] = field(default_factory=list)
    has_mac: bool = False

    def variant(self, segment: int, slot: int) -> Variant:
        for v in self.variants:
            if v.segment == segment and v.slot == slot:
                return v
        raise OverlayFormatError(f"no-variant: segment {segment} has no image for slot {slot}")

    @property
    def max_code_size(self) -> int:
        return self.slot_size - SLOT_HEADER_SIZE

    def slot_start(self, slot: int) -> int:
        return self.slots_start + slot * self.slot_size


def _geometry_checks(img: OverlayImage) -> None:
    if not 1 <= img.segment_count <= MAX_SEGMENTS:
        raise OverlayFormatError(f"segment-count: {img.segment_count} segments (1..{MAX_SEGMENTS} allowed)")
    if img.page_size < 1 or img.slot_count < 1 or img.slot_size < 1 or img.slot_size % img.page_size:
        raise OverlayFormatError(f"slot-geometry: {img.slot_count} slots of {img.slot_size} bytes "
                                 f"(page {img.page_size}) is not a valid geometry")


def pack(img: OverlayImage, *, mac_key: bytes | None = None) -> bytes:
    """Serialise an OverlayImage to overlays.bin (with SipHash-2-4 MACs when mac_key is given)."""
    _geometry_checks(img)
    has_mac = mac_key is not None
    variants = sorted(img.variants, key=lambda v: (v.segment, v.slot))
    want = {(s, k) for s in range(img.segment_count) for k in range(img.slot_count)}
    have = {(v.segment, v.slot) for v in variants}
    if want != have:
        missing = sorted(want - have)
        raise OverlayFormatError(f"variants: every segment needs one image per slot; missing {missing[:4]}")
    for v in variants:
        if len(v.code) > img.max_code_size:
            raise OverlayFormatError(f"segment-size: segment {v.segment} is {len(v.code)} bytes, a slot holds "
                                     f"{img.max_code_size} bytes of code")
        if v.link_address != img.slot_start(v.slot) + SLOT_HEADER_SIZE:
            raise OverlayFormatError(f"link-address: segment {v.segment} slot {v.slot} linked at "
                                     f"0x{v.link_address:X}, expected 0x{img.slot_start(v.slot) + SLOT_HEADER_SIZE:X}")
    rec_size = DIR_RECORD_SIZE + (MAC_SIZE if has_mac else 0)
    dir_offset = HEADER_SIZE
    dir_size = len(variants) * rec_size + 4
    entries_offset = dir_offset + dir_size
    code_offset = entries_offset + len(img.entries) * ENTRY_RECORD_SIZE
    records = b""
    blobs = b""
    for v in variants:
        mac = siphash24(mac_key, mac_message(img.build_id, v.segment, v.slot, v.code)) if mac_key else b""
        records += _DIR.pack(v.segment, v.slot, v.entry_count, 0, len(v.code), 0xFFFF,
                             code_offset + len(blobs), v.link_address, v.crc) + mac
        blobs += v.code
    directory = records + struct.pack("<I", crc32(records))
    entries = b"".join(_ENTRY.pack(e.segment, e.index, e.offset_words) for e in img.entries)
    total = code_offset + len(blobs)
    head = _HEADER.pack(MAGIC, FORMAT_VERSION, FLAG_MAC if has_mac else 0, HEADER_SIZE, bytes(img.signature),
                        0xFF, img.page_size, img.slot_count, img.segment_count, img.slot_size, img.slots_start,
                        img.build_id, len(img.entries), rec_size, total, b"\xff" * 8)
    head += struct.pack("<I", crc32(head))
    assert len(head) == HEADER_SIZE
    return head + directory + entries + blobs


def unpack(data: bytes, *, mac_key: bytes | None = None) -> OverlayImage:
    """Parse and check overlays.bin in the order the firmware does: header, directory, then every segment."""
    if len(data) < HEADER_SIZE:
        raise OverlayFormatError(f"truncated: {len(data)} bytes, the header alone is {HEADER_SIZE}")
    head = data[:HEADER_SIZE]
    (magic, version, flags, hsize, sig, _pad, page, nslots, nseg, slot_size, slots_start, build_id, nentries,
     rec_size, total, _res) = _HEADER.unpack_from(head)
    if magic != MAGIC:
        raise OverlayFormatError(f"magic: not an overlays.bin (starts with {magic!r})")
    if version != FORMAT_VERSION:
        raise OverlayFormatError(f"version: format version {version}, this tool reads {FORMAT_VERSION}")
    (hcrc,) = struct.unpack_from("<I", head, HEADER_SIZE - 4)
    if hsize != HEADER_SIZE or hcrc != crc32(head[:-4]):
        raise OverlayFormatError("header-crc: the header checksum does not match")
    has_mac = bool(flags & FLAG_MAC)
    if rec_size != DIR_RECORD_SIZE + (MAC_SIZE if has_mac else 0):
        raise OverlayFormatError(f"directory: record size {rec_size} does not match the flags")
    if total != len(data):
        raise OverlayFormatError(f"truncated: header says {total} bytes, file has {len(data)}")
    if mac_key is not None and not has_mac:
        raise OverlayFormatError("unauthenticated: a MAC key is configured but the image carries no MACs")
    nvar = nseg * nslots
    dir_end = HEADER_SIZE + nvar * rec_size
    if dir_end + 4 > len(data):
        raise OverlayFormatError("truncated: the segment directory runs past the end of the file")
    records = data[HEADER_SIZE:dir_end]
    (dcrc,) = struct.unpack_from("<I", data, dir_end)
    if dcrc != crc32(records):
        raise OverlayFormatError("directory-crc: the segment directory checksum does not match")
    img = OverlayImage(tuple(sig), page, nslots, slot_size, slots_start, build_id, nseg, [], [], has_mac)
    _geometry_checks(img)
    entries_offset = dir_end + 4
    if entries_offset + nentries * ENTRY_RECORD_SIZE > len(data):
        raise OverlayFormatError(f"truncated: the entry table ({nentries} entries) runs past the end of the file")
    for i in range(nentries):
        s, idx, off = _ENTRY.unpack_from(data, entries_offset + i * ENTRY_RECORD_SIZE)
        img.entries.append(Entry(s, idx, off))
    for i in range(nvar):
        base = HEADER_SIZE + i * rec_size
        seg, slot, nent, _f, size, _r, off, link, crc = _DIR.unpack_from(data, base)
        if seg != i // nslots or slot != i % nslots:
            raise OverlayFormatError(f"directory: record {i} is segment {seg} slot {slot}, out of order")
        if size > img.max_code_size:
            raise OverlayFormatError(f"segment-size: segment {seg} is {size} bytes, a slot holds {img.max_code_size}")
        if off + size > len(data):
            raise OverlayFormatError(f"truncated: segment {seg} slot {slot} runs past the end of the file")
        code = data[off:off + size]
        if crc32(code) != crc:
            raise OverlayFormatError(f"segment-crc: segment {seg} (slot {slot}) fails its CRC-32")
        mac = data[base + DIR_RECORD_SIZE:base + rec_size] if has_mac else None
        if mac_key is not None and mac != siphash24(mac_key, mac_message(build_id, seg, slot, code)):
            raise OverlayFormatError(f"mac: segment {seg} (slot {slot}) fails its SipHash-2-4 MAC")
        img.variants.append(Variant(seg, slot, code, link, nent, mac))
    return img


def check_for_chip(img: OverlayImage, chip: Chip, *, slots_start: int, slot_size: int, slot_count: int) -> None:
    """The checks `Overlay.begin()` makes against the firmware: MCU signature and slot geometry."""
    if tuple(img.signature) != chip.signature:
        other = chip_for_signature(tuple(img.signature))  # type: ignore[arg-type]
        raise OverlayFormatError(f"wrong-mcu: image is for {other.display if other else img.signature}, "
                                 f"firmware for {chip.display}")
    if (img.slots_start, img.slot_size, img.slot_count, img.page_size) != (slots_start, slot_size, slot_count,
                                                                           chip.page_size):
        raise OverlayFormatError(f"wrong-geometry: image has {img.slot_count} x {img.slot_size} bytes at "
                                 f"0x{img.slots_start:X}, firmware {slot_count} x {slot_size} at 0x{slots_start:X}")


# ---- the slot header in internal flash ------------------------------------------------------------------------
@dataclass(frozen=True)
class SlotHeader:
    segment: int
    slot: int
    code_size: int
    build_id: int
    code_crc: int

    def pack(self) -> bytes:
        return _SLOT.pack(SLOT_MAGIC, self.segment, self.slot, self.code_size, SLOT_HEADER_VERSION, 0xFF,
                          self.build_id, self.code_crc)

    @classmethod
    def parse(cls, raw: bytes) -> SlotHeader | None:
        magic, seg, slot, size, ver, _r, bid, crc = _SLOT.unpack_from(raw)
        if magic != SLOT_MAGIC or ver != SLOT_HEADER_VERSION:
            return None
        return cls(seg, slot, size, bid, crc)


def slot_image(img: OverlayImage, segment: int, slot: int) -> bytes:
    """The bytes a slot holds once `segment` is loaded into it: header + code, 0xFF up to a page boundary."""
    v = img.variant(segment, slot)
    body = SlotHeader(segment, slot, len(v.code), img.build_id, v.crc).pack() + v.code
    pad = (-len(body)) % img.page_size
    return body + b"\xff" * pad


def resident_segment(flash: bytes, img_build_id: int, slot_start: int, slot: int, slot_size: int,
                     segment_count: int) -> int | None:
    """What `Overlay.begin()` concludes about one slot from internal flash alone (None: nothing valid)."""
    hdr = SlotHeader.parse(flash[slot_start:slot_start + SLOT_HEADER_SIZE])
    if hdr is None or hdr.slot != slot or hdr.build_id != img_build_id or hdr.segment >= segment_count:
        return None
    if hdr.code_size > slot_size - SLOT_HEADER_SIZE:
        return None
    code = flash[slot_start + SLOT_HEADER_SIZE:slot_start + SLOT_HEADER_SIZE + hdr.code_size]
    return hdr.segment if crc32(code) == hdr.code_crc else None


def build_id_for(variants: Sequence[Variant], signature: tuple[int, int, int], slots_start: int, slot_size: int,
                 slot_count: int) -> int:
    """The id that binds a firmware to its overlays.bin: CRC-32 over the geometry and every variant's code."""
    h = struct.pack("<3sIII", bytes(signature), slots_start, slot_size, slot_count)
    for v in sorted(variants, key=lambda v: (v.segment, v.slot)):
        h += struct.pack("<BBBH", v.segment, v.slot, v.entry_count, len(v.code)) + v.code
    bid = crc32(h)
    return bid if bid not in (0, 0xFFFFFFFF) else 1
