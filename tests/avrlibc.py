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
