"""The simulated SPI NOR flash (W25Q32-like, spareflash.sim.spinor).

Specification (Winbond W25Q32JV datasheet):
* 0x9F JEDEC id EF 40 16; 0x03 read, 0x0B fast read (one dummy byte); 0x05 status register 1: BUSY bit 0,
  WEL bit 1; 0x06/0x04 set/clear WEL;
* 0x02 page program wraps inside its 256-byte page and can only turn 1s into 0s; 0x20 erases 4 KB, 0xD8
  64 KB, 0xC7 the chip; program/erase need WEL, clear it when done, are ignored while BUSY and run for the
  datasheet's typical times (0.4 ms, 45 ms, 150 ms, 10 s);
* erase counts per 4 KB sector; contents load from and save to a raw binary file;
* firmware on the ATmega328P (hardware SPI, CS = SS = PB2) and on the ATtiny85 (USI three-wire, CS = PB3)
  reads the id and does a read / erase / program / read round trip, seeing BUSY during the erase.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spareflash.errors import SpareFlashError
from spareflash.sim import Simulator
from spareflash.sim.spinor import (
    BLOCK,
    JEDEC_ID,
    PAGE,
    SECTOR,
    SIZE,
    WIRING,
    NorTimings,
    SpiNorFlash,
    open_spi_flash,
)

FW = Path(__file__).resolve().parent / "firmware" / "spinor" / "spinor_roundtrip.c"


class Bus:
    """Drives the chip's byte-level interface the way the SPI end point does, with a settable clock."""

    def __init__(self, chip: SpiNorFlash, freq: int = 16_000_000) -> None:
        self.chip = chip
        self.cycle = 0
        chip._now = lambda: self.cycle
        chip._freq = freq

    def transfer(self, *out: int, read: int = 0) -> list[int]:
        """One CS-low transaction: send `out`, then `read` dummy bytes; returns the bytes clocked back."""
        got = [self.chip._select(True)]
        for b in list(out) + [0xFF] * read:
            got.append(self.chip._byte(b))
        self.chip._select(False)
        return got[len(out):len(out) + read]  # the byte returned after byte i is shifted out during byte i+1

    def cmd_addr(self, cmd: int, addr: int, *data: int, read: int = 0) -> list[int]:
        return self.transfer(cmd, (addr >> 16) & 0xFF, (addr >> 8) & 0xFF, addr & 0xFF, *data, read=read)

    def status(self) -> int:
        return self.transfer(0x05, read=1)[0]

    def wait(self) -> None:
        self.cycle = max(self.cycle, self.chip._op.end_cycle if self.chip._op else self.cycle)


@pytest.fixture
def bus() -> Bus:
    return Bus(SpiNorFlash())


# -- the command set ---------------------------------------------------------------------------------------

def test_jedec_id_and_geometry(bus: Bus) -> None:
    assert bus.transfer(0x9F, read=4) == [*JEDEC_ID, 0xFF]
    assert bus.chip.size == SIZE == 4 * 1024 * 1024
    assert len(bus.chip.erase_counts) == SIZE // SECTOR == 1024


def test_read_and_fast_read(bus: Bus) -> None:
    bus.chip.data[0x123456:0x12345A] = b"\x01\x02\x03\x04"
    assert bus.cmd_addr(0x03, 0x123456, read=4) == [1, 2, 3, 4]
    assert bus.cmd_addr(0x0B, 0x123456, 0xFF, read=4) == [1, 2, 3, 4]  # one dummy byte first
    bus.chip.data[-1] = 0x77
    bus.chip.data[0] = 0x66
    assert bus.cmd_addr(0x03, SIZE - 1, read=2) == [0x77, 0x66]  # the read wraps at the end of the chip


def test_write_enable_and_disable(bus: Bus) -> None:
    assert bus.status() == 0
    bus.transfer(0x06)
    assert bus.status() == 0x02
    bus.transfer(0x04)
    assert bus.status() == 0


def test_page_program_needs_wel_and_only_clears_bits(bus: Bus) -> None:
    bus.cmd_addr(0x02, 0x1000, 0x00)
    assert bus.chip.data[0x1000] == 0xFF and bus.chip.ignored == [0x02]
    bus.transfer(0x06)
    bus.cmd_addr(0x02, 0x1000, 0xF0, 0x0F)
    assert bus.status() & 0x01  # BUSY
    bus.wait()
    assert bus.status() == 0  # done: BUSY and WEL cleared
    bus.transfer(0x06)
    bus.cmd_addr(0x02, 0x1000, 0x3C, 0xFF)
    bus.wait()
    assert bytes(bus.chip.data[0x1000:0x1002]) == bytes([0xF0 & 0x3C, 0x0F])


def test_page_program_wraps_inside_its_page(bus: Bus) -> None:
    bus.transfer(0x06)
    bus.cmd_addr(0x02, 0x20FE, 1, 2, 3, 4)
    bus.wait()
    assert bus.chip.read(0x20FE, 2) == b"\x01\x02"
    assert bus.chip.read(0x2000, 2) == b"\x03\x04"
    assert bus.chip.read(0x2100, 1) == b"\xFF"  # the next page is untouched
    bus.transfer(0x06)
    bus.cmd_addr(0x02, 0x3000, *[(i & 0xFF) for i in range(PAGE + 4)])  # more than a page: the last 256 win
    bus.wait()
    assert bus.chip.read(0x3000, 4) == bytes([0 & 4, 1 & 5, 2 & 6, 3 & 7])


def test_erases_and_their_counters(bus: Bus) -> None:
    bus.chip.data[:] = b"\x00" * SIZE
    bus.transfer(0x06)
    bus.cmd_addr(0x20, 0x1234)  # 4 KB sector 1
    bus.wait()
    assert bus.chip.read(0x1000, SECTOR) == b"\xFF" * SECTOR
    assert bus.chip.read(0x0FFF, 1) == b"\x00" and bus.chip.read(0x2000, 1) == b"\x00"
    bus.transfer(0x06)
    bus.cmd_addr(0xD8, 0x2FFFF)  # 64 KB block 2
    bus.wait()
    assert bus.chip.read(2 * BLOCK, BLOCK) == b"\xFF" * BLOCK
    assert bus.chip.erase_counts[1] == 1
    assert bus.chip.erase_counts[32:48] == [1] * 16 and bus.chip.erase_counts[48] == 0
    bus.transfer(0x06)
    bus.transfer(0xC7)
    bus.wait()
    assert bus.chip.data == b"\xFF" * SIZE
    assert bus.chip.erase_counts[1] == 2 and bus.chip.erase_counts[32] == 2 and bus.chip.erase_counts[0] == 1


def test_erase_with_a_wrong_length_or_without_wel_is_ignored(bus: Bus) -> None:
    bus.chip.data[0x5000] = 0
    bus.cmd_addr(0x20, 0x5000)
    bus.transfer(0x06)
    bus.transfer(0x20, 0x00, 0x50)  # CS high before the last address byte
    bus.transfer(0x20, 0x00, 0x50, 0x00, 0x00)  # a byte too many
    assert bus.chip.data[0x5000] == 0 and bus.chip.erase_counts[5] == 0
    assert bus.chip.ignored == [0x20, 0x20, 0x20]


def test_busy_ignores_everything_but_status(bus: Bus) -> None:
    bus.transfer(0x06)
    bus.cmd_addr(0x20, 0x0000)
    assert bus.transfer(0x9F, read=3) == [0xFF, 0xFF, 0xFF]
    bus.transfer(0x06)
    bus.cmd_addr(0x20, 0x8000)
    assert bus.chip.erase_counts[8] == 0
    assert bus.status() == 0x03  # BUSY + WEL until the erase ends
    assert bus.chip.ignored == [0x9F, 0x06, 0x20]


@pytest.mark.parametrize(("cmd", "addr", "us"), [
    (0x02, 0x0000, 400.0), (0x20, 0x0000, 45_000.0), (0xD8, 0x0000, 150_000.0), (0xC7, None, 10_000_000.0),
])
def test_operation_times_are_the_typical_datasheet_values(bus: Bus, cmd: int, addr: int | None, us: float) -> None:
    bus.transfer(0x06)
    if cmd == 0x02:
        bus.cmd_addr(cmd, addr, 0x00)
    elif addr is None:
        bus.transfer(cmd)
    else:
        bus.cmd_addr(cmd, addr)
    cycles = round(us * 16)  # 16 MHz
    bus.cycle = cycles - 1
    assert bus.status() & 0x01
    bus.cycle = cycles
    assert bus.status() == 0


def test_timings_are_parameters() -> None:
    bus = Bus(SpiNorFlash(timings=NorTimings(sector_erase_us=400_000.0)), freq=8_000_000)
    bus.transfer(0x06)
    bus.cmd_addr(0x20, 0)
    bus.cycle = 3_200_000 - 1
    assert bus.status() & 0x01
    bus.cycle = 3_200_000
    assert not bus.status() & 0x01


def test_power_cut_tears_the_operation_in_flight() -> None:
    chip = SpiNorFlash()
    bus = Bus(chip)
    chip.data[0:SECTOR] = b"\x00" * SECTOR
    bus.transfer(0x06)
    bus.cmd_addr(0x20, 0)
    chip.on_power_off(seed=3)
    torn = chip.read(0, SECTOR)
    assert torn != b"\xFF" * SECTOR and torn != b"\x00" * SECTOR  # some bits made it, some did not
    assert chip.status() == 0
    again = SpiNorFlash()
    Bus(again).transfer(0x06)
    again.data[0:SECTOR] = b"\x00" * SECTOR
    Bus(again).cmd_addr(0x20, 0)
    again.on_power_off(seed=3)
    assert again.read(0, SECTOR) == torn  # same seed, same tear


def test_contents_load_from_and_save_to_a_raw_file(tmp_path: Path) -> None:
    path = tmp_path / "nor.bin"
    assert open_spi_flash(path).data == b"\xFF" * SIZE  # no file yet: a blank chip
    path.write_bytes(b"\x12\x34")
    chip = open_spi_flash(path)
    assert chip.read(0, 3) == b"\x12\x34\xFF"
    chip.data[100] = 0
    chip.save(path)
    assert path.stat().st_size == SIZE and path.read_bytes()[100] == 0
    path.write_bytes(b"\x00" * (SIZE + 1))
    with pytest.raises(SpareFlashError, match="more than the chip"):
        open_spi_flash(path)


# -- firmware on real SPI hardware models ----------------------------------------------------------------

@pytest.mark.parametrize(("mcu", "freq"), [("atmega328p", 16_000_000), ("attiny85", 8_000_000),
                                           ("attiny84", 8_000_000)])
def test_firmware_round_trip(avr_build, mcu: str, freq: int) -> None:
    elf = avr_build([FW], mcu, name=f"spinor-{mcu}")
    chip = SpiNorFlash()
    chip.data[0x1000:0x1008] = bytes(range(1, 9))
    sim = Simulator(elf, mcu, freq=freq, peripherals=[chip])
    result = sim.run(20_000_000)
    assert result.reason == "sleep", result.message
    assert chip.wiring == WIRING[mcu]

    out = sim.debug
    assert out[0:3] == bytes(JEDEC_ID)
    assert out[3:11] == bytes(range(1, 9))  # 0x03 read of the preloaded bytes
    assert out[11] == 0x03  # status right after the erase command: BUSY and WEL
    assert out[12] > 0 and chip.busy_seen > 0  # the firmware polled while BUSY
    assert out[13:29] == b"\xFF" * 8 + bytes(range(0xA0, 0xA8))  # fast read of the page end
    assert out[29:37] == bytes(range(0xA8, 0xB0))  # the wrapped bytes at the page start
    assert out[37] == 0x00  # a program without write enable: ignored, not busy
    assert chip.read(0x10F8, 8) == bytes(range(0xA0, 0xA8)) and chip.read(0x1000, 8) == bytes(range(0xA8, 0xB0))
    assert chip.read(0x2000, 1) == b"\xFF"
    assert chip.erase_counts[1] == 1 and sum(chip.erase_counts) == 1
    assert chip.ignored == [0x02]

    # BUSY lasted the 45 ms sector erase (the firmware's poll adds up to one poll period)
    erase = round(45e-3 * freq)
    assert erase <= sim.cycles_between(0x30, 0x31) <= erase + 3000
    program = round(0.4e-3 * freq)
    assert program <= sim.cycles_between(0x40, 0x41) <= program + 3000


@pytest.mark.parametrize("mcu", ["attiny85", "attiny84"])
def test_the_librarys_driver_uses_the_parts_usi_pins(avr_build, mcu: str) -> None:
    """library/src/SpiNor.cpp picks the USI's port per part (PORTB on the ATtiny25/45/85, PORTA on the ATtiny84)."""
    lib = Path(__file__).resolve().parents[1] / "library" / "src"
    elf = avr_build([FW.parent / "spinor_driver.cpp", lib / "SpiNor.cpp"], mcu,
                    [f"-I{lib}", "-DF_CPU=8000000UL", "-std=gnu++11", "-fno-exceptions"], name=f"spinor-driver-{mcu}")
    chip = SpiNorFlash()
    chip.data[0x1000:0x1008] = bytes(range(11, 19))
    chip.data[0x2000:0x2004] = b"\x00" * 4  # the erase must really run before the program
    sim = Simulator(elf, mcu, freq=8_000_000, peripherals=[chip])
    result = sim.run(50_000_000)
    assert result.reason == "sleep", result.message
    assert chip.wiring == WIRING[mcu]
    assert sim.debug == bytes([0]) + bytes(range(11, 19)) + bytes([0, 0]) + bytes([0xDE, 0xAD, 0xBE, 0xEF])
    assert chip.read(0x2000, 4) == bytes([0xDE, 0xAD, 0xBE, 0xEF]) and chip.erase_counts[2] == 1


def test_contents_written_by_firmware_survive_save_and_reload(avr_build, tmp_path: Path) -> None:
    """The CLI path: contents from a file, run, saved back; the next run reads what the first one wrote."""
    elf = avr_build([FW], "atmega328p", name="spinor-atmega328p")
    path = tmp_path / "nor.bin"
    chip = open_spi_flash(path)
    assert Simulator(elf, "atmega328p", peripherals=[chip]).run(20_000_000).ok
    chip.save(path)
    again = open_spi_flash(path)
    assert again.read(0x1000, 8) == bytes(range(0xA8, 0xB0))
