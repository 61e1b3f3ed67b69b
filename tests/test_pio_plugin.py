"""The PlatformIO plugin's pieces without PlatformIO: options, "does the project use SpareFlash?", the fuse
source, the fuse rules for explicit board_fuses, and the offline core set-up `./dev setup` runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from spareflash.devsetup import pio as devsetup
from spareflash.errors import SpareFlashError
from spareflash.plan import PlanConfig, plan
from spareflash.platformio import plugin


@pytest.mark.parametrize("text,expected", [("4096", 4096), ("4K", 4096), ("4 KB", 4096), ("2KiB", 2048),
                                           ("0x1000", 4096), (" 512 ", 512)])
def test_sizes(text: str, expected: int) -> None:
    assert plugin.parse_size(text, "storage") == expected


@pytest.mark.parametrize("text", ["", "four", "4M", "-128", "1.5K"])
def test_bad_sizes_name_the_option(text: str) -> None:
    with pytest.raises(SpareFlashError, match="^custom_spareflash_storage: "):
        plugin.parse_size(text, "storage")


def test_overlay_slots() -> None:
    assert plugin.parse_slots("2:1024") == (2, 1024)
    assert plugin.parse_slots("3:1K") == (3, 1024)
    assert plugin.parse_slots("0") == (0, 0)
    with pytest.raises(SpareFlashError, match="COUNT:SLOT_BYTES"):
        plugin.parse_slots("1024")


def test_options_default_to_the_plan_defaults(tmp_path: Path) -> None:
    opts = plugin.read_options(lambda name: None, "atmega328p", "uno", tmp_path)
    assert opts.enable == "auto" and opts.seed is None
    assert opts.config == PlanConfig("atmega328p", board="uno")
    layout = plan(opts.config)
    assert (layout.backend, layout.storage.size) == ("bootstub", 4096)  # an Uno user gets 4 KB + the bootstub


def test_options_are_read(tmp_path: Path) -> None:
    ini = {"custom_spareflash_storage": "8K", "custom_spareflash_log": "1024", "custom_spareflash_backend": "Optiboot",
           "custom_spareflash_overlay_slots": "2:512", "custom_spareflash_seed": "data/seed.json",
           "custom_spareflash_enable": "off"}
    opts = plugin.read_options(ini.get, "atmega2560", "megaatmega2560", tmp_path)
    assert opts.config == PlanConfig("atmega2560", "optiboot", 8192, 1024, 2, 512, "megaatmega2560")
    assert opts.seed == tmp_path / "data" / "seed.json"
    assert opts.enable == "no"
    with pytest.raises(SpareFlashError, match="custom_spareflash_enable"):
        plugin.read_options({"custom_spareflash_enable": "maybe"}.get, "atmega328p", None, tmp_path)


def test_use_is_detected_from_includes_only(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.cpp").write_text('#include <Arduino.h>\n// #include <SpareFlash.h> (commented out)\n')
    assert plugin.sources_include_spareflash([src]) is None
    (src / "store.h").write_text('#pragma once\n  #  include "SpareFlash.h"\n')
    assert plugin.sources_include_spareflash([src]) == src / "store.h"
    (src / "store.h").unlink()
    (src / "raw.ino").write_text("#include <spareflash_flash.h>\n")
    assert plugin.sources_include_spareflash([src, tmp_path / "missing"]) == src / "raw.ino"


def test_the_library_itself_does_not_count_as_use(tmp_path: Path) -> None:
    lib = tmp_path / "lib" / "SpareFlash"
    (lib / "src").mkdir(parents=True)
    (lib / "src" / "SpareFlash.cpp").write_text('#include "SpareFlash.h"\n')
    assert plugin.sources_include_spareflash([tmp_path / "lib"]) is not None
    assert plugin.sources_include_spareflash([tmp_path / "lib"], exclude=[lib]) is None


@pytest.mark.parametrize("mcu", ["atmega328p", "atmega2560", "atmega32u4", "attiny85"])
def test_fuse_source_puts_the_planned_bytes_in_the_elf(tmp_path: Path, mcu: str) -> None:
    layout = plan(PlanConfig(mcu))
    c = tmp_path / "fuses.c"
    c.write_text(plugin.fuse_source(layout.chip, layout.fuses) + "int main(void) { return 0; }\n")
    elf = tmp_path / "fuses.elf"
    subprocess.run(["avr-gcc", f"-mmcu={mcu}", "-Os", "-flto", str(c), "-o", str(elf)], check=True)
    with elf.open("rb") as fh:
        f = ELFFile(fh)
        fuse, lock = f.get_section_by_name(".fuse").data(), f.get_section_by_name(".lock").data()
    assert fuse == bytes(layout.fuses[fb.name] for fb in layout.chip.fuses)
    assert lock == bytes([layout.fuses["lock"]])


def test_explicit_fuses_are_checked_against_the_plan() -> None:
    layout = plan(PlanConfig("atmega328p", board="uno"))
    fuses, problems = plugin.effective_fuses(layout, {})
    assert fuses == layout.fuses and problems == []
    _, problems = plugin.effective_fuses(layout, {"hfuse": 0xDD})  # BOOTSZ=10: boot section at 0x7C00
    assert [p.split(":")[0] for p in problems] == ["fuse-bootsz"]
    _, problems = plugin.effective_fuses(layout, {"hfuse": 0xFF})  # SPIEN unprogrammed, BOOTSZ still 11
    assert "fuse-spien" in [p.split(":")[0] for p in problems]
    _, problems = plugin.effective_fuses(layout, {"lock": 0xE3})  # BLB0 mode 3: SPM may not write the regions
    assert "fuse-lock" in [p.split(":")[0] for p in problems]
    assert plugin.parse_fuse("0xDE", "fuses.hfuse") == 0xDE
    with pytest.raises(SpareFlashError, match="board_fuses.hfuse"):
        plugin.parse_fuse("0x1DE", "fuses.hfuse")


def test_offline_core_setup_is_complete_and_idempotent(tmp_path: Path) -> None:
    core = tmp_path / "core"
    assert devsetup.setup(core) is True
    assert devsetup.setup(core) is False  # a second run changes nothing
    scons = core / "packages" / "tool-scons"
    meta = json.loads((scons / ".piopm").read_text())
    assert meta["spec"]["owner"] == "platformio" and meta["version"] == "4.41101.0"
    assert json.loads((scons / "package.json").read_text())["name"] == "tool-scons"
    version = subprocess.run([sys.executable, str(scons / "scons.py"), "--version"], capture_output=True, text=True,
                             cwd=tmp_path)
    assert "4.11.1" in version.stdout
    assert (devsetup.toolchain_dir(core) / "bin" / "avr-gcc").resolve() == Path("/usr/bin/avr-gcc").resolve()
    assert (devsetup.framework_dir(core) / "cores" / "arduino" / "Arduino.h").is_file()


def test_platformios_python_gets_what_verification_imports() -> None:
    """A user adds the library to lib_deps; PlatformIO's own Python lacks rich and intelhex, so the script names
    (and pip-installs) exactly what is missing — the same requirements pyproject.toml declares."""
    import tomllib

    from spareflash.platformio.plugin import RUNTIME_REQUIREMENTS, missing_requirements

    declared = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    declared_names = {d.split(">")[0].split("=")[0].strip() for d in declared["dependencies"]}
    assert {r.split(">")[0] for r in RUNTIME_REQUIREMENTS.values()} <= declared_names
    assert missing_requirements() == []  # this venv has them all
    pio_python = {"elftools"}  # what a stock PlatformIO install has of them
    assert missing_requirements(lambda m: object() if m in pio_python else None) == ["intelhex>=2.3", "rich>=13"]
