"""Benchmarks of the build plugin: what it adds to a warm incremental `pio run`, and how long `verify` takes on a
256 KB (ATmega2560) image. Both are wall time by nature, so each is measured against its baseline in the same run,
interleaved, as the median of several repetitions.

(a) `pio_incremental_s_with` / `_without`: the same project (examples/StorageBasics for the Uno, the offline core and
    the project's test platform, as tests/test_pio_build.py uses) built once with the plugin and once with
    `custom_spareflash_enable = no` plus the plan applied by hand (`build_flags` with the plan's `--defsym`s and
    define), so both compile and link the same code and the difference is the plugin's work: planning, the source
    scan, the fuse object, verification and the compact report. Each run is an incremental build after a one-line
    edit of the sketch (one compile, one link), run alternately with and without the plugin.
    `pio_overhead_fraction` = with / without - 1 (target <= 0.15).
(b) `verify_256k_s`: `spareflash.verify.bench_verify_seconds()` (best of 5, in process) on a synthetic full ATmega2560
    image (target <= 0.3 s); `verify_256k_cli_s`: the `spareflash verify` process on the same HEX, Python start-up
    and imports included (median of 3, informational).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import BenchResult, Row

REPO = Path(__file__).resolve().parents[3]
PLATFORM = REPO / "tests" / "pio" / "platform-atmelavr"
SKETCH = REPO / "examples" / "StorageBasics" / "StorageBasics.ino"
OVERHEAD_TARGET = 0.15
VERIFY_TARGET_S = 0.3


def _core_dir() -> Path:
    return Path(os.environ.get("PLATFORMIO_CORE_DIR") or REPO / ".pio-core").resolve()


def _pio_env(core: Path) -> dict[str, str]:
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(core), PLATFORMIO_NO_ANSI="1",
               PLATFORMIO_DISABLE_PROGRESSBAR="true", PLATFORMIO_SETTING_ENABLE_TELEMETRY="no",
               PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="9999", PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD="0")
    env.pop("PLATFORMIO_BUILD_DIR", None)
    return env


def _make_projects(root: Path, core: Path) -> dict[str, Path]:
    from ..devsetup import pio as devsetup
    from ..plan import PlanConfig, plan

    devsetup.setup(core)
    lib = root / "lib" / "SpareFlash"
    lib.mkdir(parents=True)
    shutil.copy(REPO / "library.json", lib / "library.json")
    shutil.copytree(REPO / "library", lib / "library")
    (lib / "builder").symlink_to(REPO / "builder")
    layout = plan(PlanConfig("atmega328p", board="uno"))
    by_hand = [*layout.linker_flags(), *(f"-D{d}" for d in layout.defines())]
    projects = {}
    for name, extra in (("with", []), ("without", ["custom_spareflash_enable = no", "build_flags =",
                                                   *(f"  {f}" for f in by_hand)])):
        proj = root / name
        (proj / "src").mkdir(parents=True)
        shutil.copy(SKETCH, proj / "src" / SKETCH.name)
        ini = [
            "[env:uno]",
            f"platform = symlink://{PLATFORM}",
            "board = uno",
            "framework = arduino",
            f"lib_deps = SpareFlash=symlink://{lib}",
            "platform_packages =",
            f"  platformio/toolchain-atmelavr@symlink://{devsetup.toolchain_dir(core)}",
            f"  platformio/framework-arduino-avr@symlink://{devsetup.framework_dir(core)}",
            *extra,
        ]
        (proj / "platformio.ini").write_text("\n".join(ini) + "\n")
        projects[name] = proj
    return projects


def _edit(proj: Path, n: int) -> None:
    """A one-line change that alters the object code (so the sketch recompiles and the firmware relinks)."""
    src = proj / "src" / SKETCH.name
    text = SKETCH.read_text() + f'\nconst char spareflash_bench_edit[] __attribute__((used)) = "{n}";\n'
    src.write_text(text)


def _pio_run(proj: Path, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "platformio", "run", "-d", str(proj)], capture_output=True,
                          text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        from ..errors import SpareFlashError

        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise SpareFlashError(f"bench plugin: pio run failed in {proj.name}: {tail[0]}")
    return elapsed, proc.stdout + proc.stderr


def measure_pio(repeat: int) -> tuple[float, float, list[str]]:
    """Median seconds of a warm incremental `pio run` (with, without the plugin) and notes."""
    core = _core_dir()
    env = _pio_env(core)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sf-bench-pio-") as tmp:
        projects = _make_projects(Path(tmp), core)
        for proj in projects.values():  # clean build + one incremental build: everything warm
            _edit(proj, 0)
            _pio_run(proj, env)
            _edit(proj, 1)
            _pio_run(proj, env)
        times: dict[str, list[float]] = {"with": [], "without": []}
        for i in range(repeat):
            order = ("with", "without") if i % 2 == 0 else ("without", "with")
            for name in order:
                _edit(projects[name], i + 2)
                elapsed, out = _pio_run(projects[name], env)
                if "Linking" not in out:
                    notes.append(f"run {i} {name}: no relink (the edit did not reach the link)")
                if name == "with" and "SpareFlash: verification passed" not in out:
                    notes.append(f"run {i}: the plugin did not verify the image")
                if name == "without" and "SpareFlash:" in out:
                    notes.append(f"run {i}: the plugin ran in the project without it")
                times[name].append(elapsed)
    notes.append("with: " + ", ".join(f"{t:.2f}" for t in times["with"]) + " s; without: " +
                 ", ".join(f"{t:.2f}" for t in times["without"]) + " s")
    return statistics.median(times["with"]), statistics.median(times["without"]), notes


def measure_verify(repeat_cli: int) -> tuple[float, float]:
    from ..plan import PlanConfig, plan
    from ..verify import bench_verify_seconds, synthetic_hex

    in_process = bench_verify_seconds(mcu="atmega2560")
    layout = plan(PlanConfig("atmega2560"))
    exe = Path(sys.executable).with_name("spareflash")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from spareflash.cli import main; "
                                                              "sys.exit(main())"]
    times = []
    with tempfile.TemporaryDirectory(prefix="sf-bench-verify-") as tmp:
        hexf = Path(tmp) / "full2560.hex"
        hexf.write_text(synthetic_hex(layout))
        for _ in range(repeat_cli):
            t0 = time.perf_counter()
            proc = subprocess.run([*cmd, "verify", str(hexf), "--mcu", "atmega2560"], capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                from ..errors import SpareFlashError

                raise SpareFlashError(f"bench plugin: spareflash verify failed: {proc.stdout.strip()[-200:]}")
    return in_process, statistics.median(times)


def measure(quick: bool = False) -> BenchResult:
    result = BenchResult("plugin")
    verify_s, verify_cli_s = measure_verify(1 if quick else 3)
    result.fields["verify_256k_s"] = round(verify_s, 4)
    result.fields["verify_256k_cli_s"] = round(verify_cli_s, 4)
    result.rows.append(Row("verify of a 256 KB image (ATmega2560, in process, best of 5)", verify_s, "s",
                           f"<= {VERIFY_TARGET_S}", verify_s <= VERIFY_TARGET_S))
    result.rows.append(Row("spareflash verify process, same image (start-up included, median)", verify_cli_s, "s",
                           "", None))
    if not PLATFORM.is_dir() or shutil.which("avr-gcc") is None:
        result.notes.append("pio benchmark skipped: needs a checkout (tests/pio/platform-atmelavr) and avr-gcc")
        return result
    with_s, without_s, notes = measure_pio(2 if quick else 7)
    overhead = with_s / without_s - 1
    result.fields.update(pio_incremental_s_with=round(with_s, 3), pio_incremental_s_without=round(without_s, 3),
                         pio_overhead_fraction=round(overhead, 4))
    result.rows.append(Row("warm incremental pio run with the plugin (median)", with_s, "s", "", None,
                           f"{without_s:.2f} s without the plugin (same project, plan by hand)"))
    result.rows.append(Row("plugin overhead on that run", overhead, "fraction", f"<= {OVERHEAD_TARGET}",
                           overhead <= OVERHEAD_TARGET, "same run, interleaved"))
    result.notes += notes
    if quick:
        result.notes.append("--quick: 2 runs each; the figures need the full run (7 each)")
    return result
