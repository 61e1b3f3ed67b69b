"""The ATtiny85 simulator model: the project's own yasimavr device config and its SELFPRGEN rule.

Specification (ATtiny25/45/85 datasheet, avr-libc <avr/iotn85.h>):
* every register the model maps sits at avr-libc's address, the interrupt vectors are avr-libc's;
* sizes, signature and factory fuses are the chip model's (spareflash.chips);
* no boot section: SPM page erase/write is refused while SELFPRGEN (efuse bit 0) is unprogrammed (efuse 0xFF)
  and works from anywhere once it is programmed (efuse 0xFE);
* a page write ANDs into the page (flash only clears bits), erase and write take 4.5 ms each with the CPU halted
  (36,000 cycles at 8 MHz);
* Timer/Counter0 and the EEPROM behave (the overflow interrupt bit sits at TOIE0 = 1 in the shared TIMSK).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from spareflash.chips import get_chip
from spareflash.sim import Simulator, registered_devices

ROOT = Path(__file__).resolve().parent.parent
FW = ROOT / "tests" / "firmware" / "tiny"
CHIP = get_chip("attiny85")
FREQ = 8_000_000
TEST_PAGE = 0x1C00  # spm_roundtrip.c


def avr_libc_macros(mcu: str) -> dict[str, str]:
    out = subprocess.run(["avr-gcc", f"-mmcu={mcu}", "-E", "-dM", "-x", "c", "-"], input="#include <avr/io.h>\n",
                         capture_output=True, text=True, check=True).stdout
    macros = {}
    for line in out.splitlines():
        m = re.match(r"#define (\w+) (.*)$", line)
        if m:
            macros[m.group(1)] = m.group(2).strip()
    return macros


def io_address(macros: dict[str, str], name: str) -> int:
    m = re.match(r"_SFR_IO(?:8|16) ?\((0x[0-9A-Fa-f]+)\)", macros[name])
    assert m, f"{name} is not an I/O register in avr-libc: {macros[name]}"
    return int(m.group(1), 16)


@pytest.fixture(scope="module")
def macros() -> dict[str, str]:
    return avr_libc_macros("attiny85")


@pytest.fixture(scope="module")
def desc():
    from spareflash.sim.tiny import descriptor

    return descriptor()


# model register path -> avr-libc name
REGISTERS = {
    "CPU/GPIOR0": "GPIOR0", "CPU/GPIOR1": "GPIOR1", "CPU/GPIOR2": "GPIOR2", "CPU/SP": "SP", "CPU/SREG": "SREG",
    "RSTCTRL/MCUSR": "MCUSR", "SLPCTRL/MCUCR": "MCUCR", "SLPCTRL/PRR": "PRR",
    "NVMCTRL/SPMCSR": "SPMCSR", "NVMCTRL/EECR": "EECR", "NVMCTRL/EEDR": "EEDR", "NVMCTRL/EEAR": "EEAR",
    "NVMCTRL/EEARL": "EEARL", "NVMCTRL/EEARH": "EEARH",
    "PORTB/PIN": "PINB", "PORTB/DDR": "DDRB", "PORTB/PORT": "PORTB",
    "EXTINT/GIMSK": "GIMSK", "EXTINT/GIFR": "GIFR", "EXTINT/PCMSK": "PCMSK", "EXTINT/MCUCR": "MCUCR",
    "TC0/TCCRA": "TCCR0A", "TC0/TCCRB": "TCCR0B", "TC0/TCNT": "TCNT0", "TC0/OCRA": "OCR0A", "TC0/OCRB": "OCR0B",
    "TC0/TIMSK": "TIMSK", "TC0/TIFR": "TIFR",
    "WDT/WDTCSR": "WDTCR",
    "USI/USICR": "USICR", "USI/USISR": "USISR", "USI/USIDR": "USIDR", "USI/USIBR": "USIBR",
}

# model vector name -> avr-libc vector name (iotn85.h)
VECTORS = {
    "INT0": "INT0", "PCINT0": "PCINT0", "TIMER1_COMPA": "TIMER1_COMPA", "TIMER1_OVF": "TIMER1_OVF",
    "TIMER0_OVF": "TIMER0_OVF", "EE_READY": "EE_RDY", "ANA_COMP": "ANA_COMP", "ADC": "ADC",
    "TIMER1_COMPB": "TIMER1_COMPB", "TIMER0_COMPA": "TIMER0_COMPA", "TIMER0_COMPB": "TIMER0_COMPB", "WDT": "WDT",
    "USI_START": "USI_START", "USI_OVF": "USI_OVF",
}


# -- the register map ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(REGISTERS))
def test_register_address_matches_avr_libc(desc, macros, path: str) -> None:
    assert desc.reg_address(path) == io_address(macros, REGISTERS[path]), path


def test_interrupt_vectors_match_avr_libc(desc, macros) -> None:
    vectors = desc.interrupt_map.vectors
    assert vectors[0] == "RESET"
    assert desc.interrupt_map.vector_size * len(vectors) == int(macros["_VECTORS_SIZE"])
    for name, libc in VECTORS.items():
        assert vectors.index(name) == int(macros[f"{libc}_vect_num"]), name


def test_bit_positions_match_avr_libc(desc, macros) -> None:
    nvm = desc.peripherals["NVMCTRL"].class_descriptor.registers["SPMCSR"].fields
    for f in ("SPMEN", "PGERS", "PGWRT", "RFLB", "CTPB", "RSIG"):
        assert nvm[f].pos == int(macros[f]), f
    # Timer0's interrupt bits share TIMSK/TIFR with Timer1 on this part
    tc0 = desc.peripherals["TC0"].class_descriptor.config
    assert tc0["vect_ovf"] == ["TIMER0_OVF", int(macros["TOIE0"])]
    assert [c["vector"] for c in tc0["oc_channels"]] == [["TIMER0_COMPA", int(macros["OCIE0A"])],
                                                         ["TIMER0_COMPB", int(macros["OCIE0B"])]]
    assert int(macros["TOV0"]) == int(macros["TOIE0"]) and int(macros["OCF0A"]) == int(macros["OCIE0A"])
    usi = desc.peripherals["USI"].class_descriptor.registers["USICR"].fields
    wire_mode_lsb, clock_select_lsb = usi["USIWM"].LSB, usi["USICS"].LSB
    assert (wire_mode_lsb, clock_select_lsb) == (int(macros["USIWM0"]), int(macros["USICS0"]))


def test_sizes_signature_and_fuses_come_from_the_chip_model(desc, macros) -> None:
    assert desc.mem.spaces["flash"].size == CHIP.flash_size == int(macros["FLASHEND"], 0) + 1
    assert desc.mem.spaces["flash"].page_size == CHIP.page_size == int(macros["SPM_PAGESIZE"])
    assert desc.mem.spaces["eeprom"].size == CHIP.eeprom_size == int(macros["E2END"], 0) + 1
    assert tuple(desc.mem.data_segments["ram"]) == (CHIP.sram_start, CHIP.ram_end)
    assert CHIP.ram_end == int(macros["RAMEND"].strip("()"), 0)
    assert tuple(desc.device_signature) == CHIP.signature
    f = CHIP.factory_fuses()
    assert desc.fuses["factory_values"] == [f["lfuse"], f["hfuse"], f["efuse"]]
    # the literal values in the YAML agree too (they are only there because the loader wants the keys)
    import yaml

    raw = yaml.safe_load((ROOT / "builder/spareflash/sim/devices/attiny85.yaml").read_text())
    assert raw["memory"]["flash"] == {"size": CHIP.flash_size, "page_size": CHIP.page_size}
    assert raw["device_signature"] == list(CHIP.signature)
    assert raw["fuses"]["factory_values"] == [f["lfuse"], f["hfuse"], f["efuse"]]


def test_attiny85_is_registered() -> None:
    assert "attiny85" in registered_devices()


# -- self-programming ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spm_elf(avr_build) -> Path:
    # efuse 0xFE (SELFPRGEN programmed) in the ELF's .fuse section; the refused case overrides it with 0xFF
    return avr_build([FW / "spm_roundtrip.c"], "attiny85", ["-DTEST_EFUSE=0xFE"], name="tiny-spm")


def page(sim: Simulator) -> bytes:
    return sim.flash[TEST_PAGE:TEST_PAGE + CHIP.page_size]


def expected_first_write() -> bytes:
    out = bytearray()
    for k in range(CHIP.page_size // 2):
        out += ((0xA5F0 + k * 0x0101) & 0xFFFF).to_bytes(2, "little")
    return bytes(out)


def test_spm_works_with_selfprgen_programmed(spm_elf: Path) -> None:
    sim = Simulator(spm_elf, "attiny85", freq=FREQ)
    assert sim.fuses["efuse"] == 0xFE
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    # the second write (0x0F0F in every word) went into the unerased page: old AND new
    want = bytes(b & 0x0F for b in expected_first_write())
    assert page(sim) == want
    assert sim.debug == want[:4]  # the firmware read the page back through LPM
    kinds = [(op.kind, op.page) for op in sim.page_ops]
    assert kinds == [("erase", TEST_PAGE), ("write", TEST_PAGE), ("write", TEST_PAGE)]
    assert sim.page_ops[1].after == expected_first_write()


def test_erase_and_write_take_4_5_ms_with_the_cpu_halted(spm_elf: Path) -> None:
    sim = Simulator(spm_elf, "attiny85", freq=FREQ)
    assert sim.run(2_000_000).ok
    op_cycles = round(CHIP.page_erase_ms * FREQ / 1000)
    assert op_cycles == 36_000
    # marker -> SPM -> busy-wait -> marker: the 4.5 ms plus the handful of instructions around the SPM; the
    # CPU cannot run the busy-wait loop during the operation (it is halted), or this would show loop overhead
    for a, b in ((0x10, 0x11), (0x12, 0x13), (0x20, 0x21)):
        assert op_cycles <= sim.cycles_between(a, b) <= op_cycles + 30, (hex(a), sim.cycles_between(a, b))


def test_spm_is_refused_with_selfprgen_unprogrammed(spm_elf: Path) -> None:
    sim = Simulator(spm_elf, "attiny85", freq=FREQ, fuses={"efuse": 0xFF})
    result = sim.run(2_000_000)
    assert result.reason == "crash"
    assert "refused" in result.message.lower()
    assert page(sim) == b"\xFF" * CHIP.page_size


def test_refused_spm_is_ignored_like_silicon_when_not_strict(spm_elf: Path) -> None:
    sim = Simulator(spm_elf, "attiny85", freq=FREQ, fuses={"efuse": 0xFF}, strict_spm=False)
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    assert page(sim) == b"\xFF" * CHIP.page_size
    assert sim.debug == b"\xFF" * 4
    # no 4.5 ms wait: nothing was programmed
    assert sim.cycles_between(0x10, 0x11) < 100


def test_selfprgen_is_applied_again_after_any_power_on_reset(spm_elf: Path) -> None:
    """yasimavr's fuse controller recomputes the flash access flags at a power-on reset (read-only without a
    boot section); the device re-grants SPM itself, not only when the harness resets it."""
    from yasimavr.lib import core

    sim = Simulator(spm_elf, "attiny85", freq=FREQ)
    sim.device.reset(int(core.Device.ResetFlag.PowerOn))  # behind the harness's back
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    assert page(sim) == bytes(b & 0x0F for b in expected_first_write())


# -- other peripherals ---------------------------------------------------------------------------------------

def test_timer0_overflow_interrupt_and_eeprom(avr_build) -> None:
    elf = avr_build([FW / "peripherals.c"], "attiny85", name="tiny-peripherals")
    sim = Simulator(elf, "attiny85", freq=FREQ)
    result = sim.run(2_000_000)
    assert result.reason == "sleep", result.message
    cycles = [m.cycle for m in sim.markers if 0x50 <= m.value <= 0x53]
    assert [m.value for m in sim.markers if 0x50 <= m.value <= 0x53] == [0x50, 0x51, 0x52, 0x53]
    assert {b - a for a, b in zip(cycles, cycles[1:])} == {256 * 8}  # clk/8, 8-bit counter
    assert sim.debug == bytes([0x5A, 0xC3])  # EEPROM bytes 0x1FF and 0x0FF written and read back
