"""FlashStorage format v2 (docs/storage-format-v2.md) as its Python twin StorageModelV2 implements it.

The examples are worked by hand from the spec; the check bytes are recomputed here bit by bit (CRC-8 poly 0x07
from 0xFF, then the Berger byte) rather than taken from the package. The twin is the oracle of the v2 engines
(SfMini in C, sf_core.S in assembly): same bytes, same page operations, same statuses.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from spareflash.plan import PlanConfig, PlanError, plan
from spareflash.storage import campaign
from spareflash.storage import store_v2 as v2
from spareflash.storage.campaign import CampaignFailure, corruption_campaign, power_cut_campaign
from spareflash.storage.flash import FlashEmu
from spareflash.storage.image import StorageFormatError, decode_storage, seed_region
from spareflash.storage.store import ERR_ARG, ERR_FULL, ERR_NO_REGION, ERR_NOT_FOUND, OK
from spareflash.storage.validate import validate_region

ROOT = Path(__file__).resolve().parents[1]


def crc8_bitwise(body: bytes) -> int:
    crc = 0xFF
    for b in body:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def check(body: bytes) -> bytes:
    c = crc8_bitwise(body)
    zeros = sum(8 - bin(x).count("1") for x in body + bytes([c]))
    return bytes([c, zeros & 0xFF])


class Recorder:
    """The page operations a store makes: (kind, page, offset, bytes)."""

    def __init__(self, flash: FlashEmu) -> None:
        self.ops: list[tuple[str, int, int, bytes]] = []
        flash.hook = lambda fl, kind, page, off, data: self.ops.append((kind, page, off, data))

    def take(self) -> list[tuple[str, int, int, bytes]]:
        out, self.ops = self.ops, []
        return out


def new(page_size: int = 32, pages: int = 4) -> tuple[v2.StorageModelV2, Recorder]:
    flash = FlashEmu(page_size, pages)
    rec = Recorder(flash)
    return v2.StorageModelV2(flash), rec


def header(flash: FlashEmu, page: int) -> bytes:
    return flash.read(page * flash.page_size, v2.HDR)


def hdr(seq: int, oldest: int, erases: int) -> bytes:
    body = bytes([seq, oldest, erases & 0xFF, erases >> 8])
    return body + check(body)


def rec_(key: int, value: bytes) -> bytes:
    body = bytes([key, len(value)]) + value
    return body + check(body)


def test_status_codes_only_v2_returns_are_the_c_headers() -> None:
    text = (ROOT / "library/src/spareflash_status.h").read_text()
    codes = {m[1]: int(m[2], 16) for m in re.finditer(r"#define (SF_\w+) (0x[0-9A-F]+)", text)}
    assert codes["SF_ERR_VERIFY"] == v2.ERR_VERIFY
    assert codes["SF_ERR_NOT_BEGUN"] == v2.ERR_NOT_BEGUN


def test_check_bytes_are_crc8_then_the_berger_byte() -> None:
    # header of the first page of an empty store: seq 0, oldest 0, erase count 0. CRC-8 of four 0x00 = 0xD1;
    # Berger = 32 zero bits of the body + 4 of 0xD1 = 36 = 0x24
    assert v2.header_bytes(0, 0, 0) == bytes([0, 0, 0, 0, 0xD1, 0x24]) == bytes(4) + check(bytes(4))
    # record key 7, len 1, value 0x2A: zeros 5 + 7 + 5 = 17, CRC-8 0xFE has 1 -> 0x12
    assert v2.record_bytes(7, b"\x2a") == bytes([7, 1, 0x2A, 0xFE, 0x12]) == bytes([7, 1, 0x2A]) + check(
        bytes([7, 1, 0x2A]))
    assert v2.header_bytes(0x81, 0x7F, 0x1234) == bytes([0x81, 0x7F, 0x34, 0x12]) + check(
        bytes([0x81, 0x7F, 0x34, 0x12]))


def test_the_first_put_starts_page_0_with_one_erase_and_one_write_then_puts_append() -> None:
    s, rec = new()
    assert (s.used, s.head, s.head_seq, s.off) == (0, 3, 0xFF, 32)  # empty: head N-1, seq 0xFF, closed
    assert s.put(7, b"\x2a") == OK
    # np = head + 1 = 0; seq 0xFF + 1 = 0; oldest = seq + 1 - U = 0; erase count: np has no header, the head
    # (page 3, blank) reads 0xFFFF, + 1 = 0. Header and record in one write; the page is erased even if blank.
    page0 = bytes([0, 0, 0, 0, 0xD1, 0x24, 7, 1, 0x2A, 0xFE, 0x12])
    assert rec.take() == [("erase", 0, 0, b""), ("program", 0, 0, page0)]
    assert s.flash.read(0, 32) == page0 + b"\xff" * 21
    assert (s.used, s.head, s.head_seq, s.off) == (1, 0, 0, 11)
    assert s.put(8, b"ab") == OK
    assert rec.take() == [("program", 0, 11, v2.record_bytes(8, b"ab"))]  # append: one write, no erase
    assert s.flash.read(17, 15) == b"\xff" * 15
    s.mount()
    assert s.items() == {7: b"\x2a", 8: b"ab"} and s.off == 17


def test_a_record_that_does_not_fit_starts_the_next_page_in_the_chain() -> None:
    s, rec = new()
    assert s.put(1, bytes(20)) == OK  # 6 + 24 = 30 of 32 bytes
    rec.take()
    assert s.put(2, b"x") == OK
    # erase count: page 1 has no header, so the head's (0) + 1
    assert rec.take() == [("erase", 1, 0, b""), ("program", 1, 0, hdr(1, 0, 1) + rec_(2, b"x"))]
    assert (s.head, s.head_seq, s.used) == (1, 1, 2)


def test_keys_and_sizes_the_engine_rejects_write_nothing() -> None:
    s, rec = new(32)
    assert s.max_value == 22 and v2.max_value(64) == 32 and v2.max_value(128) == 32  # MAXV = min(32, P - 10)
    assert s.put(0xFF, b"x") == ERR_ARG
    assert s.put(1, b"") == ERR_ARG
    assert s.put(1, bytes(23)) == ERR_ARG  # v1 says ERR_TOO_LARGE; the v2 engine says ERR_ARG
    assert s.remove(0xFF) == ERR_ARG
    assert s.remove(1) == OK  # absent: nothing to remove, nothing written
    assert rec.take() == []
    assert s.put(1, bytes(22)) == OK
    assert s.get(1, 4) == (ERR_ARG, None)  # the caller's type has another size
    assert s.get(0xFF) == (ERR_NOT_FOUND, None)


def test_a_region_outside_2_to_127_pages_is_refused_and_nothing_is_written() -> None:
    for pages in (1, 128):
        s, rec = new(32, pages)
        assert s.mount() == ERR_NO_REGION
        assert s.put(1, b"x") == v2.ERR_NOT_BEGUN and s.format() == v2.ERR_NOT_BEGUN
        assert s.get(1) == (ERR_NOT_FOUND, None) and rec.take() == []
    assert new(32, 127)[0].mount() == OK


def test_remove_appends_a_tombstone_and_the_newest_good_record_wins() -> None:
    s, rec = new()
    s.put(1, b"a")
    s.put(1, b"bc")
    assert s.get(1) == (OK, b"bc")
    rec.take()
    assert s.remove(1) == OK
    assert rec.take() == [("program", 0, 17, bytes([1, 0]) + check(bytes([1, 0])))]
    assert s.get(1) == (ERR_NOT_FOUND, None) and not s.contains(1)
    # a newest record whose check bytes fail is never read: the one before it is
    s.put(2, b"old")
    s.put(2, b"new")
    s.flash.data[s.head * 32 + s.off - 1] ^= 0x01
    assert s.get(2) == (OK, b"old")


def test_a_torn_header_never_counts() -> None:
    """A tear applies some of a write's 1->0 bits: the body's zero count drops while the stored Berger byte can
    only gain zeros, so no tear of a whole 6-byte header passes (spec 2). Every single missing bit, and random
    partial tears, of a start write are tried."""
    s, _ = new()
    s.put(1, b"keep")
    full = v2.header_bytes(1, 0, 1)
    want = [(i, bit) for i, b in enumerate(full) for bit in range(8) if not b >> bit & 1]
    for i, bit in want:
        torn = bytearray(full)
        torn[i] |= 1 << bit
        f = s.flash.copy()
        f.data[32:38] = torn
        t = v2.StorageModelV2(f)
        assert (t.head, t.head_seq) == (0, 0) and t.get(1) == (OK, b"keep")
    rng = random.Random(5)
    for _ in range(2000):
        f = s.flash.copy()
        f.torn_program(32, full, rng)
        if bytes(f.data[32:38]) != full:
            assert not v2.StorageModelV2(f).hdr_ok(1)


def test_the_head_is_the_newest_valid_header_by_serial_arithmetic_across_the_255_to_0_wrap() -> None:
    flash = FlashEmu(32, 4)
    for page, seq in ((1, 254), (2, 255), (3, 0)):
        flash.data[page * 32:page * 32 + 6] = v2.header_bytes(seq, 254, 7)
    flash.data[0:6] = v2.header_bytes(253, 253, 7)  # 253 is older than 0: (0 - 253) mod 256 = 3
    s = v2.StorageModelV2(flash)
    assert (s.head, s.head_seq, s.used) == (3, 0, 3)  # U = 0 - 254 + 1 = 3 (mod 256)
    assert s.put(1, b"x") == OK and s.flash.data[3 * 32 + 6] == 1  # appended to page 3

    # and a store that wrapped by itself: 300 page starts on 2 pages
    s, _ = new(32, 2)
    seqs = []
    for i in range(1500):
        assert s.put(i % 3, bytes([i & 0xFF])) == OK
        seqs.append(s.head_seq)
    assert 255 in seqs and seqs[-1] < 255
    s.mount()
    assert s.items() == {0: bytes([1497 & 0xFF]), 1: bytes([1498 & 0xFF]), 2: bytes([1499 & 0xFF])}


@pytest.mark.parametrize("oldest,used", [(6, 3), (0, 3), (250, 3), (5, 1), (3, 3)])
def test_the_chain_length_u_is_clamped_to_n_minus_1(oldest: int, used: int) -> None:
    """U = seq - oldest + 1 mod 256; only a corrupt header says 0 or >= N: then U = N - 1 (the page after the
    head is never in the chain)."""
    flash = FlashEmu(32, 4)
    flash.data[32:38] = v2.header_bytes(5, oldest, 0)
    assert v2.StorageModelV2(flash).used == used


def test_a_page_whose_seq_is_not_its_place_in_the_chain_is_skipped() -> None:
    s, _ = new()
    s.put(1, bytes(20))  # page 0, seq 0
    s.put(1, bytes([9] * 20))  # page 1, seq 1
    s.flash.data[32] = 7  # page 1 now says seq 7: its header fails, page 0 is the head
    s.mount()
    assert (s.head, s.used) == (0, 1) and s.get(1) == (OK, bytes(20))
    # a valid header in the chain's place of seq 0 that says seq 200 (older than 1 by serial arithmetic): the
    # head (seq 1, oldest 0) has U = 2, but page 0 is not seq 0, so its records are not read
    flash = FlashEmu(32, 4)
    flash.data[0:6] = hdr(200, 200, 0)
    flash.data[6:11] = rec_(2, b"z")
    flash.data[32:38] = hdr(1, 0, 1)
    t = v2.StorageModelV2(flash)
    assert (t.head, t.used) == (1, 2) and t.get(2) == (ERR_NOT_FOUND, None)


def test_a_torn_tail_closes_the_head() -> None:
    s, _ = new()
    s.put(1, b"a")
    s.flash.data[20] = 0x7F  # a byte programmed after the walk's end
    s.mount()
    assert s.off == 32 and s.stats().free_bytes == 0 + (4 - 1) * 26
    s.flash.data[20] = 0xFF
    s.mount()
    assert s.off == 11


def test_compaction_copies_only_live_records_then_writes_the_header_last_in_its_own_write() -> None:
    s, rec = new(32, 3)
    s.put(1, b"A" * 8)
    s.put(2, b"old")
    s.put(2, b"new")  # page 0 (seq 0) is full: 6 + 12 + 7 + 7 = 32
    s.remove(2)  # page 1 (seq 1, U = 2 = N - 1): the tombstone of 2
    s.put(3, b"c" * 10)
    rec.take()
    # The head is closed for 1=B*8; np = page 2 is the last free page: compaction of the oldest page O = 0.
    # Live in O: 1=A*8 only (2=old and 2=new are superseded by the tombstone). Copies at +6, verified; then the
    # header (seq 2, oldest = seq(O) + 1 = 1, erase count: page 2 has no header -> head's 1 + 1) with the new
    # record behind the copies, in its own write. U stays N - 1.
    assert s.put(1, b"B" * 8) == OK
    assert rec.take() == [("erase", 2, 0, b""), ("program", 2, 6, rec_(1, b"A" * 8)),
                          ("program", 2, 0, hdr(2, 1, 2) + b"\xff" * 12 + rec_(1, b"B" * 8))]
    assert (s.head, s.head_seq, s.used, s.off) == (2, 2, 2, 30)
    # 5=e*10 (14 B) does not fit the head: np = 0 compacts O = page 1 (3=c*10 live, the tombstone dropped);
    # 6 + 14 + 14 > 32, so that page gets the copies and a header alone, and the next page is started the same
    # way (O = page 2: 1=B live, 1=A superseded), where the record fits. Each erase count is the page's own + 1.
    assert s.put(5, b"e" * 10) == OK
    assert rec.take() == [("erase", 0, 0, b""), ("program", 0, 6, rec_(3, b"c" * 10)), ("program", 0, 0, hdr(3, 2, 1)),
                          ("erase", 1, 0, b""), ("program", 1, 6, rec_(1, b"B" * 8)),
                          ("program", 1, 0, hdr(4, 3, 2) + b"\xff" * 12 + rec_(5, b"e" * 10))]
    assert (s.head, s.head_seq, s.used) == (1, 4, 2)
    s.mount()
    assert s.items() == {1: b"B" * 8, 3: b"c" * 10, 5: b"e" * 10}


def test_a_compaction_without_live_records_writes_the_header_only() -> None:
    s, rec = new(32, 3)
    s.put(1, bytes(22))  # page 0 (seq 0) full
    s.put(1, bytes([1] * 22))  # page 1 (seq 1): a plain start, U = 2 = N - 1
    rec.take()
    s.put(1, bytes([2] * 22))  # page 2: O = page 0 holds only a superseded record: no copies write
    assert rec.take() == [("erase", 2, 0, b""), ("program", 2, 0, hdr(2, 1, 2) + rec_(1, bytes([2] * 22)))]


def test_full_when_no_page_start_can_place_the_record_and_nothing_is_lost() -> None:
    """N = 2: the live data plus the new record must fit one page. 26 B live + a 5-byte record do not: each of
    the N starts compacts the other page (copy, header) and cannot place the record: ERR_FULL, the value stays."""
    s, rec = new(32, 2)
    assert s.put(1, bytes(22)) == OK
    rec.take()
    assert s.put(2, b"x") == ERR_FULL
    assert [(k, p) for k, p, _, _ in rec.take()] == [("erase", 1), ("program", 1), ("program", 1),
                                                     ("erase", 0), ("program", 0), ("program", 0)]
    s.mount()
    assert s.items() == {1: bytes(22)}
    # Neither does the tombstone of 1 nor a new value of 1 fit behind the copy: a 2-page store holding a
    # MAXV-sized value on 32-byte pages takes no further write (spec 9: live data + one record <= P - 6).
    assert s.remove(1) == ERR_FULL and s.put(1, b"y") == ERR_FULL and s.items() == {1: bytes(22)}
    s.format()
    assert s.put(2, b"x") == OK


def test_n_2_keeps_the_live_data_in_one_page_and_erases_the_pages_in_turn() -> None:
    s, _ = new(64, 2)
    want: dict[int, bytes] = {}
    rng = random.Random(3)
    for _ in range(400):
        k = rng.randrange(4)
        want[k] = rng.randbytes(rng.randint(1, 6))
        assert s.put(k, want[k]) == OK
        assert s.used == 1
    s.mount()
    assert s.items() == want
    counts = s.erase_counts()
    # the headers count the real erases, except that page 0's first erase in a blank region counts 0 (0xFFFF + 1)
    assert abs(counts[0] - counts[1]) <= 1 and counts == [s.flash.erases[0] - 1, s.flash.erases[1]]


def test_stats_values() -> None:
    s, _ = new(32, 4)
    st = s.stats()
    # empty: nothing live, head closed (off = P); all 4 pages free; erase counts 0; avg record size 8
    assert (st.pages, st.page_size, st.live_bytes, st.live_records, st.free_bytes) == (4, 32, 0, 0, 4 * 26)
    assert (st.min_erase, st.max_erase, st.remaining_writes) == (0, 0, 10_000 * 4 * (26 // 8))
    s.put(1, bytes(4))
    s.put(2, bytes(2))
    s.put(3, b"gone")
    s.remove(3)
    st = s.stats()
    # live 8 + 6 = 14 B in 2 records; head offset 6 + 8 + 6 + 8 + 4 = 32 (closed); 3 free pages x 26
    assert (st.live_bytes, st.live_records, st.free_bytes) == (14, 2, 0 + 3 * 26)
    # remaining = (10,000 - max erase) x N x ((P - 6) // (live // count)) = 10,000 x 4 x (26 // 7)
    assert st.remaining_writes == 10_000 * 4 * 3
    s.flash.data[32 * 2:32 * 2 + 6] = hdr(9, 9, 10_000)  # a worn-out page (outside the chain)
    assert s.stats().remaining_writes == 0 and s.stats().max_erase == 10_000


def test_format_is_one_erase_and_one_header_whose_oldest_is_its_own_seq() -> None:
    s, rec = new(32, 4)
    s.put(1, b"x")
    s.put(2, bytes(20))
    rec.take()
    assert s.format() == OK
    assert rec.take() == [("erase", 2, 0, b""), ("program", 2, 0, hdr(2, 2, 2))]
    s.mount()
    assert s.items() == {} and (s.head, s.used, s.off) == (2, 1, 6)


def test_seeding_decoding_and_validating_a_format_2_region() -> None:
    layout = plan(PlanConfig("attiny25"))
    assert layout.storage_format == 2 and layout.storage.size == 256
    region = seed_region(layout, {1: b"\x29\x00", 3: "hi"})
    # an erased region plus the puts: page 0 gets seq 0 and both records
    assert region[:6] == hdr(0, 0, 0) and region[6:18] == rec_(1, b"\x29\x00") + rec_(3, b"hi")
    assert region[18:] == b"\xff" * (256 - 18)
    info = decode_storage(region, 32, fmt=2)
    assert info["values"] == {1: "2900", 3: "6869"} and info["pages"] == 8 and info["head_page"] == 0
    assert info["damaged_pages"] == [] and info["pages_in_use"] == 1 and info["live_bytes"] == 12
    assert decode_storage(b"\xff" * 256, 32, fmt=2)["head_page"] is None
    with pytest.raises(StorageFormatError):
        decode_storage(b"\xff" * 32, 32, fmt=2)  # one page is no v2 store
    with pytest.raises(StorageFormatError):
        seed_region(layout, {1: bytes(23)})  # MAXV on 32-byte pages is 22

    assert validate_region("storage", region, layout) is None
    assert validate_region("storage", b"\xff" * 256, layout) is None  # erased: an empty store
    bad = bytearray(region)
    bad[10] ^= 0x10
    assert "record at +6 fails its check bytes" in (validate_region("storage", bytes(bad), layout) or "")
    bad = bytearray(region)
    bad[2] ^= 1
    assert "no valid page header" in (validate_region("storage", bytes(bad), layout) or "")
    bad = bytearray(region)
    bad[20] = 0
    assert "not erased" in (validate_region("storage", bytes(bad), layout) or "")
    v1 = seed_region(plan(PlanConfig("attiny85", storage_bytes=512)), {1: b"x"})[:256]
    assert validate_region("storage", v1, plan(PlanConfig("attiny45", storage_bytes=256))) is not None
    assert validate_region("log", region, layout) == "storage format 2 has no log region"


def test_a_log_on_a_format_2_part_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="^log-unsupported: "):
        plan(PlanConfig("attiny45", log_bytes=128))


# ---- power cuts and corruption ---------------------------------------------------------------------------
POWER_CUT_CASES = [  # page size, pages, keys, max value, cold keys
    (32, 2, 2, 2, 1), (32, 4, 4, 8, 1), (64, 4, 6, 8, 3), (64, 8, 6, 12, 2), (128, 3, 6, 32, 2),
]


@pytest.mark.parametrize("page_size,pages,keys,max_value,cold", POWER_CUT_CASES)
def test_every_acknowledged_write_survives_a_power_cut_at_any_page_operation(
        page_size: int, pages: int, keys: int, max_value: int, cold: int) -> None:
    """Every page operation of a random workload (with cold keys that compaction must copy) is cut, torn by a
    random share of its bit changes and by shares near 1 (a header complete, a copy not): after the reboot
    every acknowledged value reads back, mount wrote nothing, and the store takes a new write."""
    res = power_cut_campaign(40 + pages, 500, fmt=2, page_size=page_size, pages=pages, keys=keys,
                             max_value=max_value, cold=cold, variants=2)
    aimed = power_cut_campaign(50 + pages, 300, fmt=2, page_size=page_size, pages=pages, keys=keys,
                               max_value=max_value, cold=cold, variants=2, fractions=(0.9, 0.97, 0.99, 0.999))
    assert res.cut_points == 500 and aimed.cut_points == 300
    assert res.failures == [] and aimed.failures == []


class HeaderWithCopies(v2.StorageModelV2):
    """A broken twin (the prototype's SF2_BREAK=1): compaction's copies and header in one page write."""

    pending = b""

    def write_copies(self, page: int, copies: bytes) -> None:
        self.pending = copies

    def run_ok(self, page: int, o: int, e: int) -> int:
        return OK if self.pending else super().run_ok(page, o, e)

    def write_header(self, page: int, header: bytes, o: int, rec: bytes) -> None:
        body, self.pending = self.pending, b""
        self.flash.program(page * self.P, header + body + b"\xff" * (o - v2.HDR - len(body)) + rec)


def test_the_power_cut_campaign_catches_a_header_written_with_the_copies() -> None:
    """The campaign can fail: a tear that completes the header and leaves a copy torn drops the oldest page with
    a live value in it. Aimed tears find it within a few hundred cut points."""
    try:
        res = power_cut_campaign(7, 600, fmt=2, model=HeaderWithCopies, page_size=64, pages=4, keys=6, cold=3,
                                 variants=2, fractions=(0.9, 0.97, 0.99, 0.999))
        failures = res.failures
    except CampaignFailure as exc:
        failures = [str(exc)]
    assert failures and "committed" in failures[0]


def test_corrupted_regions_mount_without_writing_and_keep_the_values_whose_bytes_are_untouched() -> None:
    res = corruption_campaign(23, 1500, fmt=2)
    assert res.checks == 1500 and res.failures == []
    res = corruption_campaign(24, 500, fmt=2, page_size=32, pages=8, keys=4)
    assert res.failures == []


def test_random_bytes_mount_and_answer_without_crashing_or_writing() -> None:
    rng = random.Random(9)
    for _ in range(300):
        pages = rng.choice((2, 3, 8))
        flash = FlashEmu(32, pages, rng.randbytes(32 * pages))
        for p in range(pages):  # a few pages with headers that pass, so the chain logic runs on garbage
            if rng.random() < 0.5:
                flash.data[p * 32:p * 32 + 6] = hdr(rng.randrange(256), rng.randrange(256), rng.randrange(65536))
        before = bytes(flash.data)
        s = v2.StorageModelV2(flash)
        s.items()
        s.stats()
        assert bytes(flash.data) == before
        assert s.put(7, b"ok") in (OK, ERR_FULL)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_power_cut_campaign_sweep(seed: int) -> None:
    for page_size, pages, keys, max_value, cold in POWER_CUT_CASES:
        res = power_cut_campaign(1000 * seed + pages, 20_000, fmt=2, page_size=page_size, pages=pages, keys=keys,
                                 max_value=max_value, cold=cold, variants=2,
                                 fractions=(() if seed % 2 else (0.5, 0.9, 0.99, 0.999)))
        assert res.failures == []


@pytest.mark.slow
def test_corruption_campaign_sweep() -> None:
    assert corruption_campaign(31, 20_000, fmt=2).failures == []


def test_the_campaign_module_names_both_twins() -> None:
    assert campaign.twin(2) is v2.StorageModelV2
