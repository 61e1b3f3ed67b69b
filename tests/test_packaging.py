"""Packaging: the Arduino library zip (library specification 1.5) and the Python wheel (`pip install .`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from spareflash.arduino import library_properties, package_library
from spareflash.build import DEFAULT_BUILD_ROOT
from spareflash.cli import main as cli_main
from spareflash.plan import PlanConfig, plan

REPO = Path(__file__).resolve().parents[1]
REQUIRED_PROPERTIES = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                       "architectures")
ARDUINO_CATEGORIES = {"Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
                      "Data Storage", "Data Processing", "Other"}

PROBE = """\
#include <spareflash_layout.h>
void setup() { GPIOR0 = (uint8_t)(sf_storage_start() >> 8); }
void loop() {}
"""


def props_of(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def library_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    assert cli_main(["arduino", "package", "--out", str(out)]) == 0
    (zip_path,) = out.glob("*.zip")
    return zip_path


def test_library_properties_come_from_library_json() -> None:
    meta = json.loads((REPO / "library.json").read_text())
    props = props_of(library_properties())
    assert set(REQUIRED_PROPERTIES) <= set(props)
    assert props["name"] == meta["name"] and props["version"] == meta["version"]
    assert props["category"] in ARDUINO_CATEGORIES
    assert props["architectures"] == "avr"
    assert props["includes"] == ",".join(meta["headers"])
    assert meta["description"].startswith(props["sentence"].rstrip("."))
    # every value is on one line (the format has no continuation lines)
    assert all("\n" not in v for v in props.values())


def test_properties_follow_library_json_changes() -> None:
    meta = {"name": "X", "version": "9.9.9", "description": "One. Two three.", "platforms": ["atmelavr"],
            "authors": [{"name": "Ada", "email": "ada@example.org"}], "repository": {"url": "https://e.org/x"}}
    props = props_of(library_properties(meta))
    assert props["version"] == "9.9.9" and props["author"] == "Ada <ada@example.org>"
    assert props["sentence"] == "One." and props["paragraph"] == "Two three." and props["url"] == "https://e.org/x"


def test_zip_follows_the_library_specification(library_zip: Path) -> None:
    meta = json.loads((REPO / "library.json").read_text())
    assert library_zip.name == f"{meta['name']}-{meta['version']}.zip"
    with zipfile.ZipFile(library_zip) as zf:
        names = set(zf.namelist())
        props = props_of(zf.read(f"{meta['name']}/library.properties").decode())
    root = meta["name"] + "/"
    assert all(n.startswith(root) for n in names)  # one top folder, named like the library
    assert props["name"] == meta["name"]
    sources = {f"{root}src/{p.relative_to(REPO / 'library' / 'src')}" for p in (REPO / "library" / "src").rglob("*")
               if p.is_file() and not p.name.startswith(".")}
    assert sources and sources <= names
    for header in meta["headers"]:
        assert f"{root}src/{header}" in names or not (REPO / "library" / "src" / header).exists()
    for ex in (REPO / "examples").glob("*/*.ino"):
        if ex.stem == ex.parent.name:
            assert f"{root}examples/{ex.parent.name}/{ex.name}" in names
    # not for Arduino: the repo's PlatformIO manifest (its srcDir points into the repo), the ATtiny shim, Python
    assert f"{root}library.json" not in names
    assert not any("tinycore" in n or n.endswith(".py") for n in names)


def test_zip_is_reproducible(library_zip: Path, tmp_path: Path) -> None:
    again = package_library(tmp_path)
    assert again.read_bytes() == library_zip.read_bytes()


def test_arduino_builder_compiles_against_the_unzipped_library(library_zip: Path, tmp_path: Path) -> None:
    libs = tmp_path / "libraries"
    with zipfile.ZipFile(library_zip) as zf:
        zf.extractall(libs)
    example = REPO / "examples" / "StorageBasics" / "StorageBasics.ino"
    if not example.is_file():  # the real example once it exists; meanwhile a sketch using a library header
        example = tmp_path / "Probe" / "Probe.ino"
        example.parent.mkdir()
        example.write_text(PROBE)
    layout = plan(PlanConfig("atmega328p", board="uno"))
    cache = DEFAULT_BUILD_ROOT / "core-cache" / "packaging-tests"
    cache.mkdir(parents=True, exist_ok=True)
    build = tmp_path / "build"
    build.mkdir()
    cmd = ["arduino-builder", "-compile", "-verbose", "-hardware", "/usr/share/arduino/hardware", "-hardware",
           "/usr/share/arduino-builder", "-tools", "/usr/bin", "-libraries", str(libs), "-build-cache", str(cache),
           "-fqbn", "arduino:avr:uno", "-build-path", str(build),
           f"-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=9 -D{layout.defines()[0]}",
           f"-prefs=compiler.c.elf.extra_flags={' '.join(layout.linker_flags())}", str(example)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Using library SpareFlash at version" in res.stdout and str(libs / "SpareFlash") in res.stdout
    assert (build / f"{example.name}.hex").is_file()


# ---- the wheel --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install .` (as a wheel, without dependencies: the venv has them) into a target folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp / "dist"), str(REPO)], check=True,
                   capture_output=True)
    (wheel,) = (tmp / "dist").glob("spareflash-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(tmp / "site"), str(wheel)], check=True,
                   capture_output=True)
    return tmp / "site"


def test_wheel_has_the_cli_the_platformio_script_and_the_library(installed: Path) -> None:
    pkg = installed / "spareflash"
    assert (pkg / "platformio" / "extra_script.py").is_file()
    assert (pkg / "data" / "library.json").is_file() and not (pkg / "data" / "library.json").is_symlink()
    assert (pkg / "data" / "library" / "src" / "spareflash_layout.h").is_file()
    assert (pkg / "data" / "library" / "tinycore" / "main.cpp").is_file()
    (dist_info,) = installed.glob("spareflash-*.dist-info")
    assert "spareflash = spareflash.cli:main" in (dist_info / "entry_points.txt").read_text()
    assert (installed / "bin" / "spareflash").is_file()


def test_installed_package_builds_a_sketch_from_its_own_library_copy(installed: Path, tmp_path: Path) -> None:
    sketch = tmp_path / "Probe"
    sketch.mkdir()
    (sketch / "Probe.ino").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": str(installed), "SPAREFLASH_BUILD_DIR": str(tmp_path / "cache")}
    code = ("import spareflash, spareflash.build as b, sys; print(spareflash.__file__); print(b.LIBRARY_DIR); "
            "from spareflash.cli import main; sys.exit(main(sys.argv[1:]))")
    res = subprocess.run([sys.executable, "-c", code, "build", str(sketch), "--board", "attiny85", "--json"],
                         env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    pkg_file, lib_dir, *rest = res.stdout.splitlines()
    assert pkg_file.startswith(str(installed)) and lib_dir.startswith(str(installed))
    result = json.loads("\n".join(rest))
    assert result["elf"].startswith(str(tmp_path / "cache")) and Path(result["hex"]).is_file()
