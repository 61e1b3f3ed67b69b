"""overlays.bin and the slot header (docs/overlay-format.md): the Python model is the oracle the firmware matches."""

from __future__ import annotations

import struct

import pytest

from spareflash.chips import get_chip
from spareflash.overlay.format import (
    HEADER_SIZE,
    SLOT_HEADER_SIZE,
    OverlayFormatError,
    OverlayImage,
    SlotHeader,
    Variant,
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
