"""avr-libc's view of a part, for tests that check the project's chip facts and simulator register maps against it."""

from __future__ import annotations

import re
import subprocess


def avr_libc_macros(mcu: str, headers: tuple[str, ...] = ("avr/io.h",)) -> dict[str, str]:
    """Every macro the headers define for `mcu` (avr-gcc -E -dM), name -> replacement text."""
    source = "".join(f"#include <{h}>\n" for h in headers)
    out = subprocess.run(["avr-gcc", f"-mmcu={mcu}", "-E", "-dM", "-x", "c", "-"], input=source,
                         capture_output=True, text=True, check=True).stdout
    macros = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "#define":
            macros[parts[1]] = parts[2].strip()
    return macros


def io_address(macros: dict[str, str], name: str) -> int:
    """The I/O address (data address - 0x20) avr-libc gives a register, in I/O or extended I/O space."""
    m = re.match(r"_SFR_(IO|MEM)(?:8|16) ?\((0[xX][0-9A-Fa-f]+)\)", macros[name])
    assert m, f"{name} is not a register in avr-libc: {macros[name]}"
    addr = int(m.group(2), 16)
    return addr if m.group(1) == "IO" else addr - 0x20


def avr_libc_fuse_bytes(mcu: str) -> dict[str, tuple[dict[str, int], int]]:
    """avr-libc's fuse bytes for `mcu`: {"lfuse": ({"CKSEL0": 0, ...}, default value), "hfuse": ..., "efuse": ...}.

    The io header defines each byte's `FUSE_<bit>` macros (`(unsigned char)~_BV(n)`, active low) followed by its
    `LFUSE_DEFAULT`/`HFUSE_DEFAULT`/`EFUSE_DEFAULT`; `-dD` keeps that source order, which tells the bytes apart.
    """
    out = subprocess.run(["avr-gcc", f"-mmcu={mcu}", "-E", "-dD", "-x", "c", "-"], input="#include <avr/io.h>\n",
                         capture_output=True, text=True, check=True).stdout
    result: dict[str, tuple[dict[str, int], int]] = {}
    bits: dict[str, int] = {}
    for m in re.finditer(r"^#define (FUSE_(\w+)|([LHE])FUSE_DEFAULT)\s+(.*)$", out, re.M):
        if m.group(2) is not None:
            bit = re.search(r"~_BV\((\d+)\)", m.group(4))
            if bit:  # FUSE_MEMORY_SIZE and friends are not bits
                bits[m.group(2)] = int(bit.group(1))
            continue
        names = re.findall(r"FUSE_(\w+)", m.group(4))
        literal = re.fullmatch(r"\(?\s*(0[xX][0-9A-Fa-f]+|\d+)\s*\)?", m.group(4).strip())
        default = int(literal.group(1), 0) if literal else 0xFF & ~sum(1 << bits[n] for n in set(names))
        result[{"L": "lfuse", "H": "hfuse", "E": "efuse"}[m.group(3)]] = (bits, default)
        bits = {}
    return result
