"""Shared test fixtures. Keep this small; append fixtures for your own part below.

`avr_build` compiles small avr-libc C programs with the real toolchain and caches the ELF under
/work/main/.build/tests/ (gitignored), keyed by the sources, the MCU and the flags, so repeated runs are fast.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Sequence

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / ".build" / "tests"
FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"

AvrBuild = Callable[..., Path]


def build_avr_c(sources: Sequence[Path], mcu: str, flags: Sequence[str] = (), name: str = "firmware") -> Path:
    """Compile and link C sources with avr-gcc -Os; returns the cached ELF path."""
    if shutil.which("avr-gcc") is None:
        pytest.skip("avr-gcc is not installed (./dev setup)")
    h = hashlib.sha256()
    for src in sources:
        h.update(Path(src).read_bytes())
    h.update(repr((mcu, tuple(flags))).encode())
    out_dir = BUILD_ROOT / f"{name}-{h.hexdigest()[:16]}"
    elf = out_dir / f"{name}.elf"
    if elf.exists():
        return elf
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"{name}.{os.getpid()}.tmp.elf"
    cmd = ["avr-gcc", f"-mmcu={mcu}", "-Os", "-Wall", "-Werror", "-o", str(tmp), *map(str, sources), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"avr-gcc failed: {' '.join(cmd)}\n{proc.stderr}")
    os.replace(tmp, elf)  # atomic: parallel test runs never see half a file
    return elf


@pytest.fixture(scope="session")
def avr_build() -> AvrBuild:
    return build_avr_c


# -- CI honesty -----------------------------------------------------------------------------------------------
# Locally a test may skip when a tool is missing ("run ./dev setup"). In CI (`CI=true`, what .ci/run sees) the
# set-up has installed everything, so a skip means the set-up or the test is broken: fail the run instead of
# letting a skipped test pass for a tested feature.
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        for rep in skipped:
            reporter.write_line(f"CI: skipped test not allowed: {rep.nodeid}: {rep.longrepr}")
        session.exitstatus = 1
