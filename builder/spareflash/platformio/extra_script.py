# SpareFlash's PlatformIO extra script (library.json -> build.extraScript).
#
# PlatformIO runs it inside the SpareFlash library's build environment (a clone) for every project that
# finds the library -- also when the project does not use it, so everything happens in
# spareflash.platformio.plugin.apply(), which first checks that the project's sources include SpareFlash.
# See docs/platformio.md.
# mypy: disable-error-code="name-defined"
import os
import sys

Import("env", "pio_lib_builder")  # noqa: F821 - SCons puts Import() into the script's namespace

# The library's own copy of the Python package (builder/) wins: it matches the C++ sources next to it.
_builder_dir = os.path.join(pio_lib_builder.path, "builder")  # noqa: F821
if os.path.isdir(os.path.join(_builder_dir, "spareflash")) and _builder_dir not in sys.path:
    sys.path.insert(0, _builder_dir)

from spareflash.platformio import plugin  # noqa: E402

try:
    Import("projenv")  # noqa: F821 - the project's source env, exported before libraries are scanned
except Exception:  # noqa: BLE001 - SCons raises a bare UserError when nothing was exported
    projenv = None

plugin.apply(env, projenv, pio_lib_builder.path)  # noqa: F821
