"""The Python twin of FlashEEPROM (library/src/FlashEEPROM.cpp): 16-byte chunks under keys address // 16."""

from __future__ import annotations

from .store import OK, StorageModel

CHUNK = 16
LENGTH = 256  # SPAREFLASH_EEPROM_LENGTH


class EEPROMModel:
    def __init__(self, store: StorageModel, length: int = LENGTH) -> None:
        self.store = store
        self.length = length
        self.status = OK

    def _chunk(self, c: int) -> bytearray:
        st, val = self.store.get(c, CHUNK)
        return bytearray(val) if st == OK and val is not None else bytearray(b"\xff" * CHUNK)

    def read(self, idx: int, n: int) -> bytes:
        out = bytearray()
        while n:
            a = idx % self.length
            off = a % CHUNK
            take = min(CHUNK - off, n)
            out += self._chunk(a // CHUNK)[off:off + take]
            idx, n = idx + take, n - take
        return bytes(out)

    def write(self, idx: int, data: bytes) -> int:
        pos = 0
        while pos < len(data):
            a = idx % self.length
            off, c = a % CHUNK, a // CHUNK
            buf = self._chunk(c)
            take = min(CHUNK - off, len(data) - pos)
            if buf[off:off + take] != data[pos:pos + take]:
                buf[off:off + take] = data[pos:pos + take]
                self.status = self.store.put(c, bytes(buf))
            idx, pos = idx + take, pos + take
        return self.status
