"""The ATmega2560 and the ATmega32U4 for the simulator: yasimavr 0.1.6 has no model of either, so the project
writes them (`devices/atmega2560.yaml`, `devices/atmega32u4.yaml`).

The YAMLs are register maps (checked against avr-libc's headers by tests/test_sim_bigmega.py). Sizes, signature,
factory fuses, the boot-section table, the NRWW start and the programming times are written into the descriptor
from `spareflash.chips` at load time, so the chip model stays the one place for chip facts.

What yasimavr gives for free once the descriptor asks for it: its core implements the 22-bit PC of the >128 KB
parts (`core.extended_addressing: yes`: CALL/RCALL/ICALL/EICALL and interrupts push three bytes, RET/RETI pop
three, JMP/CALL take a 22-bit address), EIND for EIJMP/EICALL, RAMPZ for ELPM and for SPM above 64 KB, and its
boot-section/lock-bit model (the same FUSES class as the ATmega328, with the BOOTSZ table fixed as in the
harness: yasimavr indexes it by the unshifted fuse bits).

Workarounds made here:
* yasimavr's AVR device builder has no "storage only" peripheral; registers of peripherals that are not modelled
  (Timers 1-5, ADC, TWI, USART1-3, external interrupts, USB) would crash the model at the first access (Arduino's
  init() touches several), so `DUMMY` builds them with yasimavr's DummyController: plain read/write storage.
* ATmega32U4 PLL: Arduino's USB start-up waits for PLLCSR.PLOCK. A read handler makes PLOCK follow PLLE (the PLL
  locks at once), so Leonardo sketches get past USBDevice.attach(); USB itself is not modelled (no host ever
  connects, so Serial on a Leonardo - USB CDC - drops its output, as on a board with no USB host).
* ELPM without operands (`elpm` = `elpm r0, Z`, opcode 0x95D8) ignores RAMPZ in yasimavr 0.1.6 (its Z is a 16-bit
  variable), so it reads the lowest 64 KB. avr-gcc and avr-libc use `elpm rd, Z[+]` (0x9006/0x9007), which is
  right; docs/simulator.md lists the gap.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ..chips import Chip, get_chip
from ..errors import SpareFlashError

MCUS = ("atmega2560", "atmega32u4")
DEVICES_DIR = os.path.join(os.path.dirname(__file__), "devices")
IO_OFFSET = 0x20

# PLLCSR bits (ATmega32U4 datasheet, "PLL Control and Status Register")
PLLCSR_PLOCK = 0x01
PLLCSR_PLLE = 0x02


def yaml_path(mcu: str) -> str:
    return os.path.join(DEVICES_DIR, f"{mcu}.yaml")


def _chip(mcu: str) -> Chip:
    return get_chip(mcu)


@functools.cache
def descriptor(mcu: str) -> Any:
    """The yasimavr DeviceDescriptor of `mcu`, with the facts of `chips.py` written into it."""
    from yasimavr.device_library.descriptors import DeviceDescriptor

    from .harness import apply_chip_facts

    if mcu not in MCUS:
        raise SpareFlashError(f"bigmega: no model for {mcu}")
    desc = DeviceDescriptor.create_from_file(yaml_path(mcu))
    # yasimavr caches device builders by descriptor name: never share one with anything else
    desc.name = f"spareflash_{mcu}"
    return apply_chip_facts(desc, _chip(mcu), boot_section=True)


def _device_class() -> tuple[Any, type]:
    from yasimavr.device_library.builders._base import DummyPeripheralBuilder
    from yasimavr.device_library.builders._builders_arch_avr import AVR_BaseDevice, AVR_DeviceBuilder
    from yasimavr.lib import core

    class BigMegaBuilder(AVR_DeviceBuilder):  # type: ignore[misc]
        """yasimavr's AVR builder plus DUMMY: registers of peripherals that are not modelled, as plain storage."""

        _per_builder_getters = dict(AVR_DeviceBuilder._per_builder_getters,
                                    DUMMY=lambda: DummyPeripheralBuilder(core.sim_id_t("DUMY")))

    class PllLock(core.IORegHandler):  # type: ignore[misc]
        """ATmega32U4: PLOCK reads 1 whenever PLLE is set (the modelled PLL locks at once)."""

        def ioreg_write_handler(self, addr: Any, data: Any) -> None:
            pass

        def ioreg_read_handler(self, addr: Any, value: int) -> int:
            return (value | PLLCSR_PLOCK) if value & PLLCSR_PLLE else (value & ~PLLCSR_PLOCK)

        def ioreg_peek_handler(self, addr: Any, value: int) -> int:
            return self.ioreg_read_handler(addr, value)

    class BigMega(AVR_BaseDevice):  # type: ignore[misc]
        def __init__(self, dev_descriptor: Any, builder: Any) -> None:
            super().__init__(dev_descriptor, builder)
            names = [n for n in dev_descriptor.peripherals if n != "CPU"]
            builder.build_peripherals(self, names)
            self._pll_fix: Any = None

        def arch_init(self) -> bool:
            # called by Device.init (when a SimLoop is created), after the peripherals' init: pin muxes and
            # the PLL handler need the registers to exist
            desc = self._descriptor_
            for drv in ("USART", "SPI"):
                if drv in desc.iomux:
                    self._builder_.add_pin_driver_mux_configs(self, drv)
            pllcsr = desc.reg_address("DUMMY/PLLCSR", -1)
            if pllcsr >= 0:
                self._pll_fix = PllLock()
                self.add_ioreg_handler(core.reg_addr_t(pllcsr), self._pll_fix, core.bitmask_t(0xFF),
                                       core.IORegister.BitMode.RW)
            return True

    return BigMegaBuilder, BigMega


@functools.lru_cache(maxsize=1)
def _cached_classes() -> tuple[Any, type]:
    return _device_class()


def load_bigmega(mcu: str) -> Any:
    """A freshly built yasimavr ATmega2560/ATmega32U4 (peripherals attached, not initialised)."""
    builder, dev_class = _cached_classes()
    return builder.build_device(descriptor(mcu), dev_class)


def _register() -> None:
    from .harness import register_device

    for mcu in MCUS:
        register_device(mcu, functools.partial(load_bigmega, mcu))


_register()
