"""The tiny-part simulator models (ATtiny25/45/85 and ATtiny84): the project's yasimavr device configs and their
SELFPRGEN rule, proven part by part with the same datasheet facts.

Specification (ATtiny25/45/85 and ATtiny24/44/84 datasheets, avr-libc <avr/iotnx5.h> and <avr/iotnx4.h>):
* every register the model maps sits at avr-libc's address for that part, the interrupt vectors are avr-libc's,
  and the bit positions the models use (SPMCSR, Timer0's interrupt bits, the external/pin-change interrupt bits,
  the USI modes) are avr-libc's;
* sizes, signature and factory fuses are the chip model's (spareflash.chips), although the ATtiny25/45/85 share
  one register map;
* no boot section: SPM page erase/write is refused while SELFPRGEN (efuse bit 0) is unprogrammed (efuse 0xFF)
  and works from anywhere once it is programmed (efuse 0xFE);
* a page write ANDs into the page (flash only clears bits), erase and write take the chip model's 4.5 ms each
  with the CPU halted (36,000 cycles at 8 MHz);
* a power cut during a page write tears that page (bits the write clears are each cleared or not), nothing else;
* Timer/Counter0's overflow interrupt and the EEPROM (up to its last byte, E2END) behave.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from avrlibc import avr_libc_macros, io_address  # noqa: E402 - tests/ helper
from spareflash.chips import Chip, get_chip
from spareflash.sim import Simulator, registered_devices, run_with_power_cut

ROOT = Path(__file__).resolve().parent.parent
FW = ROOT / "tests" / "firmware" / "tiny"
DEVICES = ROOT / "builder" / "spareflash" / "sim" / "devices"
FREQ = 8_000_000
TINY = ["attiny85", "attiny45", "attiny25", "attiny84"]






@pytest.fixture(scope="module", params=TINY)
def mcu(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def chip(mcu: str) -> Chip:
    return get_chip(mcu)


@pytest.fixture(scope="module")
def macros(mcu: str) -> dict[str, str]:
    return avr_libc_macros(mcu)


@pytest.fixture(scope="module")
def desc(mcu: str):
    from spareflash.sim.tiny import descriptor

    return descriptor(mcu)


# model register path -> avr-libc name, per register map
_COMMON = {
    "CPU/GPIOR0": "GPIOR0", "CPU/GPIOR1": "GPIOR1", "CPU/GPIOR2": "GPIOR2", "CPU/SP": "SP", "CPU/SREG": "SREG",
    "RSTCTRL/MCUSR": "MCUSR", "SLPCTRL/MCUCR": "MCUCR", "SLPCTRL/PRR": "PRR",
    "NVMCTRL/SPMCSR": "SPMCSR", "NVMCTRL/EECR": "EECR", "NVMCTRL/EEDR": "EEDR", "NVMCTRL/EEAR": "EEAR",
    "NVMCTRL/EEARL": "EEARL", "NVMCTRL/EEARH": "EEARH",
    "PORTB/PIN": "PINB", "PORTB/DDR": "DDRB", "PORTB/PORT": "PORTB",
    "EXTINT/GIMSK": "GIMSK", "EXTINT/GIFR": "GIFR", "EXTINT/MCUCR": "MCUCR",
    "TC0/TCCRA": "TCCR0A", "TC0/TCCRB": "TCCR0B", "TC0/TCNT": "TCNT0", "TC0/OCRA": "OCR0A", "TC0/OCRB": "OCR0B",
    "USI/USICR": "USICR", "USI/USISR": "USISR", "USI/USIDR": "USIDR", "USI/USIBR": "USIBR",
}
REGISTERS = {
    "attinyx5.yaml": {**_COMMON, "EXTINT/PCMSK": "PCMSK", "TC0/TIMSK": "TIMSK", "TC0/TIFR": "TIFR",
                      "WDT/WDTCSR": "WDTCR"},
    "attiny84.yaml": {**_COMMON, "PORTA/PIN": "PINA", "PORTA/DDR": "DDRA", "PORTA/PORT": "PORTA",
                      "EXTINT/PCMSK0": "PCMSK0", "EXTINT/PCMSK1": "PCMSK1", "TC0/TIMSK": "TIMSK0",
                      "TC0/TIFR": "TIFR0", "WDT/WDTCSR": "WDTCSR"},
}
# registers whose bit fields the models use: every field must sit at avr-libc's bit (an ENUM/INT field at bit 0 of
# its name, e.g. USIWM -> USIWM0)
FIELD_REGISTERS = {
    "attinyx5.yaml": ("NVMCTRL/SPMCSR", "NVMCTRL/EECR", "EXTINT/GIMSK", "EXTINT/GIFR", "EXTINT/PCMSK",
                      "USI/USICR", "USI/USISR", "SLPCTRL/MCUCR"),
    "attiny84.yaml": ("NVMCTRL/SPMCSR", "NVMCTRL/EECR", "EXTINT/GIMSK", "EXTINT/GIFR", "EXTINT/PCMSK0",
                      "EXTINT/PCMSK1", "USI/USICR", "USI/USISR", "SLPCTRL/MCUCR"),
}
# model vector name -> avr-libc vector name
VECTORS = {
    "attinyx5.yaml": {
        "INT0": "INT0", "PCINT0": "PCINT0", "TIMER1_COMPA": "TIMER1_COMPA", "TIMER1_OVF": "TIMER1_OVF",
        "TIMER0_OVF": "TIMER0_OVF", "EE_READY": "EE_RDY", "ANA_COMP": "ANA_COMP", "ADC": "ADC",
        "TIMER1_COMPB": "TIMER1_COMPB", "TIMER0_COMPA": "TIMER0_COMPA", "TIMER0_COMPB": "TIMER0_COMPB", "WDT": "WDT",
        "USI_START": "USI_START", "USI_OVF": "USI_OVF",
    },
    "attiny84.yaml": {
        "INT0": "INT0", "PCINT0": "PCINT0", "PCINT1": "PCINT1", "WDT": "WDT", "TIMER1_CAPT": "TIM1_CAPT",
        "TIMER1_COMPA": "TIM1_COMPA", "TIMER1_COMPB": "TIM1_COMPB", "TIMER1_OVF": "TIM1_OVF",
        "TIMER0_COMPA": "TIM0_COMPA", "TIMER0_COMPB": "TIM0_COMPB", "TIMER0_OVF": "TIM0_OVF", "ANA_COMP": "ANA_COMP",
        "ADC": "ADC", "EE_READY": "EE_RDY", "USI_START": "USI_START", "USI_OVF": "USI_OVF",
    },
}
# the part whose figures the YAML's literal (overwritten) sizes, signature and fuses are
YAML_PART = {"attinyx5.yaml": "attiny85", "attiny84.yaml": "attiny84"}


def yaml_of(mcu: str) -> str:
    from spareflash.sim.tiny import YAML_OF

    return YAML_OF[mcu]


# -- the register map ---------------------------------------------------------------------------------------

def test_every_tiny_part_of_the_chip_model_has_a_registered_model() -> None:
    from spareflash.chips import CHIPS

    tiny = sorted(c.name for c in CHIPS.values() if not c.has_boot_section)
    assert tiny == sorted(TINY)
    assert set(TINY) <= set(registered_devices())


def test_register_addresses_match_avr_libc(mcu: str, desc, macros) -> None:
    wrong = {path: (desc.reg_address(path), io_address(macros, name))
             for path, name in REGISTERS[yaml_of(mcu)].items() if desc.reg_address(path) != io_address(macros, name)}
    assert wrong == {}, f"{mcu}: model vs avr-libc I/O address"


def test_register_fields_match_avr_libc(mcu: str, desc, macros) -> None:
    wrong = {}
    for path in FIELD_REGISTERS[yaml_of(mcu)]:
        per, reg = path.split("/")
        for name, f in desc.peripherals[per].class_descriptor.registers[reg].fields.items():
            macro = name if f.kind == "BIT" else f"{name}0"
            if macro not in macros:
                continue  # a model-only name (e.g. the x5's EEAR field); the bit positions below are avr-libc's
            pos = f.pos if f.kind == "BIT" else f.LSB
            if pos != int(macros[macro]):
                wrong[f"{path}.{name}"] = (pos, int(macros[macro]))
    assert wrong == {}


def test_interrupt_vectors_match_avr_libc(mcu: str, chip: Chip, desc, macros) -> None:
    vectors = desc.interrupt_map.vectors
    assert vectors[0] == "RESET"
    assert desc.interrupt_map.vector_size * len(vectors) == int(macros["_VECTORS_SIZE"]) == chip.vector_table_bytes
    for name, libc in VECTORS[yaml_of(mcu)].items():
        assert vectors.index(name) == int(macros[f"{libc}_vect_num"]), name


def test_timer0_interrupt_bits_match_avr_libc(desc, macros) -> None:
    # on the ATtiny25/45/85 they share TIMSK/TIFR with Timer1 (TOIE0 = 1), on the ATtiny84 TIMSK0 has TOIE0 = 0
    tc0 = {**desc.peripherals["TC0"].class_descriptor.config, **desc.peripherals["TC0"].config}
    assert tc0["vect_ovf"] == ["TIMER0_OVF", int(macros["TOIE0"])]
    assert [c["vector"] for c in tc0["oc_channels"]] == [["TIMER0_COMPA", int(macros["OCIE0A"])],
                                                         ["TIMER0_COMPB", int(macros["OCIE0B"])]]
    assert int(macros["TOV0"]) == int(macros["TOIE0"]) and int(macros["OCF0A"]) == int(macros["OCIE0A"])
    assert tc0.get("reg_icr") == -1  # no input capture on Timer0: unset, yasimavr would hook I/O address 0


def test_usi_pins_match_the_datasheet(mcu: str, desc) -> None:
    assert desc.iomux["USI"]["DLFT"] == (["PA4", "PA5", "PA6"] if mcu == "attiny84" else ["PB2", "PB1", "PB0"])


def test_sizes_signature_and_fuses_come_from_the_chip_model(mcu: str, chip: Chip, desc, macros) -> None:
    assert desc.name == f"spareflash_{mcu}"  # yasimavr caches builders by name: one per part
    assert desc.mem.spaces["flash"].size == chip.flash_size == int(macros["FLASHEND"], 0) + 1
    assert desc.mem.spaces["flash"].page_size == chip.page_size == int(macros["SPM_PAGESIZE"])
    assert desc.mem.spaces["eeprom"].size == chip.eeprom_size == int(macros["E2END"], 0) + 1
    assert tuple(desc.mem.data_segments["ram"]) == (chip.sram_start, chip.ram_end)
    assert chip.ram_end == int(macros["RAMEND"].strip("()"), 0)
    assert tuple(desc.device_signature) == chip.signature == tuple(int(macros[f"SIGNATURE_{i}"], 0) for i in range(3))
    f = chip.factory_fuses()
    assert desc.fuses["factory_values"] == [f["lfuse"], f["hfuse"], f["efuse"]]
    nvm = desc.peripherals["NVMCTRL"].config
    assert (nvm["spm_erase_delay"], nvm["spm_write_delay"]) == (chip.page_erase_ms * 1000, chip.page_write_ms * 1000)


@pytest.mark.parametrize("name", sorted(YAML_PART))
def test_the_yaml_literals_agree_with_the_chip_model(name: str) -> None:
    """They are only there because the loader wants the keys (and are overwritten), but must not mislead."""
    import yaml

    chip = get_chip(YAML_PART[name])
    raw = yaml.safe_load((DEVICES / name).read_text())
    f = chip.factory_fuses()
    assert raw["memory"]["flash"] == {"size": chip.flash_size, "page_size": chip.page_size}
    assert raw["device_signature"] == list(chip.signature)
    assert raw["fuses"]["factory_values"] == [f["lfuse"], f["hfuse"], f["efuse"]]


# -- self-programming ----------------------------------------------------------------------------------------

def test_page(chip: Chip) -> int:
    """A page far above spm_roundtrip.c (a few hundred bytes) and inside every part's flash."""
    return chip.flash_size - 4 * chip.page_size


test_page.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def spm_elf(avr_build, mcu: str, chip: Chip) -> Path:
    # efuse 0xFE (SELFPRGEN programmed) in the ELF's .fuse section; the refused case overrides it with 0xFF
    return avr_build([FW / "spm_roundtrip.c"], mcu, ["-DTEST_EFUSE=0xFE", f"-DTEST_PAGE=0x{test_page(chip):X}u"],
                     name=f"tiny-spm-{mcu}")


def page(sim: Simulator) -> bytes:
    start = test_page(sim.chip)
    return sim.flash[start:start + sim.chip.page_size]


def expected_first_write(chip: Chip) -> bytes:
    out = bytearray()
    for k in range(chip.page_size // 2):
        out += ((0xA5F0 + k * 0x0101) & 0xFFFF).to_bytes(2, "little")
    return bytes(out)


def test_spm_works_with_selfprgen_programmed(spm_elf: Path, mcu: str, chip: Chip) -> None:
    sim = Simulator(spm_elf, mcu, freq=FREQ)
    assert sim.fuses["efuse"] == 0xFE
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    # the second write (0x0F0F in every word) went into the unerased page: old AND new
    want = bytes(b & 0x0F for b in expected_first_write(chip))
    assert page(sim) == want
    assert sim.debug == want[:4]  # the firmware read the page back through LPM
    at = test_page(chip)
    assert [(op.kind, op.page) for op in sim.page_ops] == [("erase", at), ("write", at), ("write", at)]
    assert sim.page_ops[1].after == expected_first_write(chip)
    # nothing but the test page changed
    image = Simulator(spm_elf, mcu, freq=FREQ).flash
    assert sim.flash[:at] == image[:at] and sim.flash[at + chip.page_size:] == image[at + chip.page_size:]


def test_erase_and_write_take_4_5_ms_with_the_cpu_halted(spm_elf: Path, mcu: str, chip: Chip) -> None:
    sim = Simulator(spm_elf, mcu, freq=FREQ)
    assert sim.run(2_000_000).ok
    op_cycles = round(chip.page_erase_ms * FREQ / 1000)
    assert op_cycles == 36_000 == round(chip.page_write_ms * FREQ / 1000)
    # marker -> SPM -> busy-wait -> marker: the 4.5 ms plus the handful of instructions around the SPM; the
    # CPU cannot run the busy-wait loop during the operation (it is halted), or this would show loop overhead
    for a, b in ((0x10, 0x11), (0x12, 0x13), (0x20, 0x21)):
        assert op_cycles <= sim.cycles_between(a, b) <= op_cycles + 30, (hex(a), sim.cycles_between(a, b))


def test_spm_is_refused_with_selfprgen_unprogrammed(spm_elf: Path, mcu: str, chip: Chip) -> None:
    sim = Simulator(spm_elf, mcu, freq=FREQ, fuses={"efuse": 0xFF})
    result = sim.run(2_000_000)
    assert result.reason == "crash"
    assert "refused" in result.message.lower()
    assert page(sim) == b"\xFF" * chip.page_size


def test_refused_spm_is_ignored_like_silicon_when_not_strict(spm_elf: Path, mcu: str, chip: Chip) -> None:
    sim = Simulator(spm_elf, mcu, freq=FREQ, fuses={"efuse": 0xFF}, strict_spm=False)
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    assert page(sim) == b"\xFF" * chip.page_size
    assert sim.debug == b"\xFF" * 4
    # no 4.5 ms wait: nothing was programmed
    assert sim.cycles_between(0x10, 0x11) < 100


def test_selfprgen_is_applied_again_after_any_power_on_reset(spm_elf: Path, mcu: str, chip: Chip) -> None:
    """yasimavr's fuse controller recomputes the flash access flags at a power-on reset (read-only without a
    boot section); the device re-grants SPM itself, not only when the harness resets it."""
    from yasimavr.lib import core

    sim = Simulator(spm_elf, mcu, freq=FREQ)
    sim.device.reset(int(core.Device.ResetFlag.PowerOn))  # behind the harness's back
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    assert page(sim) == bytes(b & 0x0F for b in expected_first_write(chip))


def test_a_power_cut_during_a_page_write_tears_that_page(spm_elf: Path, mcu: str, chip: Chip) -> None:
    done = Simulator(spm_elf, mcu, freq=FREQ)
    assert done.run(2_000_000).ok
    write = done.page_ops[1]  # the first write, into the freshly erased page
    cut = run_with_power_cut(spm_elf, mcu, (write.start + write.end) // 2, seed=3, freq=FREQ)
    at = test_page(chip)
    assert cut.op is not None and (cut.op.kind, cut.torn_page) == ("write", at)
    torn = cut.flash[at:at + chip.page_size]
    want = expected_first_write(chip)
    # every bit the write keeps at 1 is 1; of the bits it clears, some are cleared and some not
    assert all(t & w == w for t, w in zip(torn, want))
    assert torn not in (want, b"\xFF" * chip.page_size)
    assert cut.flash[:at] == done.flash[:at]  # nothing else changed
    again = run_with_power_cut(spm_elf, mcu, (write.start + write.end) // 2, seed=3, freq=FREQ)
    assert again.flash == cut.flash  # same seed, same tear


# -- other peripherals ---------------------------------------------------------------------------------------

def test_timer0_overflow_interrupt_and_eeprom(avr_build, mcu: str) -> None:
    elf = avr_build([FW / "peripherals.c"], mcu, name=f"tiny-peripherals-{mcu}")
    sim = Simulator(elf, mcu, freq=FREQ)
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    cycles = [m.cycle for m in sim.markers if 0x50 <= m.value <= 0x53]
    assert [m.value for m in sim.markers if 0x50 <= m.value <= 0x53] == [0x50, 0x51, 0x52, 0x53]
    assert {b - a for a, b in zip(cycles, cycles[1:])} == {256 * 8}  # clk/8, 8-bit counter
    assert sim.debug == bytes([0x5A, 0xC3])  # the EEPROM's last byte (E2END) and E2END / 2 written and read back
