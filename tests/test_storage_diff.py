"""Differential: the C++ storage core (built for the host against an emulated AND-on-write flash, tests/host)
and the Python model run the same operations and must print the same results and leave byte-identical regions.
Also built with -DSPAREFLASH_SINGLE_WRITE, where the emulated flash aborts on a second program of a page."""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from spareflash.storage.script import ModelRunner

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "library" / "src"
HOST = ROOT / "tests" / "host"
SOURCES = [HOST / "driver.cpp", SRC / "FlashStorage.cpp", SRC / "FlashLog.cpp", SRC / "FlashEEPROM.cpp",
           SRC / "spareflash_pages.cpp"]
C_SOURCES = [SRC / "spareflash_crc.c"]


def build_host(variant: str) -> Path:
    if shutil.which("g++") is None:
        pytest.skip("no host g++")
    flags = ["-DSPAREFLASH_SINGLE_WRITE"] if variant == "single" else []
    flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    digest = hashlib.sha1()
    for p in [*SOURCES, *C_SOURCES, *sorted(SRC.glob("*.h")), HOST / "sf_host.h"]:
        digest.update(p.read_bytes())
    digest.update(" ".join(flags).encode())
    out = ROOT / ".build" / "host" / f"sf_host_{variant}_{digest.hexdigest()[:12]}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["g++", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-DSPAREFLASH_HOST", *flags, f"-I{HOST}",
               f"-I{SRC}", "-o", str(out), *map(str, SOURCES), "-x", "c", *map(str, C_SOURCES)]
        subprocess.run(cmd, check=True)
    return out


@pytest.fixture(scope="module")
def host_normal() -> Path:
    return build_host("normal")


@pytest.fixture(scope="module")
def host_single() -> Path:
    return build_host("single")


def workload(rng: random.Random, nops: int, keys: int = 12) -> list[str]:
    lines = ["B", f"LB {rng.randint(0, 1)}"]
    for _ in range(nops):
        r = rng.random()
        k = rng.randrange(keys)
        if r < 0.55:
            lines.append(f"P {k} {rng.randbytes(rng.choice([1, 2, 4, 4, 4, 8, 16, 32])).hex()}")
        elif r < 0.63:
            lines.append(f"R {k}")
        elif r < 0.72:
            lines.append(f"G {k} {rng.choice([1, 4, 8])}")
        elif r < 0.74:
            lines.append(f"C {k}")
        elif r < 0.77:
            lines.append("B")
        elif r < 0.94:
            lines.append(f"LA {rng.randbytes(rng.randint(1, 20)).hex()}")
        elif r < 0.96:
            lines.append("LL")
        elif r < 0.98:
            lines.append("S")
        else:
            lines.append("F")
    return [*lines, "S", "LL", "D"]


def run_both(binary: Path, lines: list[str], page: int, spages: int, lpages: int, single: bool
             ) -> tuple[list[str], list[str]]:
    model = ModelRunner(page, spages, lpages, single)
    expected = [model.run(line) for line in lines]
    proc = subprocess.run([str(binary), str(page), str(spages), str(lpages)], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    return expected, proc.stdout.splitlines()


def first_difference(lines: list[str], expected: list[str], got: list[str]) -> str:
    for i, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            return f"line {i} {lines[i][:40]!r}: model {a[:60]!r} C++ {b[:60]!r}"
    return f"{len(expected)} lines from the model, {len(got)} from C++"


def test_two_hundred_random_sequences_leave_identical_regions(host_normal: Path, host_single: Path) -> None:
    for seed in range(200):
        rng = random.Random(seed)
        page = rng.choice([64, 128, 256])
        spages, lpages = rng.choice([2, 3, 4, 8, 16, 32]), rng.choice([1, 2, 4])
        single = seed % 5 == 0
        lines = workload(rng, 150 if single else 300, keys=4 if single else 12)
        expected, got = run_both(host_single if single else host_normal, lines, page, spages, lpages, single)
        assert got == expected, f"seed {seed}: " + first_difference(lines, expected, got)


def test_eeprom_api_matches_the_model(host_normal: Path) -> None:
    rng = random.Random(5)
    lines = []
    for _ in range(400):
        a = rng.randrange(300)
        if rng.random() < 0.6:
            lines.append(f"EW {a} {rng.randbytes(rng.randint(1, 20)).hex()}")
        else:
            lines.append(f"ER {a} {rng.randint(1, 20)}")
    lines.append("D")
    expected, got = run_both(host_normal, lines, 128, 16, 1, False)
    assert got == expected, first_difference(lines, expected, got)


def test_corrupted_regions_mount_the_same_in_cpp_and_never_crash(host_normal: Path) -> None:
    """Random bytes, bit flips and garbage pages: the C++ (with address/UB sanitizers) returns from begin(),
    reads the same values as the model, never writes outside the regions and keeps accepting writes."""
    for seed in range(150):
        rng = random.Random(1000 + seed)
        page, spages = rng.choice([(64, 8), (128, 6), (256, 4)])
        model = ModelRunner(page, spages, 1)
        setup = ["B"] + [f"P {rng.randrange(8)} {rng.randbytes(rng.randint(1, 8)).hex()}" for _ in range(60)]
        for line in setup:
            model.run(line)
        region = bytearray(bytes.fromhex(model.run("D")))
        kind = rng.choice(("bytes", "bits", "page"))
        if kind == "page":
            p = rng.randrange(spages)
            region[p * page:(p + 1) * page] = rng.randbytes(page)
        else:
            for _ in range(rng.randint(1, 10)):
                a = rng.randrange(spages * page)
                region[a] = rng.randrange(256) if kind == "bytes" else region[a] ^ (1 << rng.randrange(8))
        lines = [f"W {bytes(region).hex()}", "B", *(f"Z {k}" for k in range(9)), "S",
                 *(f"P {k} {rng.randbytes(4).hex()}" for k in range(3)), *(f"Z {k}" for k in range(9)), "D"]
        expected, got = run_both(host_normal, lines, page, spages, 1, False)
        assert got == expected, f"seed {seed} ({kind}): " + first_difference(lines, expected, got)
        assert got[-13:-10] == ["0", "0", "0"]  # the three puts after the corruption succeeded
