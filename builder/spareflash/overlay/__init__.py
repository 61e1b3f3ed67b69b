"""Code overlays: segments kept in an external SPI NOR chip and run from internal-flash slots.

`format` is the on-chip/on-NOR format (docs/overlay-format.md) and its Python model (the test oracle),
`policy` the replacement-policy model (Belady, LRU and the firmware's call-statistics policy),
`linker` the linker-script and stub generator, `build` the build flow (`spareflash overlay build`).
"""

from __future__ import annotations
