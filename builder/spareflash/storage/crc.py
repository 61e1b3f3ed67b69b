"""Checks of docs/storage-format.md, "CRCs". Page headers: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB
first), the same as avr-libc's `_crc_xmodem_update` started from 0xFFFF. Records: CRC-8 + Berger byte
(`record_check`), the same as library/src/spareflash_crc.c."""

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


def _make_table8() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return table


_TABLE8 = _make_table8()
_ZEROS = [8 - bin(i).count("1") for i in range(256)]


def crc8(data: Iterable[int], crc: int = 0xFF) -> int:
    """CRC-8, polynomial 0x07, MSB first, no final XOR: avr-libc's `_crc8_ccitt_update` started from 0xFF."""
    for b in data:
        crc = _TABLE8[crc ^ b]
    return crc


def zero_bits(data: Iterable[int]) -> int:
    return sum(_ZEROS[b] for b in data)


def record_check(body: bytes | bytearray) -> bytes:
    """A record's 2 check bytes (docs/storage-format.md, "CRCs"): CRC-8 of the body, then the Berger byte, the
    number of 0-bits in the body and the CRC-8 byte, mod 256. A torn write (bits left at 1 that should have become
    0) lowers the real 0-count and can only raise the stored count, so it never passes while the covered bytes
    hold <= 255 zero bits; random bytes pass with p ~ 2^-16."""
    c = crc8(body)
    return bytes([c, (zero_bits(body) + zero_bits([c])) & 0xFF])
