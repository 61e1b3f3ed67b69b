"""overlays.bin and the slot header (docs/overlay-format.md): the Python model is the oracle the firmware matches."""

from __future__ import annotations

import struct

import pytest

from spareflash.chips import get_chip
from spareflash.overlay.format import (
    HEADER_SIZE,
    SLOT_HEADER_SIZE,
    Entry,
    OverlayFormatError,
    OverlayImage,
    SlotHeader,
    Variant,
    build_id_for,
    check_for_chip,
    crc32,
    pack,
    resident_segment,
    siphash24,
    slot_image,
    unpack,
)

CHIP = get_chip("atmega328p")
SLOTS_START, SLOT_SIZE = 0x7A00, 512
KEY = bytes(range(16))


def make_image(nseg: int = 2, nslots: int = 2) -> OverlayImage:
    variants = [Variant(s, k, bytes([s * 16 + k]) * (40 + 10 * s), SLOTS_START + k * SLOT_SIZE + SLOT_HEADER_SIZE, 1)
                for s in range(nseg) for k in range(nslots)]
    return OverlayImage(CHIP.signature, CHIP.page_size, nslots, SLOT_SIZE, SLOTS_START, 0x12345678, nseg, variants)


def test_siphash_matches_the_reference_vectors() -> None:
    # SipHash paper, appendix A / reference implementation vectors.h: key 00..0f, messages 00..(n-1)
    assert siphash24(KEY, b"").hex() == "310e0edd47db6f72"
    assert siphash24(KEY, bytes(range(15))).hex() == "e545be4961ca29a1"


def test_pack_unpack_round_trip_with_and_without_mac() -> None:
    img = make_image()
    for key in (None, KEY):
        back = unpack(pack(img, mac_key=key), mac_key=key)
        assert [(v.segment, v.slot, v.code, v.link_address) for v in back.variants] == \
               [(v.segment, v.slot, v.code, v.link_address) for v in img.variants]
        assert back.build_id == img.build_id and back.has_mac == (key is not None)


def test_header_layout_is_the_documented_one() -> None:
    data = pack(make_image())
    assert data[:4] == b"SFOV" and data[4] == 1 and struct.unpack_from("<H", data, 6)[0] == HEADER_SIZE
    assert tuple(data[8:11]) == CHIP.signature
    assert struct.unpack_from("<HBBII", data, 12) == (128, 2, 2, SLOT_SIZE, SLOTS_START)
    assert struct.unpack_from("<I", data, 44)[0] == crc32(data[:44])
    assert struct.unpack_from("<I", data, 32)[0] == len(data)


@pytest.mark.parametrize("mutate, rule", [
    (lambda d: d[:40], "truncated"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: b"XFOV" + d[4:], "magic"),
    (lambda d: d[:13] + b"\x01" + d[14:], "header-crc"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "segment-crc"),
    (lambda d: d[:HEADER_SIZE + 2] + b"\x77" + d[HEADER_SIZE + 3:], "directory-crc"),
])
def test_damaged_images_are_refused_with_a_named_rule(mutate, rule) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OverlayFormatError, match=f"^{rule}"):
        unpack(mutate(pack(make_image())))


def test_mac_is_checked_and_required_when_a_key_is_configured() -> None:
    plain = pack(make_image())
    with pytest.raises(OverlayFormatError, match="^unauthenticated"):
        unpack(plain, mac_key=KEY)
    signed = bytearray(pack(make_image(), mac_key=bytes(16)))  # signed with another key
    with pytest.raises(OverlayFormatError, match="^mac"):
        unpack(bytes(signed), mac_key=KEY)


def test_wrong_mcu_and_wrong_geometry_are_refused() -> None:
    img = unpack(pack(make_image()))
    check_for_chip(img, CHIP, slots_start=SLOTS_START, slot_size=SLOT_SIZE, slot_count=2)
    with pytest.raises(OverlayFormatError, match="^wrong-mcu"):
        check_for_chip(img, get_chip("attiny85"), slots_start=SLOTS_START, slot_size=SLOT_SIZE, slot_count=2)
    with pytest.raises(OverlayFormatError, match="^wrong-geometry"):
        check_for_chip(img, CHIP, slots_start=SLOTS_START, slot_size=1024, slot_count=2)


def test_every_segment_needs_one_variant_per_slot_and_must_fit() -> None:
    img = make_image()
    img.variants.pop()
    with pytest.raises(OverlayFormatError, match="^variants"):
        pack(img)
    big = make_image()
    big.variants[0] = Variant(0, 0, b"\0" * (SLOT_SIZE - SLOT_HEADER_SIZE + 1), big.variants[0].link_address, 1)
    with pytest.raises(OverlayFormatError, match="^segment-size"):
        pack(big)


def test_slot_image_header_and_residency_decision() -> None:
    img = make_image()
    flash = bytearray(b"\xff" * CHIP.flash_size)
    body = slot_image(img, 1, 1)
    start = SLOTS_START + SLOT_SIZE
    assert len(body) % CHIP.page_size == 0
    flash[start:start + len(body)] = body
    assert SlotHeader.parse(body[:SLOT_HEADER_SIZE]) == SlotHeader(1, 1, 50, img.build_id, crc32(b"\x11" * 50))
    assert resident_segment(bytes(flash), img.build_id, start, 1, SLOT_SIZE, 2) == 1
    assert resident_segment(bytes(flash), img.build_id + 1, start, 1, SLOT_SIZE, 2) is None  # other build
    assert resident_segment(bytes(flash), img.build_id, start, 0, SLOT_SIZE, 2) is None  # header of another slot
    flash[start + SLOT_HEADER_SIZE + 3] &= 0xFE  # a torn code byte (a bit went 1 -> 0)
    assert resident_segment(bytes(flash), img.build_id, start, 1, SLOT_SIZE, 2) is None


def image_with_entries(nseg: int = 3, nslots: int = 2) -> OverlayImage:
    img = make_image(nseg, nslots)
    img.entries = [Entry(s, i, 2 * i + s) for s in range(nseg) for i in range(2)]
    return img


def test_header_fields_are_at_their_documented_offsets_with_distinct_counts() -> None:
    # 3 segments in 2 slots: slot_count and segment_count cannot be told apart when they are equal
    img = image_with_entries()
    data = pack(img, mac_key=KEY)
    assert data[5] == 0x01 and data[11] == 0xFF
    assert struct.unpack_from("<HBBIIIHHI", data, 12) == (
        128, 2, 3, SLOT_SIZE, SLOTS_START, img.build_id, len(img.entries), 28, len(data))
    assert data[36:44] == b"\xff" * 8


def test_directory_records_entries_and_code_follow_each_other_as_documented() -> None:
    img = image_with_entries()
    data = pack(img)
    nvar = 3 * 2
    entries_at = HEADER_SIZE + nvar * 20 + 4
    assert [struct.unpack_from("<BBH", data, entries_at + 4 * i) for i in range(len(img.entries))] == [
        (e.segment, e.index, e.offset_words) for e in img.entries]
    code_at = entries_at + 4 * len(img.entries)  # the code of every variant, in directory order, no padding
    for i, v in enumerate(sorted(img.variants, key=lambda v: (v.segment, v.slot))):
        rec = struct.unpack_from("<BBBBHHIII", data, HEADER_SIZE + 20 * i)
        assert rec == (v.segment, v.slot, v.entry_count, 0, len(v.code), 0xFFFF, code_at, v.link_address, v.crc)
        assert data[code_at:code_at + len(v.code)] == v.code
        code_at += len(v.code)
    assert code_at == len(data)
    back = unpack(data)
    assert back.entries == img.entries and back.segment_count == 3 and back.slot_count == 2


def test_directory_records_out_of_order_are_refused() -> None:
    data = bytearray(pack(make_image()))
    first, second = data[HEADER_SIZE:HEADER_SIZE + 20], data[HEADER_SIZE + 20:HEADER_SIZE + 40]
    data[HEADER_SIZE:HEADER_SIZE + 40] = second + first  # segment 0's slot-1 record first
    dir_end = HEADER_SIZE + 4 * 20
    data[dir_end:dir_end + 4] = struct.pack("<I", crc32(bytes(data[HEADER_SIZE:dir_end])))
    with pytest.raises(OverlayFormatError, match="^directory: record 0 is segment 0 slot 1"):
        unpack(bytes(data))


def test_a_variant_linked_for_another_slot_is_refused() -> None:
    img = make_image()
    v = img.variants[1]  # segment 0, slot 1, linked at slot 0's address
    img.variants[1] = Variant(v.segment, v.slot, v.code, img.variants[0].link_address, v.entry_count)
    with pytest.raises(OverlayFormatError, match="^link-address"):
        pack(img)


def test_the_mac_binds_the_slot_so_a_variant_cannot_be_replayed_into_another_slot() -> None:
    # the forger copies segment 0's slot-0 code and MAC into its slot-1 record (code, size, CRC, MAC all "valid")
    img = make_image()
    signed = bytearray(pack(img, mac_key=KEY))
    rec0, rec1 = HEADER_SIZE, HEADER_SIZE + 28
    code0 = img.variants[0].code
    assert len(code0) == len(img.variants[1].code)  # same size: the bytes can be swapped in place
    off1 = struct.unpack_from("<I", signed, rec1 + 8)[0]
    signed[off1:off1 + len(code0)] = code0
    signed[rec1 + 16:rec1 + 28] = signed[rec0 + 16:rec0 + 28]  # CRC-32 and MAC of slot 0's variant
    dir_end = HEADER_SIZE + 4 * 28
    signed[dir_end:dir_end + 4] = struct.pack("<I", crc32(bytes(signed[HEADER_SIZE:dir_end])))
    with pytest.raises(OverlayFormatError, match="^mac: segment 0 \\(slot 1\\)"):
        unpack(bytes(signed), mac_key=KEY)


def test_the_slot_header_bytes_are_the_documented_ones() -> None:
    hdr = SlotHeader(segment=1, slot=0, code_size=50, build_id=0x12345678, code_crc=0xCAFEBABE)
    raw = hdr.pack()
    assert raw == bytes.fromhex("534F" "01" "00" "3200" "01" "FF" "78563412" "BEBAFECA")
    assert SlotHeader.parse(raw) == hdr
    assert SlotHeader.parse(raw[:6] + b"\x02" + raw[7:]) is None  # another header version
    assert SlotHeader.parse(b"SX" + raw[2:]) is None


def _slot_with(header: SlotHeader, code: bytes) -> bytes:
    flash = bytearray(b"\xff" * CHIP.flash_size)
    flash[SLOTS_START:SLOTS_START + SLOT_HEADER_SIZE] = header.pack()
    flash[SLOTS_START + SLOT_HEADER_SIZE:SLOTS_START + SLOT_HEADER_SIZE + len(code)] = code
    return bytes(flash)


def test_a_slot_header_with_a_segment_id_or_size_out_of_range_is_not_resident() -> None:
    code = bytes(range(40))
    ok = _slot_with(SlotHeader(1, 0, len(code), 7, crc32(code)), code)
    assert resident_segment(ok, 7, SLOTS_START, 0, SLOT_SIZE, 2) == 1
    no_such_segment = _slot_with(SlotHeader(2, 0, len(code), 7, crc32(code)), code)
    assert resident_segment(no_such_segment, 7, SLOTS_START, 0, SLOT_SIZE, 2) is None
    # a size one byte past the slot's code area, with a CRC that matches those bytes: still not resident
    too_big = SLOT_SIZE - SLOT_HEADER_SIZE + 1
    flash = _slot_with(SlotHeader(1, 0, too_big, 7, 0), b"")
    crc = crc32(flash[SLOTS_START + SLOT_HEADER_SIZE:SLOTS_START + SLOT_HEADER_SIZE + too_big])
    assert resident_segment(_slot_with(SlotHeader(1, 0, too_big, 7, crc), b""), 7, SLOTS_START, 0, SLOT_SIZE,
                            2) is None


def test_the_build_id_changes_with_any_code_byte_and_the_geometry() -> None:
    img = make_image()
    base = build_id_for(img.variants, CHIP.signature, SLOTS_START, SLOT_SIZE, 2)
    v = img.variants[3]
    changed = [*img.variants[:3], Variant(v.segment, v.slot, v.code[:-1] + b"\x00", v.link_address, v.entry_count)]
    assert build_id_for(changed, CHIP.signature, SLOTS_START, SLOT_SIZE, 2) != base
    assert build_id_for(img.variants, CHIP.signature, SLOTS_START + SLOT_SIZE, SLOT_SIZE, 2) != base
    assert base not in (0, 0xFFFFFFFF)
