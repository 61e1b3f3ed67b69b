"""Torn record writes are detected deterministically (docs/storage-format.md, "CRCs" and 5.7).

A power cut during a record's program leaves some of its 1 -> 0 bits undone (bits still 1). A record's check bytes
are a CRC-8 and a Berger byte (the count of 0-bits of key, len, value and CRC-8, mod 256): the undone bits lower
the real 0-count and can only raise the stored count, so no torn record passes while the covered bytes hold at
most 255 zero bits (values up to 28 bytes; FlashLog records up to 29 bytes). Garbage still passes with p ~ 2^-16.
"""

from __future__ import annotations

import random

import pytest

from spareflash.storage import FlashEmu, LogModel, StorageModel
from spareflash.storage import store as st
from spareflash.storage.crc import crc8, record_check
from spareflash.storage.log import log_record_bytes

P = 128
OFF = st.HDR + 6  # a record appended after a 6-byte one: the rest of the page is blank


def tear(rec: bytes, rng: random.Random, p: float) -> bytes:
    """A torn program of rec over erased flash: each 1 -> 0 bit independently done with probability p (at least
    one left undone)."""
    while True:
        undone = [rng.getrandbits(8) & ~b & 0xFF if rng.random() >= p else 0 for b in rec]
        undone = [u & (rng.getrandbits(8) | rng.getrandbits(8)) for u in undone]
        if any(undone):
            return bytes(b | u for b, u in zip(rec, undone))


def rejected(model: StorageModel | LogModel, rec: bytes) -> bool:
    """Write rec at OFF of page 1 (blank after it) and ask the model's walk and check: not a good record?"""
    base = P + OFF
    data = model.flash.data
    data[base:base + len(rec)] = rec
    try:
        size = model.rec_size(1, OFF)
        return not size or not model.rec_ok(1, OFF)
    finally:
        data[base:base + len(rec)] = b"\xff" * len(rec)


def test_crc8_is_avr_libc_crc8_ccitt_and_the_berger_byte_counts_zero_bits() -> None:
    assert crc8(b"123456789", 0) == 0xF4  # CRC-8 (poly 0x07) check value
    body = bytes([0x01, 0x02, 0xF0])
    c = crc8(body)
    zeros = 7 + 7 + 4 + 8 - bin(c).count("1")
    assert record_check(body) == bytes([c, zeros])
    assert st.record_bytes(3, b"\x00\xff") == bytes([3, 2, 0, 0xFF]) + record_check(bytes([3, 2, 0, 0xFF]))


def test_the_torn_record_the_old_crc16_accepted_is_rejected() -> None:
    """The campaign's failure, reproduced: with the old CRC-16 check bytes this tear of the record (key 7, value
    11 22 88 87 40 05) passed its CRC (070615b38887498f68ff). The same undone bits are now always caught."""
    undone = bytes.fromhex("000004910000098a2000")
    rec = st.record_bytes(7, bytes.fromhex("112288874005"))
    torn = bytes(b | u for b, u in zip(rec, undone))
    assert torn != rec
    assert rejected(StorageModel(FlashEmu(P, 4)), torn)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_torn_version_of_a_record_write_is_rejected(seed: int) -> None:
    """Random records (values 0..28 bytes, tombstones included), every single undone bit and many random subsets
    of undone bits (check bytes and len included): none is accepted. A CRC-16 accepts ~1 in 65,536 of these."""
    rng = random.Random(seed)
    s = StorageModel(FlashEmu(P, 4))
    tears = 0
    for _ in range(400):
        n = rng.randint(0, 28)
        rec = st.record_bytes(rng.randint(0, 254), bytes(rng.getrandbits(8) for _ in range(n)))
        assert not rejected(s, rec)  # the control: the complete write is good
        for i, b in enumerate(rec):
            for bit in range(8):
                if not b >> bit & 1:
                    assert rejected(s, rec[:i] + bytes([b | 1 << bit]) + rec[i + 1:]), (rec.hex(), i, bit)
                    tears += 1
        for _ in range(200):
            torn = tear(rec, rng, rng.random())
            assert rejected(s, torn), (rec.hex(), torn.hex())
            tears += 1
    assert tears > 100_000


def test_every_torn_version_of_a_log_record_write_is_rejected() -> None:
    rng = random.Random(5)
    log = LogModel(FlashEmu(P, 4))
    for _ in range(200):
        rec = log_record_bytes(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 29))))
        assert not rejected(log, rec)
        for _ in range(200):
            torn = tear(rec, rng, rng.random())
            assert rejected(log, torn), (rec.hex(), torn.hex())


def test_a_torn_put_never_reads_as_a_value_that_was_never_written() -> None:
    """End to end on the model: tear the page program of a put; get() returns the old or the new value."""
    rng = random.Random(9)
    for case in range(300):
        s = StorageModel(FlashEmu(64, 4))
        old = bytes(rng.getrandbits(8) for _ in range(4))
        new = bytes(rng.getrandbits(8) for _ in range(4))
        assert s.put(1, old) == st.OK
        before = bytes(s.flash.data)
        assert s.put(1, new) == st.OK
        rec = st.record_bytes(1, new)
        torn = FlashEmu(64, 4, before)
        torn.torn_program(s.head * 64 + s.head_off - len(rec), rec, rng)
        assert StorageModel(torn).get(1) in ((st.OK, old), (st.OK, new)), case


def test_garbage_passes_the_record_check_at_about_2_to_the_minus_16() -> None:
    """Random bytes where a record is read (valid key and len, random value and check bytes): 2^18 records,
    about 4 expected to pass by chance; more than 16 (p < 1e-6 if the rate is 2^-16) fails the test."""
    rng = random.Random(11)
    passed = 0
    trials = 1 << 18
    for _ in range(trials):
        n = rng.randint(0, 28)
        body = bytes([rng.randint(0, 254), n]) + rng.randbytes(n)
        if record_check(body) == rng.randbytes(2):
            passed += 1
    assert passed <= 16, passed
