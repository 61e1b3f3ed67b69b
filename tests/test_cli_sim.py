"""`spareflash sim FIRMWARE --mcu MCU ...`: prints Serial output, writes the flash, exit 0 only on a clean end."""

from __future__ import annotations

from pathlib import Path

import pytest

from spareflash.cli import main
from spareflash.sim import read_hex

pytest.importorskip("yasimavr")

FW = Path(__file__).parent / "firmware" / "fidelity"


def hello(avr_build, mode: str = "MODE_HELLO") -> Path:
    return avr_build([FW / "hello.c"], "atmega328p", [f"-DMODE={mode}"], name=f"hello_{mode.lower()}")


def test_prints_serial_output_and_exits_0_when_the_firmware_sleeps(avr_build, capsys):
    rc = main(["sim", str(hello(avr_build)), "--mcu", "atmega328p", "--cycles", "1000000"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out == "hello from sim\ndbg"  # Serial, then the debug console (GPIOR1)
    assert err == ""


def test_crash_exits_3_with_one_line_reason(avr_build, capsys):
    rc = main(["sim", str(hello(avr_build, "MODE_CRASH")), "--mcu", "atmega328p"])
    out, err = capsys.readouterr()
    assert rc == 3
    assert out == "about to erase\n"  # what the firmware printed before it crashed is still shown
    assert err.count("\n") == 1 and "Flash write refused" in err and "Traceback" not in err


@pytest.mark.parametrize("mode, why", [("MODE_SPIN", "loops forever"), ("MODE_IDLE", "nothing woke it")])
def test_firmware_that_never_ends_exits_3(avr_build, capsys, mode, why):
    rc = main(["sim", str(hello(avr_build, mode)), "--mcu", "atmega328p", "--cycles", "200000"])
    _out, err = capsys.readouterr()
    assert rc == 3
    assert why in err and err.count("\n") == 1


def test_budget_running_out_exits_3(avr_build, capsys):
    rc = main(["sim", str(hello(avr_build)), "--mcu", "atmega328p", "--cycles", "500"])
    _out, err = capsys.readouterr()
    assert rc == 3 and "cycle budget of 500" in err


def fidelity(avr_build) -> Path:
    return avr_build([FW / "spm_fidelity.c"], "atmega328p", [
        "-Wl,--section-start=.spmroutine=0x7E00", "-Wl,--section-start=.victim_erase=0x1000",
        "-Wl,--section-start=.victim_write=0x1080"], name="spm_fidelity_7e00")


def test_flash_out_writes_the_final_flash_as_intel_hex(avr_build, tmp_path, capsys):
    out_hex = tmp_path / "flash.hex"
    rc = main(["sim", str(fidelity(avr_build)), "--mcu", "atmega328p", "--flash-out", str(out_hex)])
    assert rc == 0, capsys.readouterr().err
    image = read_hex(out_hex)
    assert image[0x1000:0x1080] == b"\xff" * 0x80  # erased
    assert image[0x1080:0x1084] == bytes([0x0C, 0x30, 0x0C, 0x30])  # written over 0x3C without erase


def test_flash_in_powers_on_with_the_given_flash_not_the_firmware(avr_build, tmp_path, capsys):
    saved = tmp_path / "saved.hex"
    assert main(["sim", str(fidelity(avr_build)), "--mcu", "atmega328p", "--flash-out", str(saved)]) == 0
    capsys.readouterr()
    again = tmp_path / "again.hex"
    # the hello firmware only contributes fuses here: the chip boots the saved flash (the fidelity program)
    rc = main(["sim", str(hello(avr_build)), "--mcu", "atmega328p", "--flash-in", str(saved),
               "--flash-out", str(again)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "hello" not in out
    assert read_hex(again)[:0x1100] == read_hex(saved)[:0x1100]


def test_fuse_override_changes_the_boot_section(avr_build, capsys):
    # BOOTSZ=11 on the command line: the 512-byte boot section starts at 0x7E00, the routine is inside
    rc = main(["sim", str(fidelity(avr_build)), "--mcu", "atmega328p", "--fuses", "0xFF,0xDF,0xFD"])
    assert rc == 0, capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--mcu", "atmega9999"], "no simulator model for atmega9999"),
    (["--mcu", "atmega328p", "--cycles", "0"], "--cycles must be positive"),
    (["--mcu", "atmega328p", "--flash-in", "/nonexistent.hex"], "no such flash image"),
    (["--mcu", "atmega328p", "--fuses", "0xZZ"], "--fuses"),
])
def test_bad_input_is_one_line_exit_2(avr_build, capsys, args, message):
    rc = main(["sim", str(hello(avr_build)), *args])
    _out, err = capsys.readouterr()
    assert rc == 2 and message in err and err.count("\n") == 1


def test_missing_or_bad_firmware_file(tmp_path, capsys):
    assert main(["sim", str(tmp_path / "nope.elf"), "--mcu", "atmega328p"]) == 2
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"not firmware")
    assert main(["sim", str(junk), "--mcu", "atmega328p"]) == 2
    err = capsys.readouterr().err
    assert "no such firmware file" in err and "not an ELF or Intel HEX" in err


def test_spi_flash_option_attaches_the_nor_part(avr_build, tmp_path, capsys):
    image = tmp_path / "nor.bin"
    image.write_bytes(b"\xff" * 4096)
    rc = main(["sim", str(hello(avr_build)), "--mcu", "atmega328p", "--spi-flash", str(image)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.startswith("hello from sim")
