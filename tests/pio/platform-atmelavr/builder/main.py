"""SpareFlash's stand-in for the official atmelavr builder (platform-atmelavr v5.2.0).

Only what the SpareFlash extra script relies on is reproduced, with the same names and behaviour:
  * PROGNAME "firmware", $BUILD_DIR/firmware.elf and firmware.hex (objcopy -O ihex -R .eeprom);
  * the size check: SIZECHECKCMD "$SIZETOOL -A -d", SIZEPROGREGEXP counting .text/.data/.bootloader only,
    the limit read from upload.maximum_size when the check runs (PlatformIO core's CheckUploadSize);
  * the `fuses` target taking board_fuses.lfuse/hfuse/efuse/lock_bits (no dynamic fuses for these boards);
  * framework "arduino" (builder/frameworks/arduino.py) or, without a framework, a bare avr-libc build.
Upload is not modelled (no board is attached on the test machines).
"""

import sys
from os.path import join

from SCons.Script import COMMAND_LINE_TARGETS, AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

env.Replace(
    AR="avr-gcc-ar",
    AS="avr-as",
    CC="avr-gcc",
    CXX="avr-g++",
    OBJCOPY="avr-objcopy",
    RANLIB="avr-gcc-ranlib",
    SIZETOOL="avr-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.bootloader)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -A -d $SOURCES",
    PROGSUFFIX=".elf",
)

hex_cmd = "$OBJCOPY -O ihex -R .eeprom $SOURCES $TARGET"
env.Append(BUILDERS=dict(ElfToHex=Builder(action=env.VerboseAction(hex_cmd, "Building $TARGET"), suffix=".hex")))

if env.get("PROGNAME", "program") == "program":
    env.Replace(PROGNAME="firmware")

# Flags shared by the Arduino framework script and the bare build (the official platform uses the same set).
mcu_flags = ["-mmcu=$BOARD_MCU"]
env.Append(
    ASFLAGS=mcu_flags,
    ASPPFLAGS=["-x", "assembler-with-cpp"],
    CFLAGS=["-std=gnu11", "-fno-fat-lto-objects"],
    CCFLAGS=mcu_flags + ["-Os", "-Wall", "-ffunction-sections", "-fdata-sections", "-flto"],
    CXXFLAGS=["-fno-exceptions", "-fno-threadsafe-statics", "-fpermissive", "-std=gnu++11"],
    CPPDEFINES=[("F_CPU", "$BOARD_F_CPU")],
    LINKFLAGS=mcu_flags + ["-Os", "-Wl,--gc-sections", "-flto", "-fuse-linker-plugin"],
    LIBS=["m"],
)

if "nobuild" in COMMAND_LINE_TARGETS:
    target_elf = join("$BUILD_DIR", "${PROGNAME}.elf")
    target_hex = join("$BUILD_DIR", "${PROGNAME}.hex")
else:
    target_elf = env.BuildProgram()
    target_hex = env.ElfToHex(join("$BUILD_DIR", "${PROGNAME}"), target_elf)
    env.Depends(target_hex, "checkprogsize")

AlwaysBuild(env.Alias("nobuild", target_hex))
target_buildprog = env.Alias("buildprog", target_hex, target_hex)

target_size = env.AddPlatformTarget(
    "size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"), "Program Size",
    "Calculate program size")


def _fuses_action():
    """Like the official builder/fuses.py for non-MiniCore boards: explicit fuses or an error.

    Read when the script runs, after BuildProgram(), so a library script that updated the board's
    `fuses.*` during the build is seen (as on the official platform, whose main.py has the same order).
    """
    lfuse = board.get("fuses.lfuse", "")
    hfuse = board.get("fuses.hfuse", "")
    efuse = board.get("fuses.efuse", "")
    lock = board.get("fuses.lock_bits", board.get("bootloader.lock_bits", ""))
    if not lfuse or not hfuse:
        sys.stderr.write(f"Error: Dynamic fuses generation for {board.get('build.mcu')} is not supported. "
                         "Please specify fuses in platformio.ini\n")
        env.Exit(1)
    env.Replace(
        FUSESUPLOADER="avrdude",
        FUSESUPLOADERFLAGS=["-p", "$BOARD_MCU", "-C", "avrdude.conf", "-c", "$UPLOAD_PROTOCOL"],
        FUSESFLAGS=[f"-Ulock:w:{lock}:m", f"-Uhfuse:w:{hfuse}:m", f"-Ulfuse:w:{lfuse}:m"],
        SETFUSESCMD="$FUSESUPLOADER $FUSESUPLOADERFLAGS $UPLOAD_FLAGS $FUSESFLAGS",
    )
    if efuse:
        env.Append(FUSESFLAGS=[f"-Uefuse:w:{efuse}:m"])
    shown = f", efuse = {efuse}" if efuse else ""
    print(f"\nSelected fuses: [lfuse = {lfuse}, hfuse = {hfuse}{shown}]")
    return env.VerboseAction("$SETFUSESCMD", "Setting fuses")


env.AddPlatformTarget("fuses", None, _fuses_action() if "fuses" in COMMAND_LINE_TARGETS else None, "Set Fuses")

Default([target_buildprog, target_size])
