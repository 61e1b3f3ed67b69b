"""The storage examples, built with the real toolchain and run in the simulator (yasimavr ATmega328P), twice:
the second boot starts from the flash the first left, so the values must persist. A region seeded by the
Python model at build time is read by the C++ on the chip."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("yasimavr")

from spareflash.build import build_sketch  # noqa: E402
from spareflash.plan import PlanConfig  # noqa: E402
from spareflash.sim import Simulator  # noqa: E402
from spareflash.storage import decode_storage, seed_region  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 80_000_000


def boot(elf: Path, flash: bytes | None = None) -> tuple[str, bytes]:
    sim = Simulator(str(elf), "atmega328p", flash_in=flash)
    res = sim.run(max_cycles=BUDGET)
    assert res.ok, res.message
    return sim.serial_text, sim.flash


def test_storage_basics_counts_boots_and_keeps_settings() -> None:
    r = build_sketch(ROOT / "examples" / "StorageBasics", "uno")
    out1, flash = boot(r.elf)
    out2, flash2 = boot(r.elf, flash)
    assert "begin: 0" in out1 and "boots: 1 put: 0" in out1 and "settings: 1000 7 1" in out1
    assert "boots: 2 put: 0" in out2 and "settings: 1000 7 2" in out2
    assert "scratch after remove: gone" in out2 and out2.rstrip().endswith("done")
    layout = r.layout
    assert layout is not None
    region = flash2[layout.storage.start:layout.storage.end]
    assert decode_storage(region, layout.chip.page_size)["values"][1] == (2).to_bytes(4, "little").hex()


def test_storage_basics_reads_a_region_seeded_at_build_time() -> None:
    r = build_sketch(ROOT / "examples" / "StorageBasics", "uno")
    assert r.layout is not None
    image = bytearray(boot(r.elf)[1])  # the firmware's flash; its storage region is replaced below
    s = r.layout.storage
    image[s.start:s.end] = seed_region(r.layout, {1: (41).to_bytes(4, "little")})
    out, _ = boot(r.elf, bytes(image))
    assert "boots: 42 put: 0" in out


def test_eeprom_migration_runs_the_stock_example_on_flash() -> None:
    r = build_sketch(ROOT / "examples" / "EEPROMMigration", "uno")
    out1, flash = boot(r.elf)
    out2, _ = boot(r.elf, flash)
    for out in (out1, out2):
        assert "Read float: 123.456" in out and "Read object: 3.14 65 Working!" in out
        assert "length: 256" in out and "status: 0" in out
    assert "runs: 0" in out1 and "runs: 1" in out2


def test_data_logger_appends_and_iterates_oldest_first() -> None:
    r = build_sketch(ROOT / "examples" / "DataLogger", "uno", plan_config=PlanConfig("atmega328p", log_bytes=1024))
    out1, flash = boot(r.elf)
    out2, _ = boot(r.elf, flash)
    assert "records at boot: 0" in out1 and "records: 20" in out1
    assert "records at boot: 20" in out2 and "records: 40" in out2
    lines = out2.splitlines()
    first = lines.index("0:363")
    assert lines[first + 1].startswith("1:") and "39:" in out2
