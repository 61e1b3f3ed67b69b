"""The Python twin of FlashStorage format v2 (docs/storage-format-v2.md), the format of the tiny parts.

It reproduces the engine's algorithm step by step (the C reference engine SfMini and the assembly engine the
ATtiny25/45 build uses): the same page operations in the same order, the same bytes in each, the same erase
counts, the same status codes and stats. Section numbers below refer to docs/storage-format-v2.md.

Engine state (RAM, rebuilt by mount): `head`, `head_seq`, `used` (U, pages in the chain, 0 for an empty store),
`off` (append offset in the head, P when the head is closed), `n` (pages, 0 when mount refused the region).
All sequence arithmetic is mod 256, as the engine's uint8_t.
"""

from __future__ import annotations

from .crc import record_check
from .flash import FlashEmu
from .store import ERR_ARG, ERR_FULL, ERR_NO_REGION, ERR_NOT_FOUND, OK, Stats, present_items

HDR = 6  # seq, oldest, erase count (u16 little endian), crc8, berger
REC_OVERHEAD = 4  # key, len, crc8, berger
KEY_END = 0xFF  # a key byte of 0xFF ends a page's records; not a valid key
MIN_PAGES = 2
MAX_PAGES = 127  # 8-bit seq with serial arithmetic: at most 127 pages can be told apart
ENDURANCE = 10_000  # SF_ENDURANCE (library/src/spareflash_pages.h)
AVG_EMPTY = 8  # stats(): the record size assumed when nothing is stored

# status codes of library/src/spareflash_status.h that only v2 returns from the model
ERR_VERIFY = 0x03
ERR_NOT_BEGUN = 0x24
_AGAIN = 0xFF  # start(): the record did not fit behind the copies, start the next page (never returned)


def max_value(page_size: int) -> int:
    """MAXV: the largest value, min(32, P - 10): a record (4 + value) always fits a page behind its header."""
    return min(32, page_size - HDR - REC_OVERHEAD)


def check_bytes(body: bytes | bytearray) -> bytes:
    """The 2 check bytes of every unit on flash (header and record): crc8, then the Berger byte (section 2)."""
    return record_check(body)


def header_bytes(seq: int, oldest: int, erase_count: int) -> bytes:
    body = bytes([seq & 0xFF, oldest & 0xFF, erase_count & 0xFF, (erase_count >> 8) & 0xFF])
    return body + check_bytes(body)


def record_bytes(key: int, value: bytes) -> bytes:
    body = bytes([key, len(value)]) + value
    return body + check_bytes(body)


class StorageModelV2:
    """Key/value store in format v2. Keys 0..254, values 1..max_value(P) bytes; 2 <= pages <= 127."""

    def __init__(self, flash: FlashEmu) -> None:
        self.flash = flash
        self.P = flash.page_size
        self.max_value = max_value(self.P)
        self.n = 0
        self.head, self.head_seq, self.used, self.off = 0, 0xFF, 0, self.P
        self.mount()

    # ---- flash access -----------------------------------------------------------------------------------
    def b(self, page: int, off: int) -> int:
        return self.flash.data[page * self.P + off]

    def u16(self, page: int, off: int) -> int:
        return self.b(page, off) | (self.b(page, off + 1) << 8)

    def unit_ok(self, page: int, off: int, n: int) -> bool:
        """The n body bytes at off are followed by their check bytes."""
        a = page * self.P + off
        return check_bytes(self.flash.data[a:a + n]) == self.flash.data[a + n:a + n + 2]

    def hdr_ok(self, page: int) -> bool:
        return self.unit_ok(page, 0, HDR - 2)

    def rec_size(self, page: int, off: int) -> int:
        """Size of the record at off, 0 where the walk ends: no room for a record, key 0xFF, len > MAXV or a
        record that would cross the page end."""
        if off + REC_OVERHEAD > self.P:
            return 0
        n = self.b(page, off + 1)
        if self.b(page, off) == KEY_END or n > self.max_value or off + REC_OVERHEAD + n > self.P:
            return 0
        return REC_OVERHEAD + n

    def rec_ok(self, page: int, off: int) -> bool:
        return self.unit_ok(page, off, self.b(page, off + 1) + 2)

    def records(self, page: int) -> list[int]:
        out: list[int] = []
        o = HDR
        while s := self.rec_size(page, o):
            out.append(o)
            o += s
        return out

    def walk_end(self, page: int) -> int:
        o = HDR
        while s := self.rec_size(page, o):
            o += s
        return o

    def scan(self, page: int, key: int) -> int | None:
        """Offset of the last good record of key in the page."""
        hit = None
        for o in self.records(page):
            if self.b(page, o) == key and self.rec_ok(page, o):
                hit = o
        return hit

    def blank(self, page: int, start: int = 0) -> bool:
        base = page * self.P
        return all(x == 0xFF for x in self.flash.data[base + start:base + self.P])

    # ---- mount (section 4) ------------------------------------------------------------------------------
    def mount(self) -> int:
        """Read only. ERR_NO_REGION unless 2 <= N <= 127 (then every call but mount answers as before a
        begin())."""
        pages = self.flash.pages
        self.n = 0
        if not MIN_PAGES <= pages <= MAX_PAGES:
            return ERR_NO_REGION
        self.n = pages
        self.used, self.head, self.head_seq, self.off = 0, self.n - 1, 0xFF, self.P
        for p in range(self.n):
            s = self.b(p, 0)
            # newer: (s - seq) mod 256 in 1..127; ties keep the lower page
            if self.hdr_ok(p) and (not self.used or 1 <= ((s - self.head_seq) & 0xFF) <= 127):
                self.head, self.head_seq, self.used = p, s, 1
        if self.used:
            u = (self.head_seq - self.b(self.head, 1) + 1) & 0xFF
            if ((u - 1) & 0xFF) >= self.n - 1:  # only a corrupt header says 0 or >= N: clamp to N - 1
                u = self.n - 1
            self.used = u
            e = self.walk_end(self.head)
            self.off = e if self.blank(self.head, e) else self.P  # a torn tail is never written over
        return OK

    # ---- reading (section 5) ----------------------------------------------------------------------------
    def latest(self, key: int) -> tuple[int, int] | None:
        """(page, offset) of the newest good record of key in the chain. A chain page whose seq byte is not the
        one its place expects (blank, torn, reused) is skipped."""
        p = self.head
        for i in range(self.used):
            if self.b(p, 0) == (self.head_seq - i) & 0xFF:
                o = self.scan(p, key)
                if o is not None:
                    return (p, o)
            p = p - 1 if p else self.n - 1
        return None

    def size_of(self, key: int) -> int:
        loc = self.latest(key)
        return self.b(loc[0], loc[1] + 1) if loc else 0

    def get(self, key: int, size: int | None = None) -> tuple[int, bytes | None]:
        loc = self.latest(key)
        n = self.b(loc[0], loc[1] + 1) if loc else 0
        if not loc or not n:
            return ERR_NOT_FOUND, None
        if size is not None and size != n:
            return ERR_ARG, None
        return OK, self.flash.read(loc[0] * self.P + loc[1] + 2, n)

    def contains(self, key: int) -> bool:
        return self.size_of(key) != 0

    # ---- writing (section 6) ----------------------------------------------------------------------------
    def run_ok(self, page: int, o: int, e: int) -> int:
        """Read-back verify of the records in [o, e): each walks and passes its check bytes."""
        while o < e:
            s = self.rec_size(page, o)
            if not s or not self.rec_ok(page, o):
                return ERR_VERIFY
            o += s
        return OK

    def erase(self, page: int) -> int:
        self.flash.erase(page)
        return OK if self.blank(page) else ERR_VERIFY

    def write_copies(self, page: int, copies: bytes) -> None:
        """Compaction's first write: the live records of the oldest page, from offset HDR, no header."""
        self.flash.program(page * self.P + HDR, copies)

    def write_header(self, page: int, header: bytes, o: int, rec: bytes) -> None:
        """The header, with the record at offset o behind it when it fits, in one page write. The bytes in
        between are not loaded into the page buffer (they stay 0xFF there and the write leaves them alone)."""
        self.flash.program(page * self.P, header + b"\xff" * (o - HDR) + rec if rec else header)

    def start(self, rec: bytes) -> int:
        """Start the page after the head with rec (b"": header only). OK, _AGAIN or an error status."""
        np = (self.head + 1) % self.n
        # Erase count: the page's own + 1, or the head's + 1 when its header is gone (pages are erased in ring
        # order, so neighbours differ by at most one); a blank region reads 0xFFFF + 1 = 0.
        e = (self.u16(np if self.hdr_ok(np) else self.head, 2) + 1) & 0xFFFF
        st = self.erase(np)
        if st:
            return st
        old = (self.head_seq + 1 - self.used) & 0xFF
        o = HDR
        if self.used == self.n - 1:
            # Compaction: np takes the live records of the oldest page O, whose place its header takes. Copies
            # first, verified, header last in its own write: it never counts before every copy is whole.
            op = (np + 1) % self.n
            copies = b""
            if self.b(op, 0) == old:
                for so in self.records(op):
                    if self.b(op, so + 1) and self.latest(self.b(op, so)) == (op, so):
                        copies += self.flash.read(op * self.P + so, self.rec_size(op, so))
            o += len(copies)
            if copies:
                self.write_copies(np, copies)
                st = self.run_ok(np, HDR, o)
                if st:
                    return st
            old = (old + 1) & 0xFF
        fit = rec if o + len(rec) <= self.P else b""
        self.write_header(np, header_bytes(self.head_seq + 1, old, e), o, fit)
        if not self.hdr_ok(np):
            return ERR_VERIFY
        self.head = np
        self.head_seq = (self.head_seq + 1) & 0xFF
        self.used = (self.head_seq - old + 1) & 0xFF
        self.off = self.P  # closed until the record is verified
        st = self.run_ok(np, o, o + len(fit))
        if st:
            return st
        self.off = o + len(fit)
        return OK if len(fit) == len(rec) else _AGAIN

    def append(self, rec: bytes) -> int:
        if not self.n:
            return ERR_NOT_BEGUN
        if self.off + len(rec) <= self.P:
            o = self.off
            self.off = self.P
            self.flash.program(self.head * self.P + o, rec)
            st = self.run_ok(self.head, o, o + len(rec))
            if not st:
                self.off = o + len(rec)
            return st
        for _ in range(self.n):
            st = self.start(rec)
            if st != _AGAIN:
                return st
        return ERR_FULL

    # ---- API --------------------------------------------------------------------------------------------
    def put(self, key: int, value: bytes) -> int:
        if key == KEY_END or not 1 <= len(value) <= self.max_value:
            return ERR_ARG
        return self.append(record_bytes(key, bytes(value)))

    def remove(self, key: int) -> int:
        if key == KEY_END:
            return ERR_ARG
        if not self.contains(key):
            return OK
        return self.append(record_bytes(key, b""))

    def format(self) -> int:
        """A new head whose `oldest` is its own seq: one erase and one write, atomic."""
        if not self.n:
            return ERR_NOT_BEGUN
        u = self.used
        self.used = 0
        st = self.start(b"")
        if st:
            self.used = u
        return st

    # ---- inspection -------------------------------------------------------------------------------------
    def items(self) -> dict[int, bytes]:
        return present_items(self.get)

    def erase_counts(self) -> list[int]:
        """Erase count per page from its header; 0 for a page without a valid header."""
        return [self.u16(p, 2) if self.hdr_ok(p) else 0 for p in range(self.n)]

    def stats(self) -> Stats:
        """SfStats, with the engine's 16-bit arithmetic and integer divisions."""
        live = count = 0
        for key in range(255):
            n = self.size_of(key)
            if n:
                live += REC_OVERHEAD + n
                count += 1
        ecs = self.erase_counts()
        mn, mx = min(ecs, default=0xFFFF), max(ecs, default=0)
        free = ((self.P - self.off) + (self.n - self.used) * (self.P - HDR)) & 0xFFFF
        avg = live // count if count else AVG_EMPTY
        remaining = (ENDURANCE - mx) * self.n * ((self.P - HDR) // avg) & 0xFFFFFFFF if mx < ENDURANCE else 0
        return Stats(self.n, self.P, live & 0xFFFF, count, free, mn, mx, remaining, ecs)
