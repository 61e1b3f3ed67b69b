"""`spareflash overlay upload`: the OverlayUploader sketch runs on the simulated ATmega328P with the SPI NOR part;
its UART0 is bridged to a pseudo terminal (spareflash.overlay.simbridge), so the real upload code (pyserial on a
serial device) writes the chip. Specification: afterwards the NOR chip holds exactly overlays.bin; a frame
corrupted on the line is sent again; a line that keeps corrupting frames stops the upload with one clear line;
bad ports and bad images are one-line errors at the CLI, never tracebacks.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from spareflash.cli import main
from spareflash.overlay.simbridge import SimSerialBridge
from spareflash.overlay.upload import UploadError, upload
from spareflash.sim.spinor import SpiNorFlash

ROOT = Path(__file__).resolve().parents[1]
SKETCH = ROOT / "examples" / "OverlayUploader" / "OverlayUploader.cpp"
BUILD = ROOT / ".build" / "tests" / "overlay_upload"


@pytest.fixture(scope="module")
def uploader() -> Path:
    srcs = [SKETCH, ROOT / "library" / "src" / "SpiNor.cpp"]
    key = hashlib.sha1(b"".join(p.read_bytes() for p in (*srcs, ROOT / "library" / "src" / "SpiNor.h")))
    elf = BUILD / f"uploader-{key.hexdigest()[:12]}.elf"
    if not elf.exists():
        elf.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["avr-g++", "-mmcu=atmega328p", "-Os", "-DF_CPU=16000000UL", "-std=gnu++11", "-fno-exceptions",
                        f"-I{ROOT / 'library' / 'src'}", "-o", str(elf), *map(str, srcs)], check=True)
    return elf


@pytest.fixture(scope="module")
def image() -> Path:
    from spareflash.bench.overlay import CHIPS, build

    fw, _ref = build(CHIPS[0])
    return fw.overlays_bin  # type: ignore[attr-defined,no-any-return]


def _old_contents() -> bytes:
    return bytes(random.Random(5).randrange(256) for _ in range(3 * 4096))  # a chip that held something else


def test_the_cli_uploads_through_a_serial_port_and_the_chip_then_holds_the_image(uploader: Path, image: Path,
                                                                               capsys: Any) -> None:
    nor = SpiNorFlash(_old_contents())
    with SimSerialBridge(uploader, "atmega328p", peripherals=[nor]) as bridge:
        code = main(["overlay", "upload", str(image), "--port", bridge.port, "--baud", "115200"])
    assert bridge.error is None
    out = capsys.readouterr()
    assert code == 0, out.err
    data = image.read_bytes()
    assert bytes(nor.data[:len(data)]) == data
    assert "written and verified" in out.out and "JEDEC EF4016" in out.out


class FlakyLine:
    """A serial port whose line flips one bit in chosen writes (frames) from the host."""

    def __init__(self, port: Any, corrupt: set[int] | None = None, every_program: bool = False) -> None:
        self.port, self.corrupt, self.every_program, self.writes = port, corrupt or set(), every_program, 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.writes in self.corrupt or (self.every_program and data[1:2] == b"W"):
            data = data[:-4] + bytes([data[-4] ^ 0x10]) + data[-3:]
        return int(self.port.write(data))

    def read(self, n: int) -> bytes:
        return bytes(self.port.read(n))

    def reset_input_buffer(self) -> None:
        self.port.reset_input_buffer()


def _serial(port: str) -> Any:
    import serial
    return serial.Serial(port, 115200, timeout=0.2)


def test_a_corrupted_frame_is_sent_again_and_the_upload_completes(uploader: Path, image: Path) -> None:
    nor = SpiNorFlash(_old_contents())
    data = image.read_bytes()
    with SimSerialBridge(uploader, "atmega328p", peripherals=[nor]) as bridge:
        port = _serial(bridge.port)
        try:
            res = upload(data, FlakyLine(port, corrupt={3}))  # frame 3: the first page program
        finally:
            port.close()
    assert res.retries >= 1  # (more only if the loaded machine made a reply late: a resend is harmless)
    assert bytes(nor.data[:len(data)]) == data


def test_a_line_that_keeps_corrupting_frames_stops_with_one_clear_line(uploader: Path, image: Path) -> None:
    nor = SpiNorFlash(_old_contents())
    with SimSerialBridge(uploader, "atmega328p", peripherals=[nor]) as bridge:
        port = _serial(bridge.port)
        try:
            with pytest.raises(UploadError) as err:
                upload(image.read_bytes(), FlakyLine(port, every_program=True))
        finally:
            port.close()
    msg = str(err.value)
    assert "\n" not in msg
    assert msg == "upload: page program at 0x000000 failed after 4 tries: CRC error on the serial line"
    assert bytes(nor.data[:256]) == b"\xff" * 256  # erased, never programmed with a bad frame


def test_bad_ports_and_bad_images_are_one_line_errors_at_the_cli(image: Path, tmp_path: Path, capsys: Any) -> None:
    code = main(["overlay", "upload", str(image), "--port", str(tmp_path / "no-such-tty")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("spareflash: error: upload: cannot open") and err.count("\n") == 1
    bad = tmp_path / "overlays.bin"
    bad.write_bytes(b"SFOV" + image.read_bytes()[4:40])
    code = main(["overlay", "upload", str(bad), "--port", str(tmp_path / "no-such-tty")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("spareflash: error:") and "Traceback" not in err and err.count("\n") == 1


def test_no_board_answering_is_a_clear_error(uploader: Path, image: Path) -> None:
    import serial

    from spareflash.overlay import upload as up

    class Silent:
        def write(self, data: bytes) -> int:
            return len(data)

        def read(self, n: int) -> bytes:
            return b""

        def reset_input_buffer(self) -> None:
            pass

    link = up.Link(Silent(), timeout_s=0.05)
    with pytest.raises(UploadError, match=r"^upload: JEDEC id at 0x000000 failed after 4 tries: no valid reply$"):
        link.request("I", what="JEDEC id")
    assert serial  # pyserial is installed (the upload path needs it)
