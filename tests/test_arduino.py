"""`spareflash arduino install/uninstall`: the platform hook and board menus, exercised by Debian's arduino-builder.

Every test works on a copy of the Arduino AVR platform under a tmp dir; /usr/share is never modified.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from spareflash.arduino import (
    BEGIN_MARK,
    END_MARK,
    boards_local_block,
    install,
    read_properties,
    uninstall,
)
from spareflash.build import DEFAULT_BUILD_ROOT, make_library_folder
from spareflash.cli import main as cli_main
from spareflash.errors import SpareFlashError
from spareflash.plan import PlanConfig, plan

SYSTEM_PLATFORM = Path("/usr/share/arduino/hardware/arduino/avr")
REPO = Path(__file__).resolve().parents[1]

PROBE = """\
#include <spareflash_layout.h>
void setup() { GPIOR0 = (uint8_t)(sf_storage_start() >> 8); }
void loop() {}
"""
PLAIN = "void setup() { GPIOR0 = 1; }\nvoid loop() {}\n"


@pytest.fixture()
def platform(tmp_path: Path) -> Path:
    """A copy of the Arduino AVR platform as `<tmp>/hardware/arduino/avr` (the layout -hardware expects)."""
    dest = tmp_path / "hardware" / "arduino" / "avr"
    dest.parent.mkdir(parents=True)
    shutil.copytree(SYSTEM_PLATFORM, dest, symlinks=True)
    return dest


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and not p.is_symlink()}


def sketch(root: Path, name: str, text: str) -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.ino").write_text(text)
    return d / f"{name}.ino"


def arduino_builder(platform: Path, ino: Path, fqbn: str, build: Path, *prefs: str) -> subprocess.CompletedProcess[str]:
    libs = make_library_folder(build.parent / "libraries")
    cache = DEFAULT_BUILD_ROOT / "core-cache" / "arduino-hook-tests"
    cache.mkdir(parents=True, exist_ok=True)
    build.mkdir(parents=True, exist_ok=True)
    cmd = ["arduino-builder", "-compile", "-verbose", "-hardware", str(platform.parents[1]),
           "-hardware", "/usr/share/arduino-builder", "-tools", "/usr/bin", "-libraries", str(libs),
           "-build-cache", str(cache), "-fqbn", fqbn, "-build-path", str(build),
           "-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=9", *(f"-prefs={p}" for p in prefs), str(ino)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def maximum(out: str) -> int:
    m = re.search(r"Maximum is (\d+) bytes", out)
    assert m, out[-2000:]
    return int(m.group(1))


# ---- install / uninstall leave the platform exactly as it was ----------------------------------------------------
def test_install_then_uninstall_is_byte_identical_on_a_pristine_platform(platform: Path) -> None:
    before = snapshot(platform)
    install(platform)
    added = snapshot(platform)
    assert set(added) - set(before) == {"platform.local.txt", "boards.local.txt"}
    assert all(added[k] == v for k, v in before.items())
    _, removed = uninstall(platform)
    assert removed
    assert snapshot(platform) == before


@pytest.mark.parametrize("user_text", ["compiler.c.extra_flags=-DUSER\n", "user.key=no final newline", "\n\n# x\n"])
def test_uninstall_restores_preexisting_user_files(platform: Path, user_text: str) -> None:
    for name in ("platform.local.txt", "boards.local.txt"):
        (platform / name).write_text(user_text)
    before = snapshot(platform)
    install(platform)
    install(platform)  # installing again replaces the block, it does not add a second one
    text = (platform / "platform.local.txt").read_text()
    assert text.startswith(user_text) and text.count(BEGIN_MARK) == 1 and text.count(END_MARK) == 1
    uninstall(platform)
    assert snapshot(platform) == before


def test_uninstall_keeps_lines_the_user_added_after_install(platform: Path) -> None:
    install(platform)
    with open(platform / "boards.local.txt", "a") as fh:
        fh.write("uno.user.setting=1\n")
    uninstall(platform)
    assert (platform / "boards.local.txt").read_text() == "uno.user.setting=1\n"
    assert not (platform / "platform.local.txt").exists()


def test_uninstall_without_install_changes_nothing(platform: Path) -> None:
    before = snapshot(platform)
    assert uninstall(platform)[1] is False
    assert snapshot(platform) == before


def test_install_refuses_a_folder_that_is_not_a_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SpareFlashError, match="not an Arduino platform folder"):
        install(tmp_path)
    assert cli_main(["arduino", "install", "--platform-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# ---- the menus are computed by the plan -----------------------------------------------------------------------
def test_board_menu_values_come_from_the_plan() -> None:
    props = {}
    for line in boards_local_block(SYSTEM_PLATFORM).splitlines():
        k, _, v = line.partition("=")
        props[k] = v
    for board_id, mcu, plan_board in (("uno", "atmega328p", "uno"), ("nano", "atmega328p", "nanoatmega328"),
                                      ("mega", "atmega2560", "megaatmega2560"),
                                      ("leonardo", "atmega32u4", "leonardo")):
        opt = f"{board_id}.menu.spareflash.bootstub_2048"
        layout = plan(PlanConfig(mcu, backend="bootstub", storage_bytes=2048, board=plan_board))
        assert props[f"{opt}.upload.maximum_size"] == str(layout.max_app_size)
        assert props[f"{opt}.compiler.c.elf.extra_flags"].startswith(" ".join(layout.linker_flags()))
        assert props[f"{opt}.bootloader.high_fuses"] == f"0x{layout.fuses['hfuse']:02X}"
        assert props[f"{opt}.bootloader.lock_bits"] == f"0x{layout.fuses['lock']:02X}"
        assert "-DSPAREFLASH_BACKEND=SPAREFLASH_BACKEND_BOOTSTUB" in props[f"{opt}.build.extra_flags"]
        # the first option of each board's menu (its default) is "off"
        first = next(k for k in props if k.startswith(f"{board_id}.menu.spareflash."))
        assert first == f"{board_id}.menu.spareflash.off"
    # the Leonardo keeps its USB flags
    assert props["leonardo.menu.spareflash.bootstub_2048.build.extra_flags"].startswith("{build.usb_flags} ")
    # an optiboot layout on the Mega sits below the 8 KB boot section its fuses select
    mega = plan(PlanConfig("atmega2560", backend="optiboot", storage_bytes=4096, board="megaatmega2560"))
    assert props["mega.menu.spareflash.optiboot_4096.upload.maximum_size"] == str(mega.max_app_size)
    assert read_properties(SYSTEM_PLATFORM / "boards.txt")["uno.upload.maximum_size"] == "32256"


# ---- arduino-builder runs the hook ------------------------------------------------------------------------------
def test_arduino_builder_compiles_with_the_hook_and_verifies(platform: Path, tmp_path: Path) -> None:
    assert cli_main(["arduino", "install", "--platform-dir", str(platform)]) == 0
    ino = sketch(tmp_path, "Probe", PROBE)
    example = REPO / "examples" / "StorageBasics" / "StorageBasics.ino"
    if example.is_file():  # the real example once it exists; the probe includes the layout header meanwhile
        ino = example
    res = arduino_builder(platform, ino, "arduino:avr:uno:spareflash=bootstub_4096", tmp_path / "b1")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    layout = plan(PlanConfig("atmega328p", backend="bootstub", storage_bytes=4096, board="uno"))
    assert maximum(res.stdout) == layout.max_app_size
    assert "arduino hook --build-mcu atmega328p --elf" in res.stdout
    assert ": OK (elf, ATmega328P, backend bootstub" in res.stdout  # spareflash verify ran
    assert "FlashStorage 4096 B @0x6E00" in res.stdout  # spareflash report --compact ran
    elf = tmp_path / "b1" / f"{ino.name}.elf"
    out = subprocess.run(["avr-objdump", "-s", "-j", ".fuse", "-j", ".lock", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    assert f"{layout.fuses['lfuse']:02x}{layout.fuses['hfuse']:02x}{layout.fuses['efuse']:02x}" in out


def test_a_menu_option_changes_the_maximum_size(platform: Path, tmp_path: Path) -> None:
    install(platform)
    ino = sketch(tmp_path, "Probe", PROBE)
    sizes = {}
    for opt in ("bootstub_1024", "bootstub_8192"):
        res = arduino_builder(platform, ino, f"arduino:avr:uno:spareflash={opt}", tmp_path / opt)
        assert res.returncode == 0, res.stdout[-2000:]
        sizes[opt] = maximum(res.stdout)
    assert sizes == {"bootstub_1024": 0x7E00 - 1024, "bootstub_8192": 0x7E00 - 8192}


def test_off_is_the_default_and_leaves_plain_sketches_alone(platform: Path, tmp_path: Path) -> None:
    install(platform)
    res = arduino_builder(platform, sketch(tmp_path, "Plain", PLAIN), "arduino:avr:uno", tmp_path / "b")
    assert res.returncode == 0, res.stdout[-2000:]
    assert maximum(res.stdout) == 32256  # boards.txt's own value
    assert "spareflash verify" not in res.stdout and "--defsym=__spareflash" not in res.stdout


def test_the_hook_fails_the_build_when_verification_fails(platform: Path, tmp_path: Path) -> None:
    install(platform)
    # 20 KB of code+data fits the 8 KB-storage layout the link used, but the hook is told the storage is 16 KB:
    # the application then overlaps the storage region and `spareflash verify` must fail the build.
    ino = sketch(tmp_path, "Big", "const uint8_t blob[20000] PROGMEM = {1};\n"
                                  "void setup() { GPIOR0 = pgm_read_byte(&blob[GPIOR1]); }\nvoid loop() {}\n")
    res = arduino_builder(platform, ino, "arduino:avr:uno:spareflash=bootstub_8192", tmp_path / "b",
                          "spareflash.plan.args=--mcu atmega328p --backend bootstub --board uno --storage 16384")
    assert res.returncode != 0
    assert "breaks the flash plan" in res.stdout + res.stderr


def test_hook_refuses_a_plan_for_another_mcu(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = cli_main(["arduino", "hook", "--build-mcu", "atmega168", "--fuse-object", str(tmp_path / "f.o"),
                   "--mcu", "atmega328p", "--storage", "4096"])
    err = capsys.readouterr().err
    assert rc == 2 and "planned for atmega328p but this board builds for atmega168" in err
    assert not (tmp_path / "f.o").exists()
    # with no plan chosen the hook does nothing
    assert cli_main(["arduino", "hook", "--build-mcu", "atmega168", "--elf", "/nonexistent.elf"]) == 0


def test_platform_dir_prefers_arduino_cli_newest_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spareflash.arduino import DEBIAN_PLATFORM_DIR, find_platform_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARDUINO_DIRECTORIES_DATA", raising=False)
    assert find_platform_dir() == DEBIAN_PLATFORM_DIR
    data = tmp_path / "data"
    for version in ("1.8.6", "1.8.10"):
        d = data / "packages" / "arduino" / "hardware" / "avr" / version
        d.mkdir(parents=True)
        (d / "platform.txt").write_text("name=Arduino AVR Boards\n")
    monkeypatch.setenv("ARDUINO_DIRECTORIES_DATA", str(data))
    assert find_platform_dir() == data / "packages" / "arduino" / "hardware" / "avr" / "1.8.10"
