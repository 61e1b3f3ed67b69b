"""FlashStorage / FlashLog / FlashEEPROM: the Python model, which is the specification the C++ is held to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spareflash.plan import PlanConfig, plan
from spareflash.storage import (
    FlashEmu,
    LogModel,
    PowerCut,
    StorageModel,
    decode_log,
    decode_storage,
    seed_region,
    validate_region,
)
from spareflash.storage import store as st
from spareflash.storage.eeprom import EEPROMModel
from spareflash.storage.log import POLICY_OVERWRITE, POLICY_STOP

ROOT = Path(__file__).resolve().parents[1]


def fresh(page: int = 128, pages: int = 32, single_write: bool = False) -> StorageModel:
    return StorageModel(FlashEmu(page, pages), single_write=single_write)


def test_status_codes_are_the_ones_of_the_c_header() -> None:
    text = (ROOT / "library/src/spareflash_status.h").read_text()
    codes = {m[0]: int(m[1], 16) for m in re.findall(r"#define (SF_\w+) (0x[0-9A-Fa-f]+)", text)}
    assert codes["SF_OK"] == st.OK
    assert codes["SF_ERR_ARG"] == st.ERR_ARG
    assert codes["SF_ERR_FULL"] == st.ERR_FULL
    assert codes["SF_ERR_NOT_FOUND"] == st.ERR_NOT_FOUND
    assert codes["SF_ERR_TOO_LARGE"] == st.ERR_TOO_LARGE
    assert codes["SF_ERR_NO_REGION"] == st.ERR_NO_REGION


def test_put_get_remove_contains_and_survive_a_reboot() -> None:
    s = fresh()
    assert s.get(1) == (st.ERR_NOT_FOUND, None)
    assert s.put(1, b"\x01\x02\x03\x04") == st.OK
    assert s.put(2, b"hello") == st.OK
    assert s.put(1, b"\x05\x06\x07\x08") == st.OK
    assert s.get(1) == (st.OK, b"\x05\x06\x07\x08")
    assert s.get(1, 2) == (st.ERR_ARG, None)  # the caller's type has another size
    assert s.remove(2) == st.OK and not s.contains(2)
    again = StorageModel(s.flash)
    assert again.items() == {1: b"\x05\x06\x07\x08"}


def test_bad_arguments_are_refused_without_writing() -> None:
    s = fresh()
    ops = s.flash.op_count
    assert s.put(255, b"x") == st.ERR_ARG
    assert s.put(1, b"") == st.ERR_TOO_LARGE
    assert s.put(1, b"x" * (st.MAX_VALUE + 1)) == st.ERR_TOO_LARGE
    assert s.flash.op_count == ops


def test_put_programs_only_its_record_and_never_erases_per_put() -> None:
    s = fresh()
    s.put(1, b"abcd")
    before = bytes(s.flash.data)
    erases = s.flash.erase_ops
    s.put(2, b"wxyz")
    changed = [i for i, (a, b) in enumerate(zip(before, s.flash.data)) if a != b]
    assert s.flash.erase_ops == erases
    assert len(changed) <= 8 and max(changed) - min(changed) < 8  # one 8-byte record, nothing else


def test_benchmark_workload_meets_the_page_operation_and_endurance_targets() -> None:
    """ATmega328P figures: 4 KB region, 16 keys of 4 bytes. Mean <= 1.15 page operations per put, worst <= 3,
    endurance >= 45% of region_bytes * 10,000 / 4 updates (checked from the erase rate)."""
    s = fresh(128, 32)
    worst = 0
    n = 4000
    for i in range(n):
        before = s.flash.op_count
        assert s.put(i % 16, (i * 2654435761 & 0xFFFFFFFF).to_bytes(4, "little")) == st.OK
        worst = max(worst, s.flash.op_count - before)
    assert s.flash.op_count / n <= 1.15
    assert worst <= 3
    updates_per_erase = n / s.flash.erase_ops
    endurance = updates_per_erase * 32 * 10_000
    assert endurance >= 0.45 * 4096 * 10_000 / 4
    # wear levelling: every page was erased, within one erase of each other
    assert max(s.flash.erases) - min(s.flash.erases) <= 1


def test_pages_are_programmed_a_bounded_number_of_times_between_erases() -> None:
    s = fresh(128, 8)
    for i in range(2000):
        s.put(i % 5, bytes([i & 0xFF]))  # smallest records: the most programs per page
    assert s.flash.max_programs_between_erases <= (128 - st.HDR) // (st.REC_OVERHEAD + 1) + 1


def test_single_write_mode_never_programs_a_page_twice_between_erases() -> None:
    s = fresh(64, 16, single_write=True)
    for i in range(500):
        assert s.put(i % 4, bytes([i & 0xFF, 1])) == st.OK
        if i % 7 == 0:
            s.remove((i + 1) % 4)
    assert s.flash.max_programs_between_erases == 1
    assert StorageModel(s.flash, single_write=True).items() == s.items()


def test_stats_report_wear_and_space() -> None:
    s = fresh(128, 32)
    for i in range(1000):
        s.put(i % 16, i.to_bytes(4, "little"))
    stats = s.stats()
    assert stats.live_records == 16 and stats.live_bytes == 16 * 8
    assert stats.min_erase >= 1 and stats.max_erase - stats.min_erase <= 2
    assert 0 < stats.free_bytes < 32 * 128
    assert stats.remaining_writes > 4_000_000


def test_format_clears_values_and_keeps_wear_history() -> None:
    s = fresh(128, 4)
    for i in range(300):
        s.put(1, bytes([i & 0xFF]))
    worn = max(s.erase_counts())
    assert s.format() == st.OK
    assert s.items() == {}
    assert max(s.erase_counts()) > worn


def test_log_iterates_oldest_to_newest_and_stops_or_overwrites_when_full() -> None:
    log = LogModel(FlashEmu(64, 3), policy=POLICY_STOP)
    recs = [bytes([i]) * 10 for i in range(100)]
    results = [log.append(r) for r in recs]
    stored = results.index(st.ERR_FULL)
    assert all(r == st.OK for r in results[:stored]) and stored >= 8
    assert log.records() == recs[:stored]
    log = LogModel(FlashEmu(64, 3), policy=POLICY_OVERWRITE)
    for r in recs:
        assert log.append(r) == st.OK
    kept = log.records()
    assert kept == recs[-len(kept):] and len(kept) >= 6  # a suffix: the newest, in order
    assert LogModel(log.flash).records() == kept


def test_eeprom_model_reads_ff_until_written_and_writes_only_changes() -> None:
    e = EEPROMModel(fresh(128, 8))
    assert e.read(0, 4) == b"\xff" * 4
    e.write(14, b"\x01\x02\x03\x04")  # crosses a chunk boundary
    assert e.read(12, 8) == b"\xff\xff\x01\x02\x03\x04\xff\xff"
    ops = e.store.flash.op_count
    e.write(15, b"\x02")
    assert e.store.flash.op_count == ops
    assert e.read(256 + 14, 1) == b"\x01"  # addresses wrap at length()


def test_seed_region_is_what_the_firmware_reads_and_dump_decodes_it() -> None:
    layout = plan(PlanConfig("atmega328p", log_bytes=512))
    region = seed_region(layout, {1: 7, 2: b"abc", 3: "name"})
    assert len(region) == layout.storage.size
    decoded = decode_storage(region, layout.chip.page_size)
    assert decoded["values"] == {1: "07", 2: b"abc".hex(), 3: b"name".hex()}
    assert decoded["erase_counts"][0] == 1
    assert decode_log(b"\xff" * 512, 128)["records"] == []


def test_dump_names_the_pages_that_hold_data_without_a_valid_header() -> None:
    layout = plan(PlanConfig("atmega328p", log_bytes=512))
    region = bytearray(seed_region(layout, {1: 7}))
    P = layout.chip.page_size
    assert decode_storage(bytes(region), P)["damaged_pages"] == []  # seeded page 0, the rest erased
    region[5 * P + 17] = 0x00  # garbage in an erased page
    region[0] ^= 0x01  # page 0's header no longer passes its CRC
    decoded = decode_storage(bytes(region), P)
    assert decoded["damaged_pages"] == [0, 5]
    assert decoded["values"] == {}  # the only value was behind the broken header
    log = bytearray(b"\xff" * 512)
    log[3 * P] = 0x42
    assert decode_log(bytes(log), P)["damaged_pages"] == [3]


@pytest.mark.parametrize("page", [64, 128, 256])
def test_a_torn_record_is_ignored_and_the_page_is_closed(page: int) -> None:
    s = fresh(page, 4)
    s.put(1, b"old!")
    before = bytes(s.flash.data)
    s.put(1, b"new!")
    # tear the second record: only some of its bits reached the flash
    torn = FlashEmu(page, 4, before)
    rec = st.record_bytes(1, b"new!")
    addr = s.head * page + s.head_off - len(rec)
    import random

    torn.torn_program(addr, rec, random.Random(3), fraction=0.5)
    r = StorageModel(torn)
    assert r.get(1) == (st.OK, b"old!")
    assert r.put(2, b"next") == st.OK and r.get(2) == (st.OK, b"next")


@pytest.mark.parametrize("single_write", [False, True])
def test_a_header_that_passes_its_crc_by_chance_does_not_become_the_head(single_write: bool) -> None:
    """A torn or garbage page whose header CRC passes by chance (1 in 65,536) is rejected as the head when its
    seq does not follow its predecessor's, when its first record is not intact, or when its seq - oldest >= N;
    the committed values stay readable (docs/storage-format.md 4.2)."""
    P, N = 64, 6
    s = fresh(P, N, single_write)
    assert s.put(1, b"one") == st.OK and s.put(2, b"two") == st.OK
    head, head_seq, oldest = s.head, s.head_seq, s.oldest
    nxt = (head + 1) % N
    rec = st.record_bytes(3, b"new")

    def mounted_with(page: bytes) -> StorageModel:
        flash = FlashEmu(P, N, bytes(s.flash.data))
        flash.data[nxt * P:(nxt + 1) * P] = page.ljust(P, b"\xff")
        return StorageModel(flash, single_write=single_write)

    good = st.header_bytes(st.STORE_MAGIC, head_seq + 1, oldest, 1)
    assert mounted_with(good + rec).head == nxt  # the control: a real new page is the head
    cases = {
        "seq jumps": st.header_bytes(st.STORE_MAGIC, head_seq + 5, oldest + 4, 1) + rec,
        "first record torn": good + rec[:-1] + bytes([rec[-1] ^ 0x10]),
        "no first record": good,
        "seq - oldest >= N": st.header_bytes(st.STORE_MAGIC, head_seq + 1, (head_seq + 1 - N) & 0xFFFF, 1) + rec,
    }
    for name, page in cases.items():
        r = mounted_with(page)
        assert r.head == head, name
        assert r.get(1) == (st.OK, b"one") and r.get(2) == (st.OK, b"two"), name


def test_removing_a_key_that_is_not_stored_writes_nothing() -> None:
    s = fresh()
    assert s.put(1, b"abcd") == st.OK
    ops = s.flash.op_count
    assert s.remove(2) == st.OK and s.flash.op_count == ops  # no tombstone for a key nobody can read
    assert s.remove(1) == st.OK and s.flash.op_count == ops + 1 and not s.contains(1)


def test_garbage_collection_drops_a_tombstone_instead_of_copying_it_forever() -> None:
    """docs/storage-format.md 5.3: a tombstone is not live; once its page is the oldest nothing older is left to
    hide, so GC skips it and the removed key leaves no record behind."""
    s = fresh(64, 4)
    assert s.put(9, b"gone") == st.OK and s.remove(9) == st.OK
    for i in range(200):
        assert s.put(i % 3, bytes([i & 0xFF]) * 4) == st.OK
    assert not s.contains(9)
    assert [(p, o) for p in range(s.N) for o in s.records(p) if s.b(p, o) == 9] == []


def test_a_length_byte_above_max_value_ends_a_pages_records_and_closes_the_page() -> None:
    s = fresh(128, 4)
    assert s.put(1, b"abcd") == st.OK
    head, off = s.head, s.head_off
    s.flash.program(head * 128 + off, bytes([2, st.MAX_VALUE + 1]))  # a length no put writes (a torn record)
    r = StorageModel(s.flash)
    assert r.records(head) == [st.HDR] and r.head_off == 128
    assert r.get(1) == (st.OK, b"abcd")
    assert r.put(2, b"next") == st.OK and r.head != head and r.get(2) == (st.OK, b"next")


def test_a_zero_length_byte_ends_a_log_pages_records_and_closes_the_page() -> None:
    log = LogModel(FlashEmu(64, 3))
    assert log.append(b"abc") == st.OK
    head, off = log.head, log.head_off
    log.flash.program(head * 64 + off, b"\x00")  # log records are 1..max_record bytes long
    r = LogModel(log.flash)
    assert r.records() == [b"abc"] and r.head_off == 64
    assert r.append(b"next") == st.OK and r.head != head and r.records() == [b"abc", b"next"]


def test_a_torn_copy_write_never_commits_the_page_that_takes_the_oldest_pages_records() -> None:
    """docs/storage-format.md 5.3: on the last free page the copies of the oldest page's live records are
    programmed first and the header last. A power cut that tears the copy write (here: the first copied record
    complete, the rest not) leaves a page without a header, so the oldest page, still in the chain, keeps them."""
    import copy

    s = fresh(64, 4)  # 14 keys of 1..8 bytes nearly fill 4 pages of 64: new pages are often the last free one
    committed: dict[int, bytes] = {}
    torn_copies = 0
    for i in range(300):
        key, value = i % 14, bytes([i & 0xFF]) * (1 + i % 8)
        trial = copy.deepcopy(s)

        def tear(flash: FlashEmu, kind: str, page: int, off: int, data: bytes) -> None:
            first = st.REC_OVERHEAD + data[1] if kind == "program" and off == st.HDR else len(data)
            if first < len(data):  # a write of several records at once: a GC copy onto a new page
                flash.data[page * flash.page_size + off:page * flash.page_size + off + first] = data[:first]
                raise PowerCut()

        trial.flash.hook = tear
        try:
            trial.put(key, value)
        except PowerCut:
            torn_copies += 1
            after = StorageModel(FlashEmu(64, 4, bytes(trial.flash.data)))
            assert {k: after.get(k)[1] for k in committed if k != key} == {
                k: v for k, v in committed.items() if k != key}, f"put {i}"
        assert s.put(key, value) == st.OK
        committed[key] = value
    assert torn_copies >= 10


def test_validate_region_accepts_a_seeded_region_and_names_what_is_wrong_with_a_damaged_one() -> None:
    layout = plan(PlanConfig("atmega328p", log_bytes=512))
    region = seed_region(layout, {1: 7, 2: b"abc"})  # page 0: header, then records at +8 (5 bytes) and +13 (7)
    assert validate_region("storage", region, layout) is None
    bad_crc = bytearray(region)
    bad_crc[st.HDR + 2] ^= 0x01  # the first record's value byte
    assert validate_region("storage", bytes(bad_crc), layout) == "storage page 0: the record at +8 fails its CRC"
    dirty_tail = bytearray(region)
    dirty_tail[100] = 0x00
    assert validate_region("storage", bytes(dirty_tail), layout) == (
        "storage page 0: bytes after the last record at +20 are not erased")
    assert validate_region("storage", b"\xff" * layout.storage.size, layout) == "no formatted storage page"
