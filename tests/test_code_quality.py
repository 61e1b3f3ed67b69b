"""The Python package is ruff-clean and type-checks under mypy --strict (the settings live in pyproject.toml).

Both run as tests so that `./dev test` (and CI) keeps them true, not only `./dev lint`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_package_and_the_tests_are_ruff_clean() -> None:
    res = run("ruff", "check", "builder", "tests")
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_package_type_checks_under_mypy_strict() -> None:
    res = run("mypy")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Success: no issues found" in res.stdout
