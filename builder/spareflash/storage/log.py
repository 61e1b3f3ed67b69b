"""The Python twin of FlashLog (library/src/FlashLog.cpp): an append-only ring of pages, oldest to newest.

See docs/storage-format.md, "FlashLog". Records are [len, data..., crc8, berger]; a page header is the storage
header with the log magic and the `oldest` field unused (0xFFFF).
"""

from __future__ import annotations

from typing import Iterator

from .crc import record_check
from .flash import FlashEmu
from .store import ERR_FULL, ERR_TOO_LARGE, HDR, OK, PagedRegion, header_bytes

LOG_MAGIC = 0x5A
LOG_REC_OVERHEAD = 3  # len, crc8, berger
LOG_MAX_RECORD = 64  # SPAREFLASH_LOG_MAX_RECORD in C++ (clipped to the page)
POLICY_STOP = 0
POLICY_OVERWRITE = 1


def log_record_bytes(data: bytes) -> bytes:
    body = bytes([len(data)]) + data
    return body + record_check(body)


class LogModel(PagedRegion):
    magic = LOG_MAGIC

    def __init__(self, flash: FlashEmu, policy: int = POLICY_STOP, single_write: bool = False) -> None:
        super().__init__(flash, LOG_MAX_RECORD, single_write)
        self.max_record = min(LOG_MAX_RECORD, self.P - HDR - LOG_REC_OVERHEAD)
        self.policy = policy
        self.mount()

    def mount(self) -> int:
        h = self.find_head()
        if h < 0:
            self.head, self.head_seq, self.head_off = self.N - 1, 0xFFFF, self.P
            return OK
        self.head, self.head_seq = h, self.seq(h)
        self.head_off = self.P if self.single_write else self.scan_end(h)
        return OK

    def rec_size(self, page: int, off: int) -> int:
        if off + LOG_REC_OVERHEAD > self.P:
            return 0
        n = self.b(page, off)
        if n == 0 or n > self.max_record or off + LOG_REC_OVERHEAD + n > self.P:
            return 0
        return LOG_REC_OVERHEAD + n

    def rec_ok(self, page: int, off: int) -> bool:
        n = self.b(page, off)
        base = page * self.P + off
        return record_check(self.flash.data[base:base + 1 + n]) == self.flash.data[base + 1 + n:base + 3 + n]


    def chain(self) -> list[int]:
        """Pages of the log, oldest first: the run of pages ending at the head whose sequence numbers count down
        by one, page by page, backwards around the ring."""
        pages = []
        for i in range(self.N):
            p = (self.head - i) % self.N
            if not (self.page_counts(p) and self.seq(p) == (self.head_seq - i) & 0xFFFF):
                break
            pages.append(p)
        return pages[::-1]

    def in_chain(self, page: int) -> bool:
        return page in self.chain()

    def append(self, data: bytes) -> int:
        if not 1 <= len(data) <= self.max_record:
            return ERR_TOO_LARGE
        rec = log_record_bytes(data)
        if self.head_off + len(rec) <= self.P:
            self.flash.program(self.head * self.P + self.head_off, rec)
            self.head_off = self.P if self.single_write else self.head_off + len(rec)
            return OK
        np = (self.head + 1) % self.N
        if self.policy == POLICY_STOP and self.in_chain(np):
            return ERR_FULL
        ec = self.next_erase_count(np)
        if not self.blank(np):
            self.flash.erase(np)
        seq = (self.head_seq + 1) & 0xFFFF
        self.flash.program(np * self.P, header_bytes(self.magic, seq, 0xFFFF, ec) + rec)
        self.head, self.head_seq = np, seq
        self.head_off = self.P if self.single_write else HDR + len(rec)
        return OK

    def __iter__(self) -> Iterator[bytes]:
        for p in self.chain():
            o = HDR
            while True:
                s = self.rec_size(p, o)
                if not s:
                    break
                if self.rec_ok(p, o):
                    yield self.flash.read(p * self.P + o + 1, s - LOG_REC_OVERHEAD)
                o += s

    def records(self) -> list[bytes]:
        return list(self)

    def clear(self) -> int:
        for p in range(self.N):
            if not self.blank(p):
                self.flash.erase(p)
        return self.mount()
