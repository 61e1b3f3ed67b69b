"""The ATtiny25/45/85 and ATtiny84 for the simulator: one implementation for the tiny parts.

yasimavr 0.1.6 has no ATtiny25/45/85 model and its attiny84 config does not load (and misplaces registers), so the
project writes the register maps: `devices/attinyx5.yaml` for the ATtiny25/45/85 (one die family, one map) and
`devices/attiny84.yaml` (checked against avr-libc's headers by tests/test_sim_tiny.py). Only the map differs between
the parts: the sizes, signature, factory fuses and programming times come from `spareflash.chips` at load time
(`sim.harness.apply_chip_facts`), so the chip model stays the one place for chip facts.

Self-programming: the tiny parts have no boot section, so yasimavr's fuse controller leaves every flash page
read-only to SPM. The datasheet rule is "SPM works from anywhere once SELFPRGEN (efuse bit 0) is programmed",
so `apply_selfprgen(device)` grants SPM write access to the whole flash exactly when that bit reads 0, and
clears the read-while-write flag so the CPU halts during the 4.5 ms erase/write (the tiny parts have no RWW
section). yasimavr's fuse controller recomputes the access flags at every power-on reset, so a small
peripheral attached after it re-applies the grant on every reset (also one made behind the harness's back);
the harness's after_reset hook applies it too. It reads the efuse from the model's fuse memory at that time.
With SELFPRGEN unprogrammed an SPM page erase/write is refused: a crash with the harness's `strict_spm=True`,
ignored (as on silicon) with `strict_spm=False`.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ..chips import Chip, get_chip
from ..errors import SpareFlashError

DEVICES_DIR = os.path.join(os.path.dirname(__file__), "devices")
# part -> its register map (devices/); the ATtiny25/45/85 are one die family with one map
YAML_OF = {
    "attiny25": "attinyx5.yaml",
    "attiny45": "attinyx5.yaml",
    "attiny85": "attinyx5.yaml",
    "attiny84": "attiny84.yaml",
}
MCUS = tuple(YAML_OF)

# ArchAVR_Device::FlashSectionFlags::Access_RWW (arch_avr_device.h): the section may be read while the NVM
# controller programs; without it the CPU is halted for the duration of the operation.
_ACCESS_RWW = 0x04
_EFUSE_INDEX = 2  # yasimavr's fuse array: 0 = low, 1 = high, 2 = extended (avr-libc .fuse order)


def yaml_path(mcu: str) -> str:
    try:
        return os.path.join(DEVICES_DIR, YAML_OF[mcu])
    except KeyError:
        raise SpareFlashError(f"tiny: no model for {mcu} (have: {', '.join(MCUS)})") from None


@functools.cache
def descriptor(mcu: str) -> Any:
    """The yasimavr DeviceDescriptor of a tiny part: its family's register map with the facts of `chips.py`."""
    from yasimavr.device_library.descriptors import DeviceDescriptor

    from .harness import apply_chip_facts

    desc = DeviceDescriptor.create_from_file(yaml_path(mcu))
    # yasimavr caches device builders (and with them the memory sizes) by descriptor name: one per part
    desc.name = f"spareflash_{mcu}"
    return apply_chip_facts(desc, get_chip(mcu))


def _sections(device: Any) -> Any:
    from yasimavr.lib import core

    ok, req = device.ctlreq(core.IOCTL_CORE, core.CTLREQ_CORE_SECTIONS)
    if not ok:
        raise RuntimeError("yasimavr device did not return its memory section manager")
    return req.data.value(core.MemorySectionManager)


def read_fuses(device: Any) -> tuple[int, int, int]:
    """(lfuse, hfuse, efuse) as the model holds them now."""
    from yasimavr.lib import core

    req = core.ctlreq_data_t()
    req.index = core.Core.NVM.Fuses
    ok, req = device.ctlreq(core.IOCTL_CORE, core.CTLREQ_CORE_NVM, req)
    if not ok:
        raise RuntimeError("yasimavr device did not return its fuse memory")
    nvm = req.data.value(core.NonVolatileMemory)
    return nvm[0], nvm[1], nvm[_EFUSE_INDEX]


def selfprgen_programmed(efuse: int, chip: Chip | None = None) -> bool:
    return (chip or get_chip("attiny85")).fuse("efuse").field("SELFPRGEN").get(efuse) == 0


def _chip_of(device: Any) -> Chip:
    """The chip a tiny model was built for (its descriptor is named spareflash_<mcu>)."""
    return get_chip(str(device._descriptor_.name).removeprefix("spareflash_"))


def apply_selfprgen(device: Any) -> bool:
    """Grant SPM write access to all of flash iff SELFPRGEN is programmed in the model's efuse.

    Returns whether SPM is now allowed. Idempotent; must run after the fuse controller's reset.
    """
    from yasimavr.lib import core

    allowed = selfprgen_programmed(read_fuses(device)[2], _chip_of(device))
    if allowed:
        sm = _sections(device)
        write = int(core.MemorySectionManager.AccessFlag.Write)
        for i in range(sm.section_count()):
            sm.set_access_flags(i, (sm.access_flags(i) | write) & ~_ACCESS_RWW)
    return allowed


def _device_class() -> type:
    from yasimavr.device_library.builders._builders_arch_avr import AVR_BaseDevice
    from yasimavr.lib import core

    class SelfPrgEn(core.Peripheral):  # type: ignore[misc]
        """Re-applies SELFPRGEN at each reset; attached after the fuse controller so it runs after it."""

        def __init__(self) -> None:
            super().__init__(core.sim_id_t("SPGN"))
            self._device: Any = None

        def init(self, device: Any) -> bool:
            self._device = device
            return True

        def reset(self, flags: int) -> None:
            if self._device is not None:
                apply_selfprgen(self._device)

    class UsiLatchFix(core.IORegHandler):  # type: ignore[misc]
        """yasimavr 0.1.6's USI has the polarity of the DO output latch inverted.

        Datasheet (ATtiny25/45/85, USI "Three-wire mode"): with an external clock the DO latch is transparent
        during the first half of a clock cycle (USCK low for the positive-edge mode USICS=10), so writing USIDR
        while USCK is low puts its MSB on DO at once - that is how every USI SPI master sends the first bit.
        yasimavr treats that state as latched and only updates DO at the next falling edge, so the first bit
        of each byte would be the previous byte's last. After a CPU write to USIDR in that state, this handler
        makes the model reflect the MSB: it switches USICS to 00 (a latched -> transparent change, on which the
        model updates DO) and back, with USICLK/USITC cleared in the first write so nothing is clocked.
        """

        def __init__(self, device: Any, usicr: int, usidr: int, usck_pin: str) -> None:
            super().__init__()
            self._probe = core.DeviceDebugProbe(device)
            self._usicr = usicr
            self._usidr = usidr
            self._pin = device.find_pin(core.sim_id_t(usck_pin))
            self._busy = False

        def ioreg_write_handler(self, addr: int, data: Any) -> None:
            if self._busy:
                return
            cr = self._probe.read_ioreg(self._usicr)
            wire_mode, clk_mode = (cr >> 4) & 0x3, (cr >> 2) & 0x3
            clock_high = self._pin.digital_state()
            if wire_mode == 1 and ((clk_mode == 2 and not clock_high) or (clk_mode == 3 and clock_high)):
                self._busy = True
                try:
                    self._probe.write_ioreg(self._usicr, cr & 0xF0)
                    self._probe.write_ioreg(self._usicr, cr & ~0x01)
                finally:
                    self._busy = False

        def ioreg_read_handler(self, addr: int, value: int) -> int:
            return value

        def ioreg_peek_handler(self, addr: int, value: int) -> int:
            return value

    class ATtiny(AVR_BaseDevice):  # type: ignore[misc]
        def __init__(self, dev_descriptor: Any, builder: Any) -> None:
            super().__init__(dev_descriptor, builder)
            builder.build_peripherals(self, list(dev_descriptor.peripherals))
            self._selfprgen = SelfPrgEn()  # kept alive by the device object
            self.attach_peripheral(self._selfprgen)
            self._usi_fix: Any = None

        def arch_init(self) -> bool:
            # called by Device.init (when a SimLoop is created), after the peripherals' init
            # the USI's pins (USCK, DO, DI) come from the iomux section of the YAML
            self._builder_.add_pin_driver_mux_configs(self, "USI")
            desc = self._descriptor_
            usidr = desc.reg_address("USI/USIDR")
            self._usi_fix = UsiLatchFix(self, desc.reg_address("USI/USICR"), usidr,
                                        desc.iomux["USI"]["DLFT"][0])
            self.add_ioreg_handler(usidr, self._usi_fix, core.bitmask_t(0xFF), core.IORegister.BitMode.RW)
            return True

    return ATtiny


@functools.lru_cache(maxsize=1)
def _cached_device_class() -> type:
    return _device_class()


def load_tiny(mcu: str) -> Any:
    """A freshly built yasimavr model of a tiny part (peripherals attached, not initialised)."""
    from yasimavr.device_library.builders._builders_arch_avr import AVR_DeviceBuilder

    return AVR_DeviceBuilder.build_device(descriptor(mcu), _cached_device_class())


def load_attiny85() -> Any:
    return load_tiny("attiny85")


def _after_reset(sim: Any) -> None:
    apply_selfprgen(sim.device)


def _register() -> None:
    from . import register_device

    for mcu in MCUS:
        # GPIOR0/1 are looked up in the descriptor when the Simulator is built (None here): reading them now
        # would load every part's YAML at import
        register_device(mcu, functools.partial(load_tiny, mcu), uart=None, after_reset=_after_reset)


_register()
