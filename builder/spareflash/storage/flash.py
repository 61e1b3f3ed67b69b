"""An emulated AVR flash region with the physics the storage formats rely on.

* erase sets every byte of a page to 0xFF;
* program ANDs new bytes into a page (bits only go 1 -> 0), which is what the chip does with the page buffer
  words the firmware did not fill (they stay 0xFFFF);
* a power cut can be injected at any page operation, leaving the page torn: a random subset of the 1 -> 0 bits of
  an in-flight program, or a random subset of bits set to 1 by an in-flight erase.
"""

from __future__ import annotations

import random
from typing import Callable


class PowerCut(Exception):
    """Raised by FlashEmu when an injected power cut stops a page operation."""


# A hook called before each page operation: (flash, kind, page, offset, data) -> None.
OpHook = Callable[["FlashEmu", str, int, int, bytes], None]


class FlashEmu:
    def __init__(self, page_size: int, pages: int, data: bytes | None = None) -> None:
        self.page_size = page_size
        self.pages = pages
        self.data = bytearray(data) if data is not None else bytearray(b"\xff" * (page_size * pages))
        if len(self.data) != page_size * pages:
            raise ValueError("flash image size does not match the region")
        self.erases = [0] * pages  # true erase counts, for endurance figures
        self.programs_since_erase = [0] * pages
        self.max_programs_between_erases = 0
        self.op_count = 0
        self.program_ops = 0
        self.erase_ops = 0
        self.hook: OpHook | None = None

    def copy(self) -> FlashEmu:
        f = FlashEmu(self.page_size, self.pages, bytes(self.data))
        f.erases = list(self.erases)
        f.programs_since_erase = list(self.programs_since_erase)
        return f

    def read(self, addr: int, n: int = 1) -> bytes:
        return bytes(self.data[addr:addr + n])

    def byte(self, addr: int) -> int:
        return self.data[addr]

    def erase(self, page: int) -> None:
        if not 0 <= page < self.pages:
            raise ValueError(f"erase outside the region: page {page}")
        if self.hook:
            self.hook(self, "erase", page, 0, b"")
        self.op_count += 1
        self.erase_ops += 1
        base = page * self.page_size
        self.data[base:base + self.page_size] = b"\xff" * self.page_size
        self.erases[page] += 1
        self.programs_since_erase[page] = 0

    def program(self, addr: int, src: bytes) -> None:
        page, off = divmod(addr, self.page_size)
        if not 0 <= page < self.pages or off + len(src) > self.page_size or not src:
            raise ValueError(f"program outside one page of the region: 0x{addr:X}+{len(src)}")
        if self.hook:
            self.hook(self, "program", page, off, bytes(src))
        self.op_count += 1
        self.program_ops += 1
        for i, b in enumerate(src):
            self.data[addr + i] &= b
        self.programs_since_erase[page] += 1
        self.max_programs_between_erases = max(self.max_programs_between_erases, self.programs_since_erase[page])

    # -- torn operations (applied to a copy by the power-cut campaign) --------------------------------------
    def torn_program(self, addr: int, src: bytes, rng: random.Random, fraction: float | None = None) -> None:
        """Apply a random subset of the 1 -> 0 bits the program would have made."""
        p = rng.random() if fraction is None else fraction
        for i, b in enumerate(src):
            old = self.data[addr + i]
            clear = old & ~b & 0xFF
            keep = 0
            for bit in range(8):
                if clear & (1 << bit) and rng.random() < p:
                    keep |= 1 << bit
            self.data[addr + i] = old & ~keep & 0xFF

    def torn_erase(self, page: int, rng: random.Random, fraction: float | None = None) -> None:
        """Set a random subset of the page's 0 bits to 1."""
        p = rng.random() if fraction is None else fraction
        base = page * self.page_size
        for i in range(self.page_size):
            old = self.data[base + i]
            zeros = ~old & 0xFF
            if not zeros:
                continue
            sets = 0
            for bit in range(8):
                if zeros & (1 << bit) and rng.random() < p:
                    sets |= 1 << bit
            self.data[base + i] = old | sets
