"""Arduino framework for SpareFlash's stand-in atmelavr platform: Debian's ArduinoCore-avr 1.8.7.

Same shape as the official script: core + variant built as static libraries, the core on CPPPATH, the
framework's libraries/ as a library source dir, USB defines for boards with `build.usb_product`.
Difference: Debian's gcc-avr 5.4 only defines DECIMAL_DIG for C99, and WString.cpp needs it, hence the define.
"""

from os.path import isdir, join

from SCons.Script import DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()
core = board.get("build.core", "arduino")

FRAMEWORK_DIR = platform.get_package_dir("framework-arduino-avr")
assert FRAMEWORK_DIR and isdir(FRAMEWORK_DIR), "framework-arduino-avr is not installed"



def _quoted(text):
    """A string define that survives the shell: \\"text\\" (quotes in the text are dropped)."""
    return '\\"' + text.replace('"', "") + '\\"'


defines = [("ARDUINO", 10807), "ARDUINO_ARCH_AVR", ("DECIMAL_DIG", "__DECIMAL_DIG__")]
if "build.usb_product" in board:
    vid, pid = board.get("build.hwids")[0]
    defines += [
        ("USB_VID", vid),
        ("USB_PID", pid),
        ("USB_PRODUCT", _quoted(board.get("build.usb_product", ""))),
        ("USB_MANUFACTURER", _quoted(board.get("vendor", ""))),
    ]

env.Append(
    CPPDEFINES=defines,
    CPPPATH=[join(FRAMEWORK_DIR, "cores", core)],
    LIBSOURCE_DIRS=[join(FRAMEWORK_DIR, "libraries")],
)

libs = []
if "build.variant" in board:
    variant_dir = join(FRAMEWORK_DIR, "variants", board.get("build.variant"))
    env.Append(CPPPATH=[variant_dir])
    libs.append(env.BuildLibrary(join("$BUILD_DIR", "FrameworkArduinoVariant"), variant_dir))
libs.append(env.BuildLibrary(join("$BUILD_DIR", "FrameworkArduino"), join(FRAMEWORK_DIR, "cores", core)))
env.Prepend(LIBS=libs)
