"""Bad input on the command line: every sub-command, every file or value it reads.

The rule (DEVELOPERS.md: "bad input gets a clear one-line error and loses nothing; a crash, hang or traceback is a
bug"), checked for each row of the table below:
  * the exit code is 2 (argparse usage errors too), or the command's documented code;
  * stderr is exactly one line, it starts with "spareflash" and names what is wrong (the row's `words`);
  * no "Traceback" on stdout or stderr;
  * it returns within 60 s (an alarm fails the case instead of hanging the suite);
  * no file in the working directory is written, created or touched (outputs such as --flash-out, the NOR image,
    platform.local.txt, a build folder).

Each case runs `spareflash.cli.main` in this process, in a fresh directory holding the inputs `make_inputs` writes
(no toolchain, no simulator run: the errors come before either is needed). `verify`'s own rules on real firmware
are in tests/test_verify_mutations.py and not repeated here.
"""

from __future__ import annotations

import signal
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from spareflash.arduino import BEGIN_MARK
from spareflash.chips import get_chip
from spareflash.cli import main
from spareflash.overlay.format import HEADER_SIZE, SLOT_HEADER_SIZE, OverlayImage, Variant, crc32, pack
from spareflash.verify import to_hex

M328 = ["--mcu", "atmega328p"]
TIMEOUT_S = 60


@dataclass(frozen=True)
class Bad:
    """`spareflash ARGV` must fail by the rule, with `words` in its one error line."""

    argv: tuple[str, ...]
    words: str
    code: int = 2


def bad(*argv: str, words: str, code: int = 2) -> Bad:
    return Bad(tuple(argv), words, code)


# ---- the inputs (small files written into each case's directory) -----------------------------------------------
def _record(addr: int, data: bytes, rtype: int = 0) -> str:
    body = bytes([len(data), addr >> 8, addr & 0xFF, rtype]) + data
    return ":" + (body + bytes([-sum(body) & 0xFF])).hex().upper()


# a firmware the simulator can load: `rjmp .` at the reset vector, then erased flash
GOOD_HEX_LINES = to_hex(b"\xff\xcf" + bytes(range(64)), 0).splitlines()


def _overlay_image() -> bytes:
    chip = get_chip("atmega328p")
    slot_size, start = 512, 0x7A00
    variants = [Variant(s, k, bytes([s * 16 + k]) * 40, start + k * slot_size + SLOT_HEADER_SIZE, 1)
                for s in range(2) for k in range(2)]
    return pack(OverlayImage(chip.signature, chip.page_size, 2, slot_size, start, 0x12345678, 2, variants))


def _with_header_field(image: bytes, offset: int, fmt: str, value: int) -> bytes:
    """`image` with one header field changed and the header CRC made valid again (only later checks can object)."""
    out = bytearray(image)
    struct.pack_into(fmt, out, offset, value)
    struct.pack_into("<I", out, HEADER_SIZE - 4, crc32(bytes(out[:HEADER_SIZE - 4])))
    return bytes(out)


def make_inputs(d: Path) -> None:
    good = GOOD_HEX_LINES
    text = {
        "good.hex": "\n".join(good) + "\n",
        "empty.hex": "",
        "truncated.hex": "\n".join(good[:-1]) + "\n",  # no end-of-file record
        "bad-checksum.hex": "\n".join([good[0][:-2] + f"{(int(good[0][-2:], 16) + 1) & 0xFF:02X}", *good[1:]]) + "\n",
        "non-hex.hex": "\n".join([good[0][:9] + "G" + good[0][10:], *good[1:]]) + "\n",
        "record-type.hex": "\n".join([_record(0, b"\0\0", 7), *good]) + "\n",
        "beyond-flash.hex": "\n".join([*good[:-1], _record(0, b"\x00\x01", 4), _record(0, b"\x12\x34"), good[-1]])
        + "\n",  # 0x10000: past the ATmega328P's 32 KB
        "overlap.hex": "\n".join([*good[:-1], _record(0, b"\x12\x34\x56\x78"), good[-1]]) + "\n",
        "afile": "a regular file\n",
    }
    for name, content in text.items():
        (d / name).write_text(content)
    rnd = bytes((i * 1103515245 + 12345) >> 7 & 0xFF for i in range(4096))  # deterministic garbage
    ovl = _overlay_image()
    binary = {
        "empty.bin": b"",
        "random.bin": rnd,
        "random.elf": rnd,
        "random.hex": rnd,
        # an AVR ELF header (EM_AVR = 83) whose section table lies past the end of the file
        "truncated.elf": b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 2, 83, 1, 0, 0, 0x10000,
                                                                         0, 52, 32, 0, 40, 8, 7),
        "overlays.bin": ovl,
        "overlays-truncated.bin": ovl[: len(ovl) // 2],
        "overlays-header-only.bin": ovl[:20],
        # a valid header (CRC and all) announcing 60000 entry records the file does not have
        "overlays-entries-past-end.bin": _with_header_field(ovl, 28, "<H", 60000),
        "overlays-page-zero.bin": _with_header_field(ovl, 12, "<H", 0),
    }
    for name, content in binary.items():
        (d / name).write_bytes(content)
    (d / "adir").mkdir()
    (d / "src").mkdir()
    (d / "src" / "app.c").write_text("int main(void) { return 0; }\n")  # never compiled: the options fail first
    for name in ("broken-platform", "dir-platform"):
        (d / name).mkdir()
        (d / name / "platform.txt").write_text("name=Test AVR\n")
    (d / "broken-platform" / "boards.local.txt").write_text(f"{BEGIN_MARK}\nuno.menu.x=1\n")  # no end marker
    (d / "dir-platform" / "boards.local.txt").mkdir()


# ---- the table ---------------------------------------------------------------------------------------------------
CASES: dict[str, Bad] = {
    # -- argparse: a usage error is one line too, and names the option
    "no such command: exit 2, lists the commands": bad("nonsense", words="invalid choice: 'nonsense'"),
    "sim without --mcu: names the missing option": bad("sim", "good.hex", words="required: --mcu"),
    "verify --storage x: not a number": bad("verify", "good.hex", *M328, "--storage", "x",
                                            words="--storage: 'x' is not a number"),
    "verify --overlay-slots 3: not N:BYTES": bad("verify", "good.hex", *M328, "--overlay-slots", "3",
                                                 words="'3' is not N:BYTES"),
    "verify --overlay-slots 3: (no size): not N:BYTES": bad("verify", "good.hex", *M328, "--overlay-slots", "3:",
                                                            words="--overlay-slots"),
    "verify --overlay-slots x:256: not a number": bad("verify", "good.hex", *M328, "--overlay-slots", "x:256",
                                                      words="'x' is not a number"),
    "bench of an unknown topic": bad("bench", "nonsense", words="invalid choice: 'nonsense'"),
    "campaign --cuts x: not a number": bad("campaign", "storage", "--cuts", "x", words="--cuts"),
    "sim --cycles x: not a number": bad("sim", "good.hex", *M328, "--cycles", "x", words="not a number: x"),
    "overlay policy --slots x: not a number": bad("overlay", "policy", "--slots", "x", words="--slots"),
    # -- overlay info: the image is checked the way the firmware checks it
    "overlay info of a missing file": bad("overlay", "info", "missing.bin", words="cannot read missing.bin"),
    "overlay info of a directory": bad("overlay", "info", "adir", words="Is a directory"),
    "overlay info of a path under a regular file": bad("overlay", "info", "afile/x", words="Not a directory"),
    "overlay info of an empty file": bad("overlay", "info", "empty.bin", words="truncated: 0 bytes"),
    "overlay info of random bytes": bad("overlay", "info", "random.bin", words="magic: not an overlays.bin"),
    "overlay info of a truncated overlays.bin": bad("overlay", "info", "overlays-truncated.bin",
                                                    words="truncated: header says"),
    "overlay info of a 20-byte overlays.bin": bad("overlay", "info", "overlays-header-only.bin",
                                                  words="truncated: 20 bytes"),
    "overlay info of an entry table past the end of the file": bad("overlay", "info", "overlays-entries-past-end.bin",
                                                                   words="truncated: the entry table"),
    "overlay info of a header with page size 0": bad("overlay", "info", "overlays-page-zero.bin",
                                                     words="slot-geometry"),
    "overlay info --mac-key zz: not hex": bad("overlay", "info", "overlays.bin", "--mac-key", "zz",
                                              words="mac-key: not hexadecimal"),
    "overlay info --mac-key of 1 byte": bad("overlay", "info", "overlays.bin", "--mac-key", "00",
                                            words="need 16 bytes"),
    # -- plan options (verify, report, fuses, dump, arduino hook share them)
    "verify --overlay-slots 0:256: zero slots of a size is a contradiction": bad(
        "verify", "good.hex", *M328, "--overlay-slots", "0:256", words="asks for 0 slots"),
    "build --overlay-slots 0:256: zero slots": bad("build", "adir", "--overlay-slots", "0:256",
                                                   words="asks for 0 slots"),
    "verify --overlay-slots 3:-1: negative slot size": bad("verify", "good.hex", *M328, "--overlay-slots", "3:-1",
                                                           words="region-size: overlay slot size -1 is negative"),
    "verify --storage -128: negative": bad("verify", "good.hex", *M328, "--storage", "-128",
                                           words="region-size: storage size -128 is negative"),
    "verify --storage 100: not a page multiple": bad("verify", "good.hex", *M328, "--storage", "100",
                                                     words="region-alignment"),
    "verify --storage 65536: larger than the flash": bad("verify", "good.hex", *M328, "--storage", "65536",
                                                         words="region-fit"),
    "verify --mcu atmega9999: unknown MCU": bad("verify", "good.hex", "--mcu", "atmega9999",
                                                words="unknown MCU 'atmega9999'"),
    "verify --board nonsense: a board the chip model does not know": bad(
        "verify", "good.hex", *M328, "--board", "nonsense", words="board: 'nonsense' is not a known ATmega328P board"),
    "verify --board of another chip's board": bad("verify", "good.hex", *M328, "--board", "megaatmega2560",
                                                  words="board: 'megaatmega2560'"),
    "report --board nonsense": bad("report", "good.hex", *M328, "--board", "nonsense", words="board: 'nonsense'"),
    "report --hfuse 0x1FF: not a byte": bad("report", "good.hex", *M328, "--hfuse", "0x1FF",
                                            words="'0x1FF' is not a byte"),
    "report --hfuse -1: not a byte": bad("report", "good.hex", *M328, "--hfuse", "-1", words="'-1' is not a byte"),
    "verify --lock zz: not a number": bad("verify", "good.hex", *M328, "--lock", "zz", words="'zz' is not a number"),
    "fuses --backend nonsense": bad("fuses", *M328, "--backend", "nonsense", words="unknown backend 'nonsense'"),
    "fuses --board nonsense": bad("fuses", *M328, "--board", "nonsense", words="board: 'nonsense'"),
    "fuses --backend bootstub on a part without a boot section": bad("fuses", "--mcu", "attiny85", "--backend",
                                                                     "bootstub", words="has no boot section"),
    "fuses --mcu nonsense": bad("fuses", "--mcu", "nonsense", words="unknown MCU 'nonsense'"),
    # -- verify and report read the image strictly (more in test_verify_mutations.py)
    "report of a directory": bad("report", "adir", *M328, words="image-unreadable: adir"),
    "report of a path under a regular file": bad("report", "afile/x.hex", *M328, words="image-unreadable"),
    "report of an AVR ELF whose body is cut off": bad("report", "truncated.elf", *M328, words="elf-malformed"),
    "report of a non-AVR ELF": bad("report", "/bin/ls", *M328, words="not an AVR"),
    "verify of random bytes named .hex: names the line": bad("verify", "random.hex", *M328,
                                                            words="hex-malformed: random.hex line 1"),
    "verify of a HEX with a non-hex character: names the line": bad("verify", "non-hex.hex", *M328,
                                                                   words="non-hex.hex line 1: not hexadecimal"),
    "verify of overlapping HEX records": bad("verify", "overlap.hex", *M328, words="records overlap at 0x0"),
    # -- dump: the same strict reader; a dump must fit the chip
    "dump of a missing file": bad("dump", "missing.hex", *M328, words="dump: no such file: missing.hex"),
    "dump of a directory": bad("dump", "adir", *M328, words="dump: adir is not a file"),
    "dump of a path under a regular file": bad("dump", "afile/x.hex", *M328, words="dump: no such file"),
    "dump of an empty HEX (was: a ValueError traceback)": bad("dump", "empty.hex", *M328, words="empty.hex is empty"),
    "dump of an empty raw dump": bad("dump", "empty.bin", *M328, words="empty.bin is empty"),
    "dump of a truncated HEX (was: decoded as if whole)": bad("dump", "truncated.hex", *M328,
                                                              words="no end-of-file record"),
    "dump of a HEX with a bad checksum: names the line": bad("dump", "bad-checksum.hex", *M328,
                                                             words="bad-checksum.hex line 1: bad checksum"),
    "dump of a HEX with a non-hex character: names the line": bad("dump", "non-hex.hex", *M328,
                                                                 words="non-hex.hex line 1"),
    "dump of a HEX with an unknown record type: names the line": bad("dump", "record-type.hex", *M328,
                                                                    words="line 1: unknown record type 0x07"),
    "dump of a HEX with data beyond the flash (was: ignored)": bad("dump", "beyond-flash.hex", *M328,
                                                                   words="beyond the ATmega328P's 32768-byte flash"),
    "dump of a HEX whose records overlap": bad("dump", "overlap.hex", *M328, words="records overlap"),
    "dump of random bytes named .hex": bad("dump", "random.hex", *M328, words="random.hex line 1"),
    "dump of random bytes named .elf (was: decoded as raw flash)": bad("dump", "random.elf", *M328,
                                                                       words="neither an ELF file"),
    "dump of a truncated ELF": bad("dump", "truncated.elf", *M328, words="elf-malformed"),
    "dump of a non-AVR ELF (was: decoded as raw flash)": bad("dump", "/bin/ls", *M328, words="not an AVR"),
    "dump of a raw dump larger than the flash": bad("dump", "random.bin", "--mcu", "attiny25",
                                                    words="4096 bytes, more than the ATtiny25's 2048-byte flash"),
    "dump --storage x: not a number": bad("dump", "random.bin", *M328, "--storage", "x", words="'x' is not a number"),
    "dump --storage -128": bad("dump", "random.bin", *M328, "--storage", "-128", words="region-size"),
    "dump --log 100: not a page multiple": bad("dump", "random.bin", *M328, "--log", "100", words="region-alignment"),
    "dump --board nonsense": bad("dump", "random.bin", *M328, "--board", "nonsense", words="board: 'nonsense'"),
    "dump --mcu nonsense": bad("dump", "random.bin", "--mcu", "nonsense", words="unknown MCU"),
    # -- sim: everything is checked before the simulator runs
    "sim --cycles -1": bad("sim", "good.hex", *M328, "--cycles", "-1", words="--cycles must be positive"),
    "sim --cycles 0": bad("sim", "good.hex", *M328, "--cycles", "0", words="--cycles must be positive"),
    "sim --mcu atmega9999": bad("sim", "good.hex", "--mcu", "atmega9999", words="no simulator model"),
    "sim --fuses with five bytes": bad("sim", "good.hex", *M328, "--fuses", "1,2,3,4,5", words="--fuses wants"),
    "sim --fuses with a value that is not a byte": bad("sim", "good.hex", *M328, "--fuses", "0x1FF,0xDE,0xFD",
                                                       words="is not a byte"),
    "sim of a missing firmware": bad("sim", "missing.hex", *M328, words="no such firmware file"),
    "sim of a directory": bad("sim", "adir", *M328, words="no such firmware file"),
    "sim of random bytes": bad("sim", "random.bin", *M328, words="not an ELF or Intel HEX"),
    "sim of a truncated HEX (was: ran what was there)": bad("sim", "truncated.hex", *M328,
                                                            words="no end-of-file record"),
    "sim of a HEX with a bad checksum: names the line": bad("sim", "bad-checksum.hex", *M328,
                                                            words="line 1: bad checksum"),
    "sim of a truncated AVR ELF": bad("sim", "truncated.elf", *M328, words="unreadable ELF"),
    "sim of a non-AVR ELF": bad("sim", "/bin/ls", *M328, words="not an AVR ELF"),
    "sim --flash-in missing": bad("sim", "good.hex", *M328, "--flash-in", "missing.hex", words="no such flash image"),
    "sim --flash-in an empty HEX (was: ran on blank flash)": bad("sim", "good.hex", *M328, "--flash-in", "empty.hex",
                                                                 words="empty Intel HEX"),
    "sim --flash-in a truncated HEX (was: ran on part of it)": bad(
        "sim", "good.hex", *M328, "--flash-in", "truncated.hex", words="no end-of-file record"),
    "sim --flash-in a HEX with an unknown record type": bad("sim", "good.hex", *M328, "--flash-in", "record-type.hex",
                                                            words="unknown record type"),
    "sim --flash-in random bytes": bad("sim", "good.hex", *M328, "--flash-in", "random.bin",
                                       words="record does not start with ':'"),
    "sim --flash-in beyond the flash": bad("sim", "good.hex", *M328, "--flash-in", "beyond-flash.hex",
                                           words="do not fit ATmega328P's 32768-byte flash"),
    "sim --spi-flash a directory": bad("sim", "good.hex", *M328, "--spi-flash", "adir",
                                       words="cannot read SPI flash image adir"),
    # -- overlay build / policy / upload: checked before anything is compiled or written
    "overlay policy --slots 0 (was: a ValueError traceback)": bad("overlay", "policy", "--slots", "0",
                                                                  words="--slots must be at least 1"),
    "overlay policy --slots -1 (was: a ValueError traceback)": bad("overlay", "policy", "--slots", "-1",
                                                                   words="--slots must be at least 1"),
    "overlay build of a missing source": bad("overlay", "build", "missing.c", "-o", "out", words="does not exist"),
    "overlay build of a .hex as a source (was: a FileNotFoundError traceback)": bad(
        "overlay", "build", "good.hex", "-o", "out", words="good.hex is not a .c, .cpp, .S file"),
    "overlay build of a folder without sources (was: compiled the library, wrote out/)": bad(
        "overlay", "build", "adir", "-o", "out", words="adir holds no .c, .cpp, .S files"),
    "overlay build -o a regular file (was: a FileExistsError traceback)": bad(
        "overlay", "build", "src", "-o", "afile", words="cannot use afile as the build folder"),
    "overlay build -o under a regular file (was: a NotADirectoryError traceback)": bad(
        "overlay", "build", "src", "-o", "afile/x", words="cannot use afile/x as the build folder"),
    "overlay build --slots -1": bad("overlay", "build", "src", "--slots", "-1", "-o", "out",
                                    words="slot count -1 is negative"),
    "overlay build --slots 0": bad("overlay", "build", "src", "--slots", "0", "-o", "out",
                                   words="reserves no overlay slots"),
    "overlay build --slot-bytes 100: not a page multiple": bad("overlay", "build", "src", "--slot-bytes", "100", "-o",
                                                               "out", words="region-alignment"),
    "overlay build --slot-bytes 65536: larger than the flash": bad("overlay", "build", "src", "--slot-bytes", "65536",
                                                                   "-o", "out", words="region-fit"),
    "overlay build --mcu nonsense": bad("overlay", "build", "src", "--mcu", "nonsense", "-o", "out",
                                        words="unknown MCU"),
    "overlay build --mac-key zz": bad("overlay", "build", "src", "--mac-key", "zz", "-o", "out", words="mac-key"),
    "overlay upload of a missing image": bad("overlay", "upload", "missing.bin", "--port", "/nonexistent/tty",
                                             words="cannot read missing.bin"),
    "overlay upload of random bytes": bad("overlay", "upload", "random.bin", "--port", "loop://",
                                          words="magic: not an overlays.bin"),
    "overlay upload to a port that does not exist": bad("overlay", "upload", "overlays.bin", "--port",
                                                        "/nonexistent/tty", words="cannot open /nonexistent/tty"),
    "overlay upload --nor-addr not at a sector": bad("overlay", "upload", "overlays.bin", "--port", "loop://",
                                                     "--nor-addr", "123", words="not at a 4 KB sector boundary"),
    # -- arduino: install/uninstall edit all or nothing; the hook fails with one line
    "arduino install --platform-dir missing": bad("arduino", "install", "--platform-dir", "missing",
                                                  words="missing is not an Arduino platform folder"),
    "arduino install --platform-dir a regular file": bad("arduino", "install", "--platform-dir", "afile",
                                                         words="not an Arduino platform folder"),
    "arduino install over a broken boards.local.txt (was: wrote platform.local.txt first)": bad(
        "arduino", "install", "--platform-dir", "broken-platform", words="has no end marker"),
    "arduino install over a boards.local.txt that is a folder (was: an IsADirectoryError traceback)": bad(
        "arduino", "install", "--platform-dir", "dir-platform", words="is not a regular file"),
    "arduino uninstall --platform-dir missing (was: exit 0, 'no hook')": bad(
        "arduino", "uninstall", "--platform-dir", "missing", words="not an Arduino platform folder"),
    "arduino uninstall over a broken boards.local.txt": bad("arduino", "uninstall", "--platform-dir",
                                                            "broken-platform", words="has no end marker"),
    "arduino package --out a regular file (was: a FileExistsError traceback)": bad(
        "arduino", "package", "--out", "afile", words="cannot use afile as the output folder"),
    "arduino package --out under a regular file (was: a NotADirectoryError traceback)": bad(
        "arduino", "package", "--out", "afile/x", words="cannot use afile/x as the output folder"),
    "arduino hook --elf missing (was: three error lines)": bad(
        "arduino", "hook", "--build-mcu", "atmega328p", *M328, "--elf", "missing.elf",
        words="missing.elf: no such file"),
    "arduino hook --elf a HEX with a bad checksum: names the line": bad(
        "arduino", "hook", "--build-mcu", "atmega328p", *M328, "--elf", "bad-checksum.hex",
        words="line 1: bad checksum"),
    "arduino hook --fuse-object under a regular file (was: a FileExistsError traceback)": bad(
        "arduino", "hook", "--build-mcu", "atmega328p", *M328, "--fuse-object", "afile/x.o", words="cannot write"),
    "arduino hook --fuse-object a folder (was: wrote adir.c)": bad(
        "arduino", "hook", "--build-mcu", "atmega328p", *M328, "--fuse-object", "adir",
        words="adir exists and is not a file"),
    "arduino hook planned for another MCU": bad("arduino", "hook", "--build-mcu", "atmega2560", *M328,
                                                words="planned for atmega328p but this board builds for atmega2560"),
    "arduino hook --storage 100": bad("arduino", "hook", "--build-mcu", "atmega328p", *M328, "--storage", "100",
                                      words="region-alignment"),
    # -- build, demo, campaign: checked before compiling or simulating
    "build of a missing sketch folder": bad("build", "missing", words="does not exist"),
    "build of a folder without its .ino": bad("build", "adir", words="has no adir.ino"),
    "build --board nonsense": bad("build", "adir", "--board", "nonsense", words="unknown board 'nonsense'"),
    "demo --boots 0 (was: an AssertionError traceback after building)": bad("demo", "--boots", "0",
                                                                            words="--boots must be at least 1"),
    "demo --boots -1 (was: an AssertionError traceback after building)": bad("demo", "--boots", "-1",
                                                                             words="--boots must be at least 1"),
    "demo --cycles 0 (was: exit 3 after building)": bad("demo", "--cycles", "0", words="--cycles must be positive"),
    "demo --example that does not exist": bad("demo", "--example", "Nope", words="no example 'Nope'"),
    "demo --board nonsense": bad("demo", "--board", "nonsense", words="unknown board"),
    "campaign --cuts -1": bad("campaign", "storage", "--cuts", "-1", words="--cuts must not be negative"),
    "campaign --jobs 0": bad("campaign", "storage", "--jobs", "0", words="--jobs must be at least 1"),
}


# ---- the rule ----------------------------------------------------------------------------------------------------
class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang(f"no answer within {TIMEOUT_S} s")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        yield tmp_path
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def snapshot(d: Path) -> dict[str, tuple[bool, int, int]]:
    return {str(p.relative_to(d)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))}


def run(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's way out
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_rejected(case: Bad, d: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(d)
    t0 = time.monotonic()
    code, out, err = run(case.argv, capsys)
    assert time.monotonic() - t0 < TIMEOUT_S
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1, f"want one error line, got:\n{err}"
    assert lines[0].startswith("spareflash"), lines[0]
    assert case.words in lines[0], f"{case.words!r} not in {lines[0]!r}"
    assert code == case.code, f"exit {code}: {lines[0]}"
    assert snapshot(d) == before, "an error must not write, create or touch any file"


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(name: str, workdir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert_rejected(CASES[name], workdir, capsys)


def test_the_inputs_are_what_they_claim() -> None:
    """The good inputs are good (so a bad one fails for its own reason)."""
    from spareflash.image import parse_hex
    from spareflash.overlay.format import unpack

    assert parse_hex(("\n".join(GOOD_HEX_LINES) + "\n").encode(), Path("good.hex")).chunks[0].data[:2] == b"\xff\xcf"
    assert unpack(_overlay_image()).segment_count == 2


# ---- platformio.ini: custom_spareflash_* values and the seed file, as the plugin reads them -----------------------
# `apply` turns a SpareFlashError from these into "Error: SpareFlash: <message>" and env.Exit(1); here the same
# functions are called without PlatformIO (real `pio run` failures are in test_pio_build.py / test_pio_seed.py).
PIO_CASES: dict[str, tuple[dict[str, str], str]] = {
    "storage -128": ({"custom_spareflash_storage": "-128"}, "custom_spareflash_storage: '-128' is not a size"),
    "storage four": ({"custom_spareflash_storage": "four"}, "custom_spareflash_storage: 'four' is not a size"),
    "storage 100: not a page multiple": ({"custom_spareflash_storage": "100"}, "region-alignment"),
    "storage 64K: larger than the flash": ({"custom_spareflash_storage": "64K"}, "region-fit"),
    "log 0x: not a number": ({"custom_spareflash_log": "0x"}, "custom_spareflash_log: '0x' is not a size"),
    "overlay_slots 3": ({"custom_spareflash_overlay_slots": "3"}, "should be COUNT:SLOT_BYTES"),
    "overlay_slots 3:": ({"custom_spareflash_overlay_slots": "3:"}, "overlay_slots: '' is not a size"),
    "overlay_slots x:256": ({"custom_spareflash_overlay_slots": "x:256"}, "should be COUNT:SLOT_BYTES"),
    "overlay_slots 0:256 (was: accepted as no slots)": ({"custom_spareflash_overlay_slots": "0:256"},
                                                         "asks for 0 slots"),
    "overlay_slots 3:-1": ({"custom_spareflash_overlay_slots": "3:-1"}, "'-1' is not a size"),
    "overlay_slots 3:100": ({"custom_spareflash_overlay_slots": "3:100"}, "region-alignment"),
    "backend nonsense": ({"custom_spareflash_backend": "nonsense"}, "unknown backend 'nonsense'"),
    "enable maybe": ({"custom_spareflash_enable": "maybe"}, "custom_spareflash_enable: 'maybe'"),
}


@pytest.mark.parametrize("name", list(PIO_CASES))
def test_a_bad_platformio_option_is_one_line_naming_it(name: str, tmp_path: Path) -> None:
    from spareflash.errors import SpareFlashError
    from spareflash.plan import plan
    from spareflash.platformio.plugin import read_options

    options, words = PIO_CASES[name]
    with pytest.raises(SpareFlashError) as exc:
        plan(read_options(options.get, "atmega328p", "uno", tmp_path).config)  # what apply() does first
    assert words in str(exc.value) and "\n" not in str(exc.value)


SEED_CASES: dict[str, tuple[str, str]] = {
    "a key given twice, literally (was: the first value silently dropped)": ('{"1": 5, "1": 6}',
                                                                             "key '1' is given twice"),
    "a key given twice inside a typed value": ('{"1": {"uint8": 1, "uint8": 2}}', "key 'uint8' is given twice"),
    "JSON nested too deeply for the parser (was: a RecursionError traceback)": ("[" * 100_000 + "]" * 100_000,
                                                                                "nested too deeply"),
    "a JSON syntax error": ('{"1": 5,', "not JSON"),
    "a key that is not an int": ('{"1.5": 5}', "key '1.5' is not a number"),
    "a value too long for a record": ('{"1": "' + "00" * 33 + '"}', "key 1"),
}


@pytest.mark.parametrize("name", list(SEED_CASES))
def test_a_bad_seed_file_is_one_line(name: str, tmp_path: Path) -> None:
    from spareflash.errors import SpareFlashError
    from spareflash.plan import PlanConfig, plan
    from spareflash.platformio.plugin import load_seed, seed_image

    text, words = SEED_CASES[name]
    path = tmp_path / "values.json"
    path.write_text(text)
    with pytest.raises(SpareFlashError) as exc:
        seed_image(plan(PlanConfig("atmega328p", board="uno")), load_seed(path))
    assert words in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name", ["dump of an empty HEX (was: a ValueError traceback)",
                                  "verify --overlay-slots 3: not N:BYTES"])
def test_a_real_process_gives_the_same_one_line(name: str, workdir: Path) -> None:
    """The in-process runs above stand for the installed command: the same one line and exit code from a process."""
    import subprocess
    import sys

    case = CASES[name]
    before = snapshot(workdir)
    proc = subprocess.run([sys.executable, "-m", "spareflash.cli", *case.argv], capture_output=True, text=True,
                          cwd=workdir, timeout=TIMEOUT_S)
    assert proc.returncode == case.code
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and case.words in proc.stderr
    assert snapshot(workdir) == before
