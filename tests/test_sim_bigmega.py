"""The ATmega2560 and ATmega32U4 simulator models: the project's own yasimavr device configs.

Specification (ATmega640/1280/2560 and ATmega16U4/32U4 datasheets, avr-libc <avr/iomxx0_1.h>, <avr/iom32u4.h>):
* every register the models map - modelled or storage-only - sits at avr-libc's address; the interrupt vector
  tables are avr-libc's (57 x 4 bytes on the 2560, 43 x 4 on the 32U4);
* sizes, SRAM (0x200-0x21FF / 0x100-0xAFF), signature, factory fuses, the boot-section table and the RWW/NRWW
  split are the chip model's (spareflash.chips);
* the 2560 has a 22-bit PC: calls push 3-byte return addresses, RAMPZ:Z addresses flash above 64 KB for SPM and
  ELPM; the 32U4 pushes 2 bytes;
* SPM works only from inside the boot section BOOTSZ selects (all four sizes: 1/2/4/8 KB on the 2560,
  512 B/1/2/4 KB on the 32U4);
* page erase and page write take 4.5 ms each (72,000 cycles at 16 MHz); a write ANDs into the old content;
  an RWW-section operation sets RWWSB while the CPU runs on, an NRWW one halts the CPU;
* Serial (USART0 on the 2560, USART1 on the 32U4) prints; Timer0 overflows every 64 x 256 cycles (millis);
  the EEPROM's last byte (E2END) is written in 3.4 ms and reads back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from avrlibc import avr_libc_macros, io_address  # noqa: E402 - tests/ helper
from spareflash.chips import get_chip
from spareflash.sim import Simulator, registered_devices, run_with_power_cut

pytest.importorskip("yasimavr")

ROOT = Path(__file__).resolve().parent.parent
FW = ROOT / "tests" / "firmware" / "bigmega"
MCUS = ("atmega2560", "atmega32u4")
FREQ = 16_000_000
OP_CYCLES = 72_000  # 4.5 ms at 16 MHz
TOLERANCE = 40  # instruction overhead between a marker write and the SPM / poll loop






def c_int(text: str) -> int:
    return int(eval(text, {"__builtins__": {}}, {}))  # avr-libc writes some values as "(43 * 4)"


@pytest.fixture(scope="module", params=MCUS)
def part(request) -> tuple[str, dict[str, str], object]:
    from spareflash.sim.bigmega import descriptor

    mcu = request.param
    return mcu, avr_libc_macros(mcu), descriptor(mcu)


# model register path -> avr-libc name (both parts)
COMMON_REGISTERS = {
    "CPU/GPIOR0": "GPIOR0", "CPU/GPIOR1": "GPIOR1", "CPU/GPIOR2": "GPIOR2", "CPU/SP": "SP", "CPU/SREG": "SREG",
    "RSTCTRL/MCUSR": "MCUSR", "CPUINT/MCUCR": "MCUCR", "SLPCTRL/SMCR": "SMCR", "SLPCTRL/MCUCR": "MCUCR",
    "SLPCTRL/PRR": "PRR0",
    "NVMCTRL/SPMCSR": "SPMCSR", "NVMCTRL/EECR": "EECR", "NVMCTRL/EEDR": "EEDR", "NVMCTRL/EEAR": "EEAR",
    "NVMCTRL/EEARL": "EEARL", "NVMCTRL/EEARH": "EEARH",
    "TC0/TCCRA": "TCCR0A", "TC0/TCCRB": "TCCR0B", "TC0/TCNT": "TCNT0", "TC0/OCRA": "OCR0A", "TC0/OCRB": "OCR0B",
    "TC0/TIMSK": "TIMSK0", "TC0/TIFR": "TIFR0", "WDT/WDTCSR": "WDTCSR",
    "SPI/SPCR": "SPCR", "SPI/SPSR": "SPSR", "SPI/SPDR": "SPDR",
}
PART_REGISTERS = {
    "atmega2560": {"CPU/RAMPZ": "RAMPZ", "CPU/EIND": "EIND",
                   "USART/UDR": "UDR0", "USART/UCSRA": "UCSR0A", "USART/UCSRB": "UCSR0B", "USART/UCSRC": "UCSR0C",
                   "USART/UBRR": "UBRR0"},
    "atmega32u4": {"USART/UDR": "UDR1", "USART/UCSRA": "UCSR1A", "USART/UCSRB": "UCSR1B", "USART/UCSRC": "UCSR1C",
                   "USART/UBRR": "UBRR1"},
}
PORTS = {"atmega2560": "ABCDEFGHJKL", "atmega32u4": "BCDEF"}


def test_modelled_registers_match_avr_libc(part) -> None:
    mcu, macros, desc = part
    wrong = {}
    for path, libc in {**COMMON_REGISTERS, **PART_REGISTERS[mcu]}.items():
        if desc.reg_address(path) != io_address(macros, libc):
            wrong[path] = (hex(desc.reg_address(path)), libc, hex(io_address(macros, libc)))
    for letter in PORTS[mcu]:
        for reg in ("PIN", "DDR", "PORT"):
            got, want = desc.reg_address(f"PORT{letter}/{reg}"), io_address(macros, f"{reg}{letter}")
            if got != want:
                wrong[f"PORT{letter}/{reg}"] = (hex(got), hex(want))
    assert not wrong


def test_storage_only_registers_match_avr_libc(part) -> None:
    """Every DUMMY register is named as in avr-libc and sits at its address."""
    mcu, macros, desc = part
    names = desc.peripherals["DUMMY"].class_descriptor.config["regs"]
    assert len(names) == len(set(names)) > 50
    wrong = {n: (hex(desc.reg_address(f"DUMMY/{n}")), hex(io_address(macros, n))) for n in names
             if desc.reg_address(f"DUMMY/{n}") != io_address(macros, n)}
    assert not wrong
    # no storage-only register shadows a modelled one
    modelled = {desc.reg_address(p) for p in {**COMMON_REGISTERS, **PART_REGISTERS[mcu]}}
    assert not modelled & {desc.reg_address(f"DUMMY/{n}") for n in names}


def test_interrupt_vectors_match_avr_libc(part) -> None:
    mcu, macros, desc = part
    vectors = desc.interrupt_map.vectors
    assert vectors[0] == "RESET"
    assert desc.interrupt_map.vector_size == get_chip(mcu).vector_size == 4
    assert len(vectors) == get_chip(mcu).vector_count == {"atmega2560": 57, "atmega32u4": 43}[mcu]
    assert desc.interrupt_map.vector_size * len(vectors) == c_int(macros["_VECTORS_SIZE"])
    libc = {k[:-len("_vect_num")]: int(v) for k, v in macros.items() if k.endswith("_vect_num")}
    for index, name in enumerate(vectors[1:], start=1):
        if name.startswith("RESERVED"):
            assert index not in libc.values(), name
        else:
            assert libc[name] == index, name
    # every vector the models' peripherals raise exists in the table
    for per in ("TC0", "USART", "NVMCTRL", "SPI", "WDT"):
        inst = desc.peripherals[per]
        cfg = {**inst.class_descriptor.config, **inst.config}  # the instance's values override the class's
        raised = [v for k, v in cfg.items() if k.startswith(("iv_", "vect_")) and v]
        raised += [c["vector"] for c in cfg.get("oc_channels", [])]
        for value in raised:
            assert (value[0] if isinstance(value, list) else value) in vectors, (per, value)


def test_sizes_memory_map_signature_and_fuses_come_from_the_chip_model(part) -> None:
    mcu, macros, desc = part
    chip = get_chip(mcu)
    assert desc.mem.spaces["flash"].size == chip.flash_size == c_int(macros["FLASHEND"]) + 1
    assert desc.mem.spaces["flash"].page_size == chip.page_size == c_int(macros["SPM_PAGESIZE"])
    assert desc.mem.spaces["eeprom"].size == chip.eeprom_size == c_int(macros["E2END"]) + 1
    ram = {"atmega2560": (0x200, 0x21FF), "atmega32u4": (0x100, 0xAFF)}[mcu]
    assert tuple(desc.mem.data_segments["ram"]) == ram == (chip.sram_start, chip.ram_end)
    assert chip.sram_start == c_int(macros["RAMSTART"])
    assert tuple(desc.mem.data_segments["io"]) == (0x20, chip.sram_start - 1)
    assert tuple(desc.device_signature) == chip.signature
    f = chip.factory_fuses()
    assert desc.fuses["factory_values"] == [f["lfuse"], f["hfuse"], f["efuse"]]
    # 22-bit PC, EIND and RAMPZ only on the 256 KB part
    assert bool(desc.core_attributes["extended_addressing"]) == (chip.flash_size > 128 * 1024)
    # the boot-section table and the NRWW start, in pages, from chips.py (yasimavr indexes the table by the
    # unshifted BOOTSZ bits: hfuse bits 2:1 -> indexes 0/2/4/6)
    fuses = desc.peripherals["FUSES"].config
    table = fuses["boot_sizes"]
    for bs in chip.boot_sizes:
        assert table[bs.code << 1] * chip.page_size == bs.size
    assert fuses["nrww_start"] * chip.page_size == chip.nrww_start
    nvm = desc.peripherals["NVMCTRL"].config
    assert nvm["spm_erase_delay"] == nvm["spm_write_delay"] == 4500
    # EEAR has as many bits as the EEPROM needs
    eear = desc.peripherals["NVMCTRL"].class_descriptor.registers["EEAR"].fields["EEAR"]
    assert chip.eeprom_size == 1 << (eear.MSB + 1)


def test_both_parts_are_registered() -> None:
    assert {"atmega2560", "atmega32u4"} <= set(registered_devices())


# -- running firmware ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hello(avr_build) -> dict[str, Simulator]:
    out = {}
    for mcu in MCUS:
        sim = Simulator(avr_build([FW / "hello.c"], mcu, name=f"bigmega-hello-{mcu}"), mcu)
        result = sim.run(5_000_000)
        assert result.reason == "sleep", result.message
        out[mcu] = sim
    return out


@pytest.mark.parametrize("mcu", MCUS)
def test_serial_hello_world_prints(hello, mcu) -> None:
    name = get_chip(mcu).display
    ret = 3 if mcu == "atmega2560" else 2
    assert hello[mcu].serial_text == f"Hello from {name} calls ok ret={ret} ee=5A\n"
    assert hello[mcu].debug == hello[mcu].serial  # the same bytes through the GPIOR1 debug console


@pytest.mark.parametrize("mcu", MCUS)
def test_timer0_overflows_every_64_x_256_cycles(hello, mcu) -> None:
    # 4 overflows of Timer0 at clk/64 (Arduino's millis clock): 65,536 cycles plus the loop around them
    assert 4 * 64 * 256 <= hello[mcu].cycles_between(1, 2) <= 4 * 64 * 256 + 64


@pytest.mark.parametrize("mcu", MCUS)
def test_eeprom_last_byte_written_in_3_4_ms(hello, mcu) -> None:
    from yasimavr.lib import arch_avr, core

    sim = hello[mcu]
    chip = get_chip(mcu)
    cycles = round(chip.eeprom_write_ms * FREQ / 1000)
    assert cycles <= sim.cycles_between(4, 5) <= cycles + TOLERANCE
    req = core.ctlreq_data_t()
    req.index = int(arch_avr.ArchAVR_Core.ArchAVR_NVM.EEPROM)
    ok, res = sim.device.ctlreq(core.IOCTL_CORE, core.CTLREQ_CORE_NVM, req)
    assert ok
    eeprom = bytes(res.data.value(core.NonVolatileMemory).view())
    assert len(eeprom) == chip.eeprom_size
    assert eeprom[chip.eeprom_end] == 0x5A  # the top byte: every EEAR bit reached the model
    assert eeprom.count(0x5A) == 1


# -- self-programming ------------------------------------------------------------------------------------------

LAYOUT = {  # victims in the RWW section, an NRWW page clear of every routine placement
    "atmega2560": {"VICTIM_ERASE": 0x3C000, "VICTIM_WRITE": 0x3C100, "NRWW_PAGE": 0x3E800},
    "atmega32u4": {"VICTIM_ERASE": 0x4000, "VICTIM_WRITE": 0x4080, "NRWW_PAGE": 0x7400},
}


def build_spm(avr_build, mcu: str, routine_addr: int) -> Path:
    lay = LAYOUT[mcu]
    return avr_build([FW / "spm_bigmega.c"], mcu, [
        *(f"-D{k}=0x{v:X}UL" for k, v in lay.items()),
        f"-Wl,--section-start=.spmroutine=0x{routine_addr:X}",
        f"-Wl,--section-start=.victim_erase=0x{lay['VICTIM_ERASE']:X}",
        f"-Wl,--section-start=.victim_write=0x{lay['VICTIM_WRITE']:X}",
    ], name=f"bigmega-spm-{mcu}-{routine_addr:05x}")


def hfuse_with_bootsz(mcu: str, code: int) -> int:
    chip = get_chip(mcu)
    return chip.fuse("hfuse").field("BOOTSZ").put(chip.factory_fuses()["hfuse"], code)


@pytest.fixture(scope="module")
def spm_firmwares(avr_build) -> dict[tuple[str, int], Path]:
    return {(mcu, bs.start): build_spm(avr_build, mcu, bs.start) for mcu in MCUS for bs in get_chip(mcu).boot_sizes}


@pytest.mark.parametrize("mcu", MCUS)
def test_spm_accepted_only_from_the_boot_section_bootsz_selects(spm_firmwares, mcu) -> None:
    chip = get_chip(mcu)
    erase_at = LAYOUT[mcu]["VICTIM_ERASE"]
    starts = sorted(bs.start for bs in chip.boot_sizes)
    # the datasheet's boot sections: 1/2/4/8 KB (2560) or 512 B/1/2/4 KB (32U4) at the top of flash
    assert [chip.flash_size - s for s in starts] == {"atmega2560": [8192, 4096, 2048, 1024],
                                                      "atmega32u4": [4096, 2048, 1024, 512]}[mcu]
    outcomes = {}
    for routine_addr in starts:
        for bs in chip.boot_sizes:
            sim = Simulator(spm_firmwares[(mcu, routine_addr)], mcu, fuses={"hfuse": hfuse_with_bootsz(mcu, bs.code)})
            result = sim.run(2_000_000)
            page = sim.flash[erase_at:erase_at + chip.page_size]
            accepted = result.reason == "sleep"
            if accepted:
                assert page == bytes(range(chip.page_size)), result.message  # erased, then the pattern written
            else:
                assert result.reason == "crash" and "Flash write refused" in result.message, result.message
                assert page == bytes(chip.page_size)  # untouched
            outcomes[(routine_addr, bs.code)] = accepted
    # accepted exactly when the routine lies inside the boot section the fuses select
    assert outcomes == {(a, bs.code): a >= bs.start for a in starts for bs in chip.boot_sizes}
    assert sum(outcomes.values()) == 10  # 4 + 3 + 2 + 1


@pytest.fixture(scope="module")
def full_runs(spm_firmwares) -> dict[str, Simulator]:
    """The routine at the smallest boot section with BOOTSZ=11: everything allowed."""
    out = {}
    for mcu in MCUS:
        smallest = min(get_chip(mcu).boot_sizes, key=lambda b: b.size)
        sim = Simulator(spm_firmwares[(mcu, smallest.start)], mcu,
                        fuses={"hfuse": hfuse_with_bootsz(mcu, smallest.code)})
        result = sim.run(2_000_000)
        assert result.reason == "sleep", result.message
        out[mcu] = sim
    return out


@pytest.mark.parametrize("mcu", MCUS)
def test_erase_and_write_take_4_5_ms(full_runs, mcu) -> None:
    sim = full_runs[mcu]
    assert round(get_chip(mcu).page_erase_ms * FREQ / 1000) == OP_CYCLES
    for a, b in ((1, 2), (3, 4), (5, 6)):
        assert OP_CYCLES <= sim.cycles_between(a, b) <= OP_CYCLES + TOLERANCE, (a, b, sim.cycles_between(a, b))
    lay = LAYOUT[mcu]
    ops = [(op.kind, op.page, op.end - op.start) for op in sim.page_ops]
    assert ops == [("erase", lay["VICTIM_ERASE"], OP_CYCLES), ("write", lay["VICTIM_WRITE"], OP_CYCLES),
                   ("erase", lay["NRWW_PAGE"], OP_CYCLES), ("erase", lay["VICTIM_ERASE"], OP_CYCLES),
                   ("write", lay["VICTIM_ERASE"], OP_CYCLES)]


@pytest.mark.parametrize("mcu", MCUS)
def test_page_write_ands_into_the_old_content(full_runs, mcu) -> None:
    chip = get_chip(mcu)
    sim = full_runs[mcu]
    at = LAYOUT[mcu]["VICTIM_WRITE"]
    # 0x3C bytes, written (not erased) with 0x0F,0xF0 words: 0x3C & 0x0F = 0x0C, 0x3C & 0xF0 = 0x30
    assert sim.flash[at:at + chip.page_size] == b"\x0c\x30" * (chip.page_size // 2)
    assert sim.debug[4:8] == b"\x0c\x30\x0c\x30"  # read back by the firmware


@pytest.mark.parametrize("mcu", MCUS)
def test_rww_operation_sets_rwwsb_and_the_page_reads_erased_after_rwwsre(full_runs, mcu) -> None:
    spmen, pgers, rwwsb = 0x01, 0x02, 0x40
    d = full_runs[mcu].debug
    assert d[0] == rwwsb | pgers | spmen
    assert d[2] & (rwwsb | spmen) == 0
    assert d[3] == 0xFF


def test_2560_page_above_64k_via_rampz_and_elpm(full_runs) -> None:
    """0x3C000 is erased and written through RAMPZ=3 and read back by ELPM; the 64 KB aliases are untouched."""
    chip = get_chip("atmega2560")
    sim = full_runs["atmega2560"]
    at = LAYOUT["atmega2560"]["VICTIM_ERASE"]
    assert at > 0xFFFF
    assert sim.flash[at:at + chip.page_size] == bytes(range(256))
    assert sim.debug[8:12] == b"\x00\x01\x02\x03"  # ELPM read back with RAMPZ
    for alias in (at & 0xFFFF, (at & 0xFFFF) + 0x10000, (at & 0xFFFF) + 0x20000):
        assert sim.flash[alias:alias + chip.page_size] == b"\xff" * chip.page_size
    # the routine runs at 0x3FC00, beyond any 16-bit address: calls into it and returns from it took 22 bits
    assert sim.markers[-1].value == 9


def test_2560_power_cut_tears_the_page_above_64k(spm_firmwares) -> None:
    chip = get_chip("atmega2560")
    fw = spm_firmwares[("atmega2560", chip.flash_size - 1024)]
    fuses = {"hfuse": hfuse_with_bootsz("atmega2560", 0b11)}
    probe = Simulator(fw, "atmega2560", fuses=fuses)
    probe.run(2_000_000, stop_on_marker=1)
    cut = run_with_power_cut(fw, "atmega2560", cut_cycle=probe.markers[0].cycle + OP_CYCLES // 2, seed=3,
                             fuses=fuses)
    assert cut.reason == "cut"
    assert cut.torn_page == LAYOUT["atmega2560"]["VICTIM_ERASE"]
    page = cut.flash[cut.torn_page:cut.torn_page + chip.page_size]
    assert page != bytes(chip.page_size) and page != b"\xff" * chip.page_size  # half-erased


# -- the real Arduino core -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("board", "mcu"), [("mega", "atmega2560"), ("leonardo", "atmega32u4")])
def test_arduino_core_sketch_runs_and_prints(board, mcu) -> None:
    """init() (Timers 0-5 and the ADC set up through storage-only registers), millis()/delay() on Timer0,
    HardwareSerial; on the Leonardo the core's USB start-up waits for the PLL lock first."""
    import shutil

    from spareflash.build import build_sketch

    if shutil.which("arduino-builder") is None:
        pytest.skip("arduino-builder is not installed (./dev setup)")
    built = build_sketch(FW / "ArduinoHello", board, apply_plan=False)
    sim = Simulator(built.elf, mcu)
    result = sim.run(20_000_000)
    assert result.reason == "sleep", result.message
    # delay(5) waits 5 ms of micros(); millis() advances in 1.024 ms steps, so 4 or 5 whole ms pass
    assert re.fullmatch(r"Arduino hello, delay\(5\) took [45] ms\r\n", sim.serial_text), sim.serial_text
    assert sim.markers[-1].value == 9


def test_known_gap_plain_elpm_ignores_rampz(avr_build) -> None:
    """yasimavr 0.1.6: `elpm` (r0 implied) reads RAMPZ=0's 64 KB; `elpm rd, Z`, which avr-gcc/avr-libc emit,
    is right. When this test fails, yasimavr fixed it: drop the gap from docs/simulator.md."""
    elf = avr_build([FW / "elpm_r0.c"], "atmega2560", ["-Wl,--section-start=.hi=0x3C000"], name="bigmega-elpm-r0")
    sim = Simulator(elf, "atmega2560")
    assert sim.run(200_000).ok
    assert sim.flash[0x3C000] == 0xA7 and sim.flash[0xC000] == 0xFF
    assert sim.debug == bytes([0xFF, 0xA7])  # plain elpm read 0xC000, elpm r, Z read 0x3C000
