"""The Python twin of FlashStorage (library/src/FlashStorage.cpp): same format, same decisions, same bytes.

Read docs/storage-format.md first; every rule below has a section there. The C++ and this model must leave
byte-identical regions after the same operations (tests/test_storage_diff.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .crc import crc16, record_check
from .flash import FlashEmu

HDR = 8  # page header: seq u16, oldest u16, erase count u16, crc u16 (little endian)
REC_OVERHEAD = 4  # key, len, crc8, berger
MAX_VALUE = 32  # largest value; sizeof(T) for put/get (SPAREFLASH_MAX_VALUE in C++)
KEY_ERASED = 0xFF  # a key byte of 0xFF marks the end of a page's records
STORE_MAGIC = 0xA5  # fed into the header CRC first, so a log page never passes as a storage page
ENDURANCE = 10_000

# status codes: the values of library/src/spareflash_status.h (tests/test_storage_model.py checks them)
OK = 0x00
ERR_ARG = 0x08
ERR_FULL = 0x20
ERR_NOT_FOUND = 0x21
ERR_TOO_LARGE = 0x23
ERR_NO_REGION = 0x25


def header_bytes(magic: int, seq: int, oldest: int, erase_count: int) -> bytes:
    body = bytes([seq & 0xFF, seq >> 8, oldest & 0xFF, oldest >> 8, erase_count & 0xFF, erase_count >> 8])
    crc = crc16(body, crc16([magic]))
    return body + bytes([crc & 0xFF, crc >> 8])


def record_bytes(key: int, value: bytes) -> bytes:
    body = bytes([key, len(value)]) + value
    return body + record_check(body)


def present_items(get: Callable[[int], tuple[int, bytes | None]]) -> dict[int, bytes]:
    """Every key (0..254) a store's `get` finds, with its value: the same view for both formats' twins."""
    out: dict[int, bytes] = {}
    for key in range(255):
        st, val = get(key)
        if st == OK and val is not None:
            out[key] = val
    return out


@dataclass
class Stats:
    pages: int
    page_size: int
    live_bytes: int
    live_records: int
    free_bytes: int
    min_erase: int
    max_erase: int
    remaining_writes: int
    erase_counts: list[int] = field(default_factory=list)


class PagedRegion:
    """Header reading shared by the storage and the log."""

    magic = STORE_MAGIC

    def __init__(self, flash: FlashEmu, max_value: int = MAX_VALUE, single_write: bool = False) -> None:
        self.flash = flash
        self.P = flash.page_size
        self.N = flash.pages
        self.max_value = min(max_value, self.P - HDR - REC_OVERHEAD)
        self.single_write = single_write

    def b(self, page: int, off: int) -> int:
        return self.flash.data[page * self.P + off]

    def u16(self, page: int, off: int) -> int:
        return self.b(page, off) | (self.b(page, off + 1) << 8)

    def hdr_valid(self, page: int) -> bool:
        base = page * self.P
        return crc16(self.flash.data[base:base + 6], crc16([self.magic])) == self.u16(page, 6)

    def page_counts(self, page: int) -> bool:
        """A page belongs to the ring if its header is intact and, for FlashStorage, its `seq - oldest` is below N
        (no page this library writes has more); in single-write mode also its first record (header and record
        are one page write there, so a torn write must free the whole page)."""
        if not self.hdr_valid(page):
            return False
        if self.magic == STORE_MAGIC and (self.seq(page) - self.u16(page, 2)) & 0xFFFF >= self.N:
            return False
        return not self.single_write or self.first_ok(page)

    def first_ok(self, page: int) -> bool:
        """The page's first record (written in the same page write as its header) is intact. A page without one
        is only format()'s empty FlashStorage page (seq 0, oldest 0)."""
        if self.b(page, HDR) == 0xFF:
            return self.magic == STORE_MAGIC and self.seq(page) == 0 and self.u16(page, 2) == 0
        size = self.rec_size(page, HDR)
        return bool(size) and self.rec_ok(page, HDR)

    def rec_size(self, page: int, off: int) -> int:
        raise NotImplementedError

    def rec_ok(self, page: int, off: int) -> bool:
        raise NotImplementedError

    def scan_end(self, page: int) -> int:
        """Offset of the first free byte of a page (the page size when the page is full or its tail is not blank)."""
        o = HDR
        while True:
            s = self.rec_size(page, o)
            if not s:
                break
            o += s
        return o if o < self.P and self.blank(page, o) else self.P

    def seq(self, page: int) -> int:
        return self.u16(page, 0)

    def erase_count(self, page: int) -> int | None:
        return self.u16(page, 4) if self.hdr_valid(page) else None

    def blank(self, page: int, start: int = 0) -> bool:
        base = page * self.P
        return all(x == 0xFF for x in self.flash.data[base + start:base + self.P])

    def find_head(self) -> int:
        """The newest page that counts (serial-number arithmetic, scanning pages 0..N-1) and can be the head: its
        first record is intact and its ring predecessor, if it counts, has the previous seq. Otherwise the
        candidate is dropped and the next newest tried: a torn header whose CRC passes by chance (1 in 65,536)
        must not become the head with a random seq (docs/storage-format.md 4.2)."""
        valid = [self.page_counts(p) for p in range(self.N)]
        while True:
            best, best_seq = -1, 0
            for p in range(self.N):
                if valid[p]:
                    s = self.seq(p)
                    if best < 0 or 1 <= ((s - best_seq) & 0xFFFF) < 0x8000:
                        best, best_seq = p, s
            if best < 0:
                return best
            pred = (best - 1) % self.N
            if self.first_ok(best) and (pred == best or not valid[pred] or self.seq(pred) == (best_seq - 1) & 0xFFFF):
                return best
            valid[best] = False

    def next_erase_count(self, page: int) -> int:
        """The erase count the page gets when it is erased now: its own + 1, or (min of all valid headers) + 1."""
        own = self.erase_count(page)
        if own is None:
            own = min((self.u16(p, 4) for p in range(self.N) if self.hdr_valid(p)), default=0)
        return min(own + 1, 0xFFFF)

    def erase_counts(self) -> list[int]:
        """Erase count per page as recorded in the headers; a page without a valid header shows 0."""
        return [self.erase_count(p) or 0 for p in range(self.N)]


class StorageModel(PagedRegion):
    """Key/value store: see docs/storage-format.md. Keys are 0..254, values 1..max_value bytes."""

    def __init__(self, flash: FlashEmu, max_value: int = MAX_VALUE, single_write: bool = False) -> None:
        super().__init__(flash, max_value, single_write)
        self.reserve = 2 if self.N >= 4 else 1
        self.mount()

    # ---- RAM state ---------------------------------------------------------------------------------------
    def mount(self) -> int:
        h = self.find_head()
        self.drain_off = HDR
        if h < 0:
            self.head, self.head_seq, self.oldest, self.head_off = self.N - 1, 0xFFFF, 0, self.P
            return OK
        self.head, self.head_seq = h, self.seq(h)
        self.oldest = self.u16(h, 2)  # page_counts(): head_seq - oldest < N
        self.head_off = self.P if self.single_write else self.scan_end(h)
        return OK

    def used(self) -> int:
        return (self.head_seq - self.oldest + 1) & 0xFFFF

    def page_of_seq(self, s: int) -> int:
        d = (self.head_seq - s) & 0xFFFF
        return (self.head - d) % self.N

    def chain_ok(self, page: int, s: int) -> bool:
        return self.page_counts(page) and self.seq(page) == s

    # ---- records -------------------------------------------------------------------------------------------
    def rec_size(self, page: int, off: int) -> int:
        """Size of the record at off, or 0 at the end of the page's records (erased key, bad length)."""
        if off + REC_OVERHEAD > self.P or self.b(page, off) == KEY_ERASED:
            return 0
        n = self.b(page, off + 1)
        if n > self.max_value or off + REC_OVERHEAD + n > self.P:
            return 0
        return REC_OVERHEAD + n

    def rec_ok(self, page: int, off: int) -> bool:
        n = self.b(page, off + 1)
        base = page * self.P + off
        return record_check(self.flash.data[base:base + 2 + n]) == self.flash.data[base + 2 + n:base + 4 + n]


    def records(self, page: int) -> list[int]:
        out: list[int] = []
        o = HDR
        while True:
            s = self.rec_size(page, o)
            if not s:
                return out
            out.append(o)
            o += s

    def latest(self, key: int) -> tuple[int, int] | None:
        """(page, offset) of the newest record of key with a good CRC, searching the chain newest first."""
        for i in range(self.used()):
            s = (self.head_seq - i) & 0xFFFF
            p = self.page_of_seq(s)
            if not self.chain_ok(p, s):
                continue
            found = -1
            for o in self.records(p):
                if self.b(p, o) == key and self.rec_ok(p, o):
                    found = o
            if found >= 0:
                return (p, found)
        return None

    # ---- writing ---------------------------------------------------------------------------------------------
    def advance(self, rec: bytes) -> tuple[int, int]:
        """Start the next page with rec in it: erase it if needed, program header + rec in one write.

        When the new page is the last free one (U = N - 1), it also takes the oldest page's remaining live
        records and its header's `oldest` skips that page, so the chain never holds all N pages while its oldest
        page has live records: a torn write that closes the head can then never leave a store with no page to
        free (docs/storage-format.md 5.3). The copies (and rec) are programmed first and the header last, in its
        own write: the page counts only once every copy is complete. If rec does not fit behind the copies, the
        page holds the copies only and the next page is started the same way (at most N pages)."""
        ops = 0
        for _ in range(self.N):
            if self.used() >= self.N and not self.reclaim_oldest():
                return ERR_FULL, ops
            body, oldest = b"", self.oldest
            if not self.single_write and self.used() == self.N - 1:
                body, oldest = self.live_tail(), (self.oldest + 1) & 0xFFFF
            split = bool(body)
            fits = HDR + len(body) + len(rec) <= self.P
            if fits:
                body += rec
            np = (self.head + 1) % self.N
            ec = self.next_erase_count(np)
            if not self.blank(np):
                self.flash.erase(np)
                ops += 1
            seq = (self.head_seq + 1) & 0xFFFF
            header = header_bytes(self.magic, seq, oldest, ec)
            if split:
                self.flash.program(np * self.P + HDR, body)
                ops += 1
                self.flash.program(np * self.P, header)
            else:
                self.flash.program(np * self.P, header + body)
            ops += 1
            self.head, self.head_seq = np, seq
            self.head_off = self.P if self.single_write else HDR + len(body)
            if oldest != self.oldest:
                self.oldest, self.drain_off = oldest, HDR
            if fits:
                return OK, ops
        return ERR_FULL, ops

    def live_tail(self) -> bytes:
        """The live records of the oldest page from drain_off on, back to back (what GC would still copy)."""
        o_page, out = self.page_of_seq(self.oldest), b""
        if self.chain_ok(o_page, self.oldest):
            o = self.drain_off
            while size := self.rec_size(o_page, o):
                if self.is_live(o_page, o):
                    out += self.flash.read(o_page * self.P + o, size)
                o += size
        return out

    def reclaim_oldest(self) -> bool:
        """Every page is in use (typically right after a reboot, when `oldest` comes from the head's header and
        garbage collection's progress is forgotten): free the oldest page if it holds nothing live."""
        o_page = self.page_of_seq(self.oldest)
        if self.chain_ok(o_page, self.oldest):
            o = self.drain_off
            while True:
                size = self.rec_size(o_page, o)
                if not size:
                    break
                if self.is_live(o_page, o):
                    return False
                o += size
        self.oldest = (self.oldest + 1) & 0xFFFF
        self.drain_off = HDR
        return True

    def append(self, rec: bytes) -> tuple[int, int]:
        if self.head_off + len(rec) <= self.P:
            self.flash.program(self.head * self.P + self.head_off, rec)
            self.head_off = self.P if self.single_write else self.head_off + len(rec)
            return OK, 1
        return self.advance(rec)

    def gc(self, budget: int) -> None:
        """Drain the oldest page while fewer than `reserve` pages are free; at most `budget` page operations."""
        loops = 0
        while budget > 0 and loops < self.N * self.P:
            loops += 1
            used = self.used()
            if self.N - used >= self.reserve or used <= 1:
                return
            o_page = self.page_of_seq(self.oldest)
            size = self.rec_size(o_page, self.drain_off) if self.chain_ok(o_page, self.oldest) else 0
            if not size:
                self.oldest = (self.oldest + 1) & 0xFFFF
                self.drain_off = HDR
                continue
            if self.is_live(o_page, self.drain_off):
                if self.head_off + size > self.P and (not self.single_write or self.N - used < 1 or budget < 2):
                    return  # no room in the head page: the copy waits for the next put's new page
                base = o_page * self.P + self.drain_off
                st, ops = self.append(bytes(self.flash.data[base:base + size]))
                if st != OK:
                    return
                budget -= ops
            self.drain_off += size

    def is_live(self, page: int, off: int) -> bool:
        # no CRC check of its own: latest() only returns records whose CRC is good
        return self.b(page, off + 1) != 0 and self.latest(self.b(page, off)) == (page, off)

    def _gc_budget(self, ops: int) -> int:
        return min(2 * self.N, 255) if self.single_write else max(3 - ops, 0)

    # ---- API ------------------------------------------------------------------------------------------------
    def put(self, key: int, value: bytes) -> int:
        if key == KEY_ERASED:
            return ERR_ARG
        if not 1 <= len(value) <= self.max_value:
            return ERR_TOO_LARGE
        if self.single_write:
            self.gc(self._gc_budget(0))  # restore the reserve first: a reboot may have stopped GC half-way
        st, ops = self.append(record_bytes(key, value))
        if st == OK:
            self.gc(self._gc_budget(ops))
        return st

    def get(self, key: int, size: int | None = None) -> tuple[int, bytes | None]:
        loc = self.latest(key) if key != KEY_ERASED else None
        if loc is None or self.b(loc[0], loc[1] + 1) == 0:
            return ERR_NOT_FOUND, None
        p, o = loc
        n = self.b(p, o + 1)
        if size is not None and size != n:
            return ERR_ARG, None
        return OK, self.flash.read(p * self.P + o + 2, n)

    def contains(self, key: int) -> bool:
        return self.get(key)[0] == OK

    def remove(self, key: int) -> int:
        if key == KEY_ERASED:
            return ERR_ARG
        if not self.contains(key):
            return OK
        if self.single_write:
            self.gc(self._gc_budget(0))
        st, ops = self.append(record_bytes(key, b""))
        if st == OK:
            self.gc(self._gc_budget(ops))
        return st

    def format(self) -> int:
        """Erase every page that is not blank; page 0 gets an empty header carrying the highest erase count."""
        ec = max((self.u16(p, 4) for p in range(self.N) if self.hdr_valid(p)), default=0)
        for p in range(self.N):
            if not self.blank(p):
                self.flash.erase(p)
        self.flash.program(0, header_bytes(self.magic, 0, 0, min(ec + 1, 0xFFFF)))
        return self.mount()

    # ---- inspection -------------------------------------------------------------------------------------
    def items(self) -> dict[int, bytes]:
        return present_items(self.get)

    def stats(self) -> Stats:
        live = self.items()
        live_bytes = sum(REC_OVERHEAD + len(v) for v in live.values())
        free = self.N - self.used()
        free_bytes = (self.P - self.head_off) + free * (self.P - HDR)
        ecs = self.erase_counts()
        avg = (live_bytes // len(live)) if live else REC_OVERHEAD + 4
        remaining_erases = sum(max(ENDURANCE - e, 0) for e in ecs)
        return Stats(self.N, self.P, live_bytes, len(live), free_bytes, min(ecs), max(ecs),
                     remaining_erases * ((self.P - HDR) // avg), ecs)
