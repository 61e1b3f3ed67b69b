"""The README's main job (`./dev demo` = `spareflash demo`) runs to its end and shows the data surviving a reboot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("arduino-builder") is None, reason="arduino-builder not installed")


def test_demo_builds_verifies_reports_and_boots_twice_on_the_same_flash() -> None:
    out = subprocess.run([sys.executable, "-m", "spareflash.cli", "demo"], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "COLUMNS": "120"})
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "every rule holds" in text
    assert "FlashStorage" in text and "bootstub" in text  # the report's regions
    # boot 1 starts from an erased region, boot 2 from the flash boot 1 left behind
    assert "boots: 1 put: 0" in text and "boots: 2 put: 0" in text
    assert '"1": "02000000"' in text  # the Python model decodes the counter the firmware wrote
