"""Provision an offline PlatformIO core directory for SpareFlash's `pio run` tests.

`./dev setup` runs `python -m spareflash.devsetup.pio $PLATFORMIO_CORE_DIR`. PlatformIO's registry is not
reachable here, so everything it would download is laid out from what is installed locally:

* ``packages/tool-scons``: a ``scons.py`` shim plus the SCons package of the venv's PyPI ``scons`` (4.11.1),
  with the ``package.json`` and ``.piopm`` PlatformIO 6.2.0 looks for (it asks for ``tool-scons ~4.41101.0``
  and only recognises a core package whose spec has ``"owner": "platformio"``);
* ``spareflash/toolchain-atmelavr``: ``package.json`` + ``bin/`` links to Debian's ``/usr/bin/avr-*``;
* ``spareflash/framework-arduino-avr``: ``package.json`` + links to Debian's ArduinoCore-avr 1.8.7
  (``cores/ variants/ libraries/ bootloaders/`` and its boards.txt/platform.txt).

Projects then use ``platform_packages = platformio/toolchain-atmelavr@symlink://<core>/spareflash/...``
(see docs/platformio.md; `spareflash.platformio.provision.platform_packages()` writes those lines).
Every step compares before writing, so a second run changes nothing and takes milliseconds.
"""

from __future__ import annotations

import fcntl
import filecmp
import json
import os
import shutil
import sys
from pathlib import Path

from ..errors import SpareFlashError

SCONS_VERSION = "4.41101.0"  # PlatformIO's encoding of SCons 4.11.1 (platformio/dependencies.py: ~4.41101.0)
ARDUINO_AVR = Path("/usr/share/arduino/hardware/arduino/avr")
ARDUINO_AVR_VERSION = "1.8.7"  # Debian's arduino-core-avr; PlatformIO numbers it 5.10807.0 style
FRAMEWORK_VERSION = "5.10807.0"
TOOLCHAIN_VERSION = "1.50400.0"  # gcc-avr 5.4.0
FRAMEWORK_ITEMS = ("cores", "variants", "libraries", "bootloaders", "boards.txt", "platform.txt",
                   "programmers.txt")
LOCAL_DIR = "spareflash"  # under the core dir: the toolchain and framework folders

SCONS_SHIM = '''\
"""PlatformIO's tool-scons entry point: SCons lives beside this file (copied from PyPI scons 4.11.1)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from SCons.Script import main  # noqa: E402

if __name__ == "__main__":
    main()
'''


class SetupError(SpareFlashError):
    """The machine lacks something the offline PlatformIO set-up needs."""


def _write_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf8")
    os.replace(tmp, path)
    return True


def _link(target: Path, link: Path) -> bool:
    if link.is_symlink() and os.readlink(link) == str(target):
        return False
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)
    return True


def _json(data: dict[str, object]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _piopm(pkg_type: str, name: str, version: str) -> str:
    return json.dumps({"type": pkg_type, "name": name, "version": version,
                       "spec": {"owner": "platformio", "id": None, "name": name, "requirements": None,
                                "uri": None}})


def _dirs_equal(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(_dirs_equal(a / d, b / d) for d in cmp.common_dirs)


def setup_scons(core: Path) -> bool:
    try:
        import SCons
    except ImportError as exc:  # pragma: no cover - the venv's test extra installs it
        raise SetupError("scons is not installed in this Python (pip install scons==4.11.1)") from exc
    src = Path(SCons.__file__).parent
    if getattr(SCons, "__version__", "") != "4.11.1":
        raise SetupError(f"SCons {getattr(SCons, '__version__', '?')} found; PlatformIO 6.2.0 needs 4.11.1")
    pkg = core / "packages" / "tool-scons"
    changed = _write_if_changed(pkg / "scons.py", SCONS_SHIM)
    dst = pkg / "SCons"
    if not dst.is_dir() or not _dirs_equal(src, dst):
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        changed = True
    changed |= _write_if_changed(pkg / "package.json", _json({
        "name": "tool-scons", "version": SCONS_VERSION, "description": "SCons 4.11.1 from PyPI (offline set-up)",
    }))
    changed |= _write_if_changed(pkg / ".piopm", _piopm("tool", "tool-scons", SCONS_VERSION))
    return changed


def setup_toolchain(core: Path) -> bool:
    pkg = core / LOCAL_DIR / "toolchain-atmelavr"
    tools = sorted(p for p in Path("/usr/bin").glob("avr-*") if p.is_file())
    if not any(p.name == "avr-gcc" for p in tools):
        raise SetupError("avr-gcc not found in /usr/bin (apt-get install gcc-avr binutils-avr avr-libc)")
    changed = _write_if_changed(pkg / "package.json", _json({
        "name": "toolchain-atmelavr", "version": TOOLCHAIN_VERSION,
        "description": "links to Debian's gcc-avr 5.4 / binutils-avr (offline set-up)",
    }))
    for tool in tools:
        changed |= _link(tool, pkg / "bin" / tool.name)
    return changed


def setup_framework(core: Path) -> bool:
    if not (ARDUINO_AVR / "cores" / "arduino").is_dir():
        raise SetupError(f"{ARDUINO_AVR} is missing (apt-get install arduino-core-avr)")
    pkg = core / LOCAL_DIR / "framework-arduino-avr"
    changed = _write_if_changed(pkg / "package.json", _json({
        "name": "framework-arduino-avr", "version": FRAMEWORK_VERSION,
        "description": f"links to Debian's ArduinoCore-avr {ARDUINO_AVR_VERSION} (offline set-up)",
    }))
    for item in FRAMEWORK_ITEMS:
        if (ARDUINO_AVR / item).exists():
            changed |= _link(ARDUINO_AVR / item, pkg / item)
    return changed


def toolchain_dir(core: Path) -> Path:
    return core / LOCAL_DIR / "toolchain-atmelavr"


def framework_dir(core: Path) -> Path:
    return core / LOCAL_DIR / "framework-arduino-avr"


def setup(core: Path) -> bool:
    """Lay out the core dir; True if anything changed."""
    core = core.resolve()
    core.mkdir(parents=True, exist_ok=True)
    # several engineers run `./dev test` at once: one set-up at a time
    with open(core / ".spareflash-setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        changed = setup_scons(core)
        changed |= setup_toolchain(core)
        changed |= setup_framework(core)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m spareflash.devsetup.pio PLATFORMIO_CORE_DIR", file=sys.stderr)
        return 1
    try:
        changed = setup(Path(args[0]))
    except SpareFlashError as exc:
        print(f"spareflash: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if changed:
        print(f"[dev] offline PlatformIO core prepared in {args[0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
