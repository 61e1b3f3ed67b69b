"""`spareflash overlay upload overlays.bin --port PORT [--baud]`: write an image into the SPI NOR chip through the
OverlayUploader sketch (examples/OverlayUploader), over a serial port (pyserial).

The framed protocol is described in examples/OverlayUploader/OverlayUploader.cpp (and docs/overlay-format.md).
The upload checks the image (`format.unpack`: a corrupt overlays.bin is refused before anything is erased), asks
for the JEDEC id, erases the 4 KB sectors the image covers, programs it in 256-byte NOR pages (the board reads
every page back), then reads the whole image back and compares. A frame answered with a CRC error, or not
answered, is sent again (RETRIES times); after that the upload stops with one line saying which frame and why.
"""

from __future__ import annotations

import binascii
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import SpareFlashError

SOF = 0x7E
PAGE = 256
SECTOR = 4096
RETRIES = 3
STATUS = {0: "ok", 1: "CRC error on the serial line", 2: "bad frame", 3: "read-back differs after programming",
          4: "no SPI NOR chip answers"}


class UploadError(SpareFlashError):
    """The upload failed (serial port, board, chip or line errors); the message is one line."""


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0)  # CRC-16/XMODEM, avr-libc's _crc_xmodem_update


def frame(cmd: str, addr: int = 0, data: bytes = b"") -> bytes:
    body = bytes([ord(cmd)]) + struct.pack("<I", addr)[:3] + struct.pack("<H", len(data)) + data
    return bytes([SOF]) + body + struct.pack("<H", crc16(body))


@dataclass
class UploadResult:
    bytes_written: int
    sectors_erased: int
    pages_programmed: int
    retries: int
    jedec: bytes


class Link:
    """Frames over a pyserial-like object (write, read, reset_input_buffer)."""

    def __init__(self, port: Any, timeout_s: float = 5.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.retries = 0

    def _read(self, n: int, deadline: float) -> bytes:
        out = b""
        while len(out) < n:
            if time.monotonic() > deadline:
                break
            out += self.port.read(n - len(out))
        return out

    def _reply(self, echo: int) -> tuple[int, bytes] | None:
        """The board's reply to the frame whose crc field is `echo`; a late reply to an earlier frame (after a
        timeout and a resend) carries another echo and is skipped."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            b = self._read(1, deadline)
            if not b:
                return None
            if b[0] != SOF:
                continue
            head = self._read(5, deadline)
            if len(head) < 5:
                return None
            n = struct.unpack_from("<H", head, 3)[0]
            if n > PAGE:
                continue  # not a reply header: resynchronise on the next SOF
            rest = self._read(n + 2, deadline)
            if len(rest) < n + 2 or struct.unpack_from("<H", rest, n)[0] != crc16(head + rest[:n]):
                return None  # a garbled reply: treated like no reply (the command is idempotent, it is sent again)
            if struct.unpack_from("<H", head, 1)[0] != echo:
                continue
            return head[0], rest[:n]

    def request(self, cmd: str, addr: int = 0, data: bytes = b"", what: str = "") -> bytes:
        last = "no reply (is OverlayUploader running on the board, at this baud rate?)"
        for attempt in range(RETRIES + 1):
            if attempt:
                self.retries += 1
                self.port.reset_input_buffer()
            f = frame(cmd, addr, data)
            self.port.write(f)
            rep = self._reply(struct.unpack_from("<H", f, len(f) - 2)[0])
            if rep is None:
                last = "no valid reply"
                continue
            status, payload = rep
            if status == 0:
                return payload
            last = STATUS.get(status, f"status {status}")
            if status != 1:  # only a line error is worth repeating
                break
        raise UploadError(f"upload: {what or cmd} at 0x{addr:06X} failed after {attempt + 1} tries: {last}")


def upload(image: bytes, port: Any, *, nor_addr: int = 0, check_image: bool = True,
           progress: Callable[[str], None] | None = None) -> UploadResult:
    """Write `image` at `nor_addr` through an open serial port object and verify it by reading it back."""
    if check_image:
        from .format import unpack

        unpack(image)  # raises a one-line FormatError for a corrupt image, before anything is erased
    if nor_addr % SECTOR:
        raise UploadError(f"upload: NOR address 0x{nor_addr:X} is not at a 4 KB sector boundary")
    link = Link(port)
    jedec = link.request("I", what="JEDEC id")
    first, end = nor_addr, nor_addr + len(image)
    sectors = range(first, end, SECTOR)
    for s in sectors:
        link.request("E", s, what="sector erase")
    pages = 0
    for off in range(0, len(image), PAGE):
        chunk = image[off:off + PAGE]
        if chunk.strip(b"\xff"):  # an erased page already reads 0xFF
            link.request("W", nor_addr + off, chunk, what="page program")
            pages += 1
    if progress:
        progress(f"programmed {pages} pages, verifying")
    for off in range(0, len(image), PAGE):
        want = image[off:off + PAGE]
        got = link.request("R", nor_addr + off, struct.pack("<H", len(want)), what="read back")
        if got != want:
            bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            raise UploadError(f"upload: verify failed at NOR 0x{nor_addr + off + bad:06X} (the chip holds other "
                              "bytes than the image)")
    return UploadResult(len(image), len(sectors), pages, link.retries, jedec)


def upload_file(path: str, port_name: str, baud: int = 115200, *, nor_addr: int = 0,
                progress: Callable[[str], None] | None = None) -> UploadResult:
    """Open `port_name` with pyserial (a device path or a pyserial URL) and upload the file at `path`."""
    from pathlib import Path

    try:
        import serial
    except ImportError:  # pragma: no cover - depends on the machine
        raise UploadError("upload: needs pyserial (pip install pyserial; ./dev setup)") from None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UploadError(f"upload: cannot read {path}: {exc.strerror}") from None
    from .format import unpack

    unpack(data)  # a corrupt image is refused before the port is even opened
    try:
        port = serial.serial_for_url(port_name, baudrate=baud, timeout=0.2)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise UploadError(f"upload: cannot open {port_name}: {str(exc).splitlines()[0]}") from None
    try:
        # an Arduino resets when the port opens (DTR): the sketch needs a moment before it listens
        return upload(data, port, nor_addr=nor_addr, progress=progress)
    except serial.SerialException as exc:
        raise UploadError(f"upload: serial port {port_name}: {str(exc).splitlines()[0]}") from None
    finally:
        port.close()
