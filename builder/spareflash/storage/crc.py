"""CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first): the same as avr-libc's `_crc_xmodem_update`
started from 0xFFFF, which is what the C++ side uses (docs/storage-format.md, "CRCs")."""

from __future__ import annotations

from typing import Iterable


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _make_table()


def crc16(data: Iterable[int], crc: int = 0xFFFF) -> int:
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc
