"""The Simulator API (docs/simulator.md): loading, fuses, run reasons, markers, consoles, flash access, registry."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from spareflash.chips import get_chip
from spareflash.errors import SimulationError, SpareFlashError
from spareflash.sim import Simulator, load_firmware, read_hex, register_device, registered_devices, write_hex

pytest.importorskip("yasimavr")

FW = Path(__file__).parent / "firmware" / "fidelity"


def hello(avr_build, mode: str = "MODE_HELLO", mcu: str = "atmega328p") -> Path:
    return avr_build([FW / "hello.c"], mcu, [f"-DMODE={mode}"], name=f"hello_{mode.lower()}_{mcu}")


def test_elf_fuses_come_from_the_fuse_section_and_overrides_win(avr_build):
    elf = hello(avr_build)
    assert load_firmware(elf).fuses == {"lfuse": 0xFF, "hfuse": 0xDF, "efuse": 0xFD}
    sim = Simulator(elf, "atmega328p")
    assert sim.fuses == {"lfuse": 0xFF, "hfuse": 0xDF, "efuse": 0xFD, "lock": 0xFF}
    sim = Simulator(elf, "atmega328p", fuses={"hfuse": 0xD9, "lock": 0xCF})
    assert sim.fuses["hfuse"] == 0xD9 and sim.fuses["lock"] == 0xCF and sim.fuses["lfuse"] == 0xFF


def test_fuses_apply_at_power_on_bootrst_moves_the_reset_vector(avr_build):
    # BOOTRST programmed (hfuse bit 0 = 0): reset jumps to the empty boot section and runs off the end of flash
    sim = Simulator(hello(avr_build), "atmega328p", fuses={"hfuse": 0xDE})
    result = sim.run(100_000)
    assert result.reason == "crash" and "past the end of flash" in result.message
    assert sim.serial == b""


def test_hex_firmware_runs_like_the_elf(avr_build, tmp_path):
    elf = hello(avr_build)
    hexfile = tmp_path / "hello.hex"
    subprocess.run(["avr-objcopy", "-O", "ihex", "-R", ".eeprom", "-R", ".fuse", str(elf), str(hexfile)], check=True)
    fw = load_firmware(hexfile)
    assert fw.fuses == {} and fw.flash == load_firmware(elf).flash
    result = Simulator(hexfile, "atmega328p").run(1_000_000)
    assert result.ok and result.serial == b"hello from sim\n"


def test_run_reports_serial_debug_markers_and_cycles(avr_build):
    sim = Simulator(hello(avr_build), "atmega328p")
    result = sim.run(1_000_000)
    assert result.reason == "sleep" and result.ok
    assert result.serial_text == "hello from sim\n" and sim.serial_text == "hello from sim\n"
    assert result.debug == b"dbg"
    assert [m.value for m in result.markers] == [1, 2]
    # the volatile 16-bit loop: 1000 iterations of a handful of instructions
    assert 5_000 < sim.cycles_between(1, 2) < 30_000
    assert result.cycles == sim.cycle > result.markers[-1].cycle
    assert sim.run(1_000_000) is result  # an ended run stays ended
    with pytest.raises(SimulationError):
        sim.cycles_between(2, 1)


def test_stop_on_marker_and_continue(avr_build):
    sim = Simulator(hello(avr_build), "atmega328p")
    first = sim.run(1_000_000, stop_on_marker=2)
    assert first.reason == "marker" and first.marker is not None and first.marker.value == 2
    assert [m.value for m in first.markers] == [1, 2]
    rest = sim.run(1_000_000)
    assert rest.reason == "sleep"


def test_budget_and_run_until(avr_build):
    sim = Simulator(hello(avr_build), "atmega328p")
    part = sim.run(1000)
    assert part.reason == "budget" and sim.cycle == 1000
    assert sim.run_until(5000).reason == "budget" and sim.cycle == 5000
    assert sim.run(stop_on_marker=True, max_cycles=10).reason == "budget"
    assert sim.run().reason == "sleep"


def test_crash_is_a_result_not_an_exception(avr_build):
    result = Simulator(hello(avr_build, "MODE_CRASH"), "atmega328p").run(1_000_000)
    assert result.reason == "crash" and "Flash write refused" in result.message
    with pytest.raises(SimulationError, match="Flash write refused"):
        result.raise_for_status()


def test_flash_snapshot_restore_and_flash_in(avr_build, tmp_path):
    sim = Simulator(hello(avr_build), "atmega328p")
    chip = get_chip("atmega328p")
    image = sim.snapshot_flash()
    assert len(image) == chip.flash_size and image[-1] == 0xFF
    changed = bytearray(image)
    changed[0x4000] = 0x12
    sim.restore_flash(bytes(changed))
    assert sim.flash[0x4000] == 0x12
    path = tmp_path / "f.hex"
    sim.write_flash_hex(path)
    assert read_hex(path)[0x4000] == 0x12
    booted = Simulator(hello(avr_build), "atmega328p", flash_in=path)
    assert booted.flash == bytes(changed)
    from intelhex import IntelHex

    booted = Simulator(hello(avr_build), "atmega328p", flash_in=IntelHex(str(path)))  # the HEX as an object
    assert booted.flash == bytes(changed)
    with pytest.raises(SpareFlashError, match="flash_in has 10 bytes"):
        Simulator(hello(avr_build), "atmega328p", flash_in=b"\x00" * 10)


def test_write_hex_leaves_out_erased_rows(tmp_path):
    image = bytearray(b"\xff" * 256)
    image[0x80] = 0x00
    write_hex(bytes(image), tmp_path / "x.hex")
    text = (tmp_path / "x.hex").read_text()
    assert text.count("\n") == 2  # one data row, the end record
    assert read_hex(tmp_path / "x.hex") == bytes(image[:0x90])


@pytest.mark.parametrize("mcu", ["atmega168p", "atmega88p"])
def test_other_x8_parts_run(avr_build, mcu):
    result = Simulator(hello(avr_build, mcu=mcu), mcu).run(1_000_000)
    assert result.ok and result.serial == b"hello from sim\n"


def test_peripherals_attach_before_the_first_cycle_and_see_the_simulator(avr_build):
    seen = {}

    class Probe:
        def attach(self, sim):
            seen.update(cycle=sim.cycle, chip=sim.chip.name, has_loop=sim.loop is not None,
                        has_device=sim.device is not None)

        def on_power_off(self, sim):
            seen["off"] = True

    sim = Simulator(hello(avr_build), "atmega328p", peripherals=[Probe()])
    assert seen == {"cycle": 0, "chip": "atmega328p", "has_loop": True, "has_device": True}
    sim.run(100)
    sim.cut_power()
    assert seen["off"] is True
    with pytest.raises(SimulationError):
        sim.run(100)


def test_device_registry(avr_build):
    assert {"atmega328p", "atmega168p", "atmega88p"} <= set(registered_devices())
    with pytest.raises(SpareFlashError, match="no simulator model for atmega9999"):
        Simulator(hello(avr_build), "atmega9999")
    from spareflash.sim.harness import load_yaml_device

    calls = []

    def loader():
        calls.append(1)
        return load_yaml_device("atmega328p")

    register_device("atmega328p", loader)
    try:
        assert Simulator(hello(avr_build), "atmega328p").run(1_000_000).ok and calls == [1]
    finally:
        register_device("atmega328p", lambda: load_yaml_device("atmega328p"))


def test_yasimavr_boot_size_table_is_rebuilt_from_the_chip_model():
    from spareflash.sim.harness import _chip_value

    chip = get_chip("atmega328p")
    # indexed by the unshifted fuse value (code << 1), in pages: 00 -> 4 KB, 01 -> 2 KB, 10 -> 1 KB, 11 -> 512 B
    assert _chip_value(chip, "boot_sizes_unshifted") == [32, 0, 16, 0, 8, 0, 4]
    assert _chip_value(chip, "nrww_pages") == 0x7000 // 128
    assert _chip_value(get_chip("atmega88p"), "boot_sizes_unshifted") == [32, 0, 16, 0, 8, 0, 4]


def test_close_frees_the_model_and_keeps_the_results(avr_build):
    import gc
    import weakref

    with Simulator(hello(avr_build), "atmega328p") as sim:
        result = sim.run(2_000_000)
        flash = sim.flash
    assert result.reason == "sleep"
    assert sim.flash == flash and sim.serial  # results stay readable after close
    ref = weakref.ref(sim)
    del sim
    gc.collect()
    # without close() the device's hooks keep the Simulator alive through C++ (yasimavr), run after run
    assert ref() is None
