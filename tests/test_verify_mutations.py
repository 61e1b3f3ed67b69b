"""The mutation suite: every bad image or configuration is rejected by `spareflash verify` with its named rule.

Acceptance (issue): each mutation exits 2, names its rule, prints no traceback and writes no file; the good
images exit 0. The firmware is real avr-gcc output from tests/mutations/*.c (built once, cached under
.build/verify-tests/); mutations of bytes are made on copies of those images.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from mutations.firmware import CACHE, HAVE_AVR_GCC, build, fuse_defines, hex_of, layout_for
from spareflash.cli import main
from spareflash.overlay.linker import slot_link_address
from spareflash.platformio.plugin import seed_link_flags, seed_source
from spareflash.storage import seed_region
from spareflash.verify import synthetic_flash, synthetic_hex, to_hex

pytestmark = pytest.mark.skipif(not HAVE_AVR_GCC, reason="avr-gcc not installed (run ./dev setup)")

M328 = "atmega328p"


@dataclass
class Case:
    """A file to verify (made in `make(dir)`), the CLI options, and the rule the verifier must name."""

    make: Callable[[Path], Path]
    args: list[str]
    rule: str | None  # None: a good image, exit 0
    words: str = ""  # what the rule's message must say (the reason), where the rule alone says too little


# ---- firmware ----------------------------------------------------------------------------------------------------
def app_elf(mcu: str = M328, cflags: tuple[str, ...] = (), ldflags: tuple[str, ...] = (), fuses: bool = True,
            fuse_override: dict[str, int] | None = None, **plan_kw: object) -> Path:
    layout = layout_for(mcu, **plan_kw)
    flags = list(cflags)
    if fuses:
        flags += fuse_defines(layout, **(fuse_override or {}))
    if layout.backend != "bootstub":
        flags.append("-DNO_STUB")
    return build("app.c", layout, flags, ldflags)


def overlay_elf(crossref: bool = False, a_at: int | None = None, relocs: bool = True, lma_outside: bool = True
                ) -> Path:
    layout = layout_for(M328, overlay_slots=2, slot_bytes=512)
    # the overlay part's convention: code starts after the slot header (spareflash.overlay.linker)
    a = a_at if a_at is not None else slot_link_address(layout.slots.start, layout.slot_size, 0)
    b = slot_link_address(layout.slots.start, layout.slot_size, 1)
    ld = [f"-Wl,--section-start=.ovl.a=0x{a:X}", f"-Wl,--section-start=.ovl.b=0x{b:X}"]
    if relocs:
        ld.append("-Wl,--emit-relocs")
    post = [["--change-section-lma", ".ovl.a=0x1000000", "--change-section-lma", ".ovl.b=0x1000200"]] \
        if lma_outside else []
    return build("overlay.c", layout, [*fuse_defines(layout), "-DNO_STUB"] + (["-DCROSSREF"] if crossref else []),
                 ld, post)


def seeded_elf(mcu: str, region: bytes, **plan_kw: object) -> Path:
    """The direct-SPM app linked with `region` in the section .spareflash_seed at the storage start, as the
    PlatformIO plugin links a custom_spareflash_seed (the same generated assembler and link flags)."""
    layout = layout_for(mcu, **plan_kw)
    src = seed_source(layout, region)
    path = CACHE / f"seed-{hashlib.sha1(src.encode()).hexdigest()[:16]}.S"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(src)
        tmp.replace(path)
    return app_elf(mcu, cflags=("-DSF_SPM", str(path)), ldflags=tuple(seed_link_flags(layout)), **plan_kw)


def copy(src: Path, name: str | None = None) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        dst = d / (name or src.name)
        shutil.copyfile(src, dst)
        return dst
    return make


def text(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        dst = d / name
        if isinstance(content, bytes):
            dst.write_bytes(content)
        else:
            dst.write_text(content)
        return dst
    return make


def patched_hex(src: Path, patches: dict[int, bytes]) -> Callable[[Path], Path]:
    """A copy of a HEX image with bytes replaced/added at flash addresses (re-encoded with valid checksums)."""
    def make(d: Path) -> Path:
        from spareflash.image import load_image

        memory: dict[int, int] = {}
        for c in load_image(src).chunks:
            memory.update(zip(range(c.start, c.end), c.data))
        for a, b in patches.items():
            memory.update(zip(range(a, a + len(b)), b))
        lines: list[str] = []
        addrs = sorted(memory)
        run_start = 0
        for i in range(1, len(addrs) + 1):  # one HEX block per contiguous run of addresses
            if i == len(addrs) or addrs[i] != addrs[i - 1] + 1:
                block = bytes(memory[a] for a in addrs[run_start:i])
                lines += to_hex(block, addrs[run_start]).splitlines()[:-1]
                run_start = i
        dst = d / "firmware.hex"
        dst.write_text("\n".join([*lines, ":00000001FF"]) + "\n")
        return dst
    return make


def good_hex_text() -> str:
    return hex_of(app_elf(fuses=False)).read_text()


def objcopied(src: Path, *args: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        dst = d / "firmware.elf"
        subprocess.run(["avr-objcopy", *args, str(src), str(dst)], check=True, capture_output=True)
        return dst
    return make


def objcopied_hex(elf: Path) -> Callable[[Path], Path]:
    """The HEX objcopy makes when only .eeprom is removed: .fuse/.lock/.signature records above 0x820000."""
    def make(d: Path) -> Path:
        dst = d / "firmware.hex"
        subprocess.run(["avr-objcopy", "-O", "ihex", "-R", ".eeprom", str(elf), str(dst)], check=True,
                       capture_output=True)
        return dst
    return make


# ---- the cases ---------------------------------------------------------------------------------------------------
def cases() -> dict[str, Case]:
    mcu = ["--mcu", M328]
    app = app_elf()
    plain = app_elf(fuses=False)
    lay = layout_for(M328)
    storage_at = lay.storage.start
    c: dict[str, Case] = {**v2_cases(),
        # -- where code goes
        "code-over-storage-elf": Case(copy(app_elf(cflags=("-DBIG_CODE=28500",))), mcu, "app-overflow"),
        "code-over-storage-hex": Case(copy(hex_of(app_elf(cflags=("-DBIG_CODE=28500",)))), mcu, "app-overflow"),
        "data-in-storage-hex": Case(patched_hex(hex_of(plain), {storage_at + 0x40: b"\x12\x34"}), mcu,
                                    "region-dirty"),
        "data-in-overlay-slot-hex": Case(patched_hex(hex_of(plain), {0x7A10: b"\x00\x00"}),
                                         [*mcu, "--overlay-slots", "2:512"], "region-dirty"),
        "image-beyond-flash-hex": Case(patched_hex(hex_of(plain), {0x8000: b"\x00\x00"}), mcu,
                                       "image-outside-flash"),
        "hex-with-fuse-records": Case(objcopied_hex(app), mcu, "image-outside-flash"),
        "stub-below-boot-section": Case(copy(app_elf(ldflags=("-Wl,--section-start=.spareflash_bootstub=0x7C00",),
                                                     fuses=False)), mcu, "stub-outside-boot"),
        "stub-with-bootloader-backend": Case(copy(app_elf(fuses=False, backend="bootstub")),
                                             [*mcu, "--backend", "optiboot", "--board", "uno"], "stub-outside-boot"),
        # -- SPM
        "spm-in-app-elf": Case(copy(app_elf(cflags=("-DSPM_IN_APP",))), mcu, "spm-in-app"),
        "spm-in-app-hex": Case(copy(hex_of(app_elf(cflags=("-DSPM_IN_APP",)))), mcu, "spm-in-app"),
        "spm-with-optiboot": Case(copy(app_elf(cflags=("-DSPM_IN_APP",), backend="optiboot", board="uno")),
                                  [*mcu, "--backend", "optiboot", "--board", "uno"], "spm-in-app"),
        "spm-outside-library-attiny85": Case(copy(app_elf("attiny85", cflags=("-DSPM_IN_APP", "-DSF_SPM"))),
                                             ["--mcu", "attiny85"], "spm-in-app"),
        "spm-in-app-atmega2560-hex": Case(
            text("firmware.hex", _hex_with_spm_2560()), ["--mcu", "atmega2560"], "spm-in-app"),
        # -- MCU
        "wrong-mcu-device-note": Case(copy(app_elf("atmega168p", fuses=False)), mcu, "mcu-mismatch"),
        # without the device note and the signature only the ELF's avr:6 architecture tells it from a 328P build
        "wrong-mcu-elf-arch": Case(objcopied(app_elf("atmega2560", fuses=False), "--remove-section",
                                             ".note.gnu.avr.deviceinfo", "--remove-section", ".signature"), mcu,
                                   "mcu-mismatch"),
        "wrong-mcu-signature": Case(objcopied(app_elf("atmega32u4", fuses=False), "--remove-section",
                                              ".note.gnu.avr.deviceinfo"), mcu, "mcu-mismatch"),
        # -- configuration
        "region-not-page-aligned": Case(copy(plain), [*mcu, "--storage", "1000"], "region-alignment"),
        "regions-do-not-fit": Case(copy(plain), [*mcu, "--storage", "32768"], "region-fit"),
        "overlay-slots-without-size": Case(copy(plain), [*mcu, "--overlay-slots", "2:0"], "region-size"),
        "direct-backend-on-mega": Case(copy(plain), [*mcu, "--backend", "direct"], "backend"),
        # -- fuses
        "rstdisbl-asked-for": Case(copy(plain), [*mcu, "--hfuse", "0x5F"], "fuse-rstdisbl"),
        "rstdisbl-in-elf-fuses": Case(copy(app_elf(fuse_override={"hfuse": 0x5F})), mcu, "fuse-rstdisbl"),
        "spien-unprogrammed": Case(copy(plain), [*mcu, "--hfuse", "0xFF"], "fuse-spien"),
        "dwen-programmed": Case(copy(plain), [*mcu, "--hfuse", "0x9F"], "fuse-dwen"),
        "lock-forbids-spm": Case(copy(plain), [*mcu, "--lock", "0xEB"], "fuse-lock"),
        "lock-forbids-spm-in-elf": Case(copy(app_elf(fuse_override={"lock": 0xE3})), mcu, "fuse-lock"),
        "bootrst-with-bootstub": Case(copy(plain), [*mcu, "--hfuse", "0xDE"], "fuse-bootrst"),
        "boot-section-covers-storage": Case(copy(plain), [*mcu, "--hfuse", "0xD9"], "region-in-boot"),
        "selfprgen-unprogrammed-attiny85": Case(copy(app_elf("attiny85", cflags=("-DSF_SPM",), fuses=False)),
                                                ["--mcu", "attiny85", "--efuse", "0xFF"], "fuse-selfprgen"),
        # -- malformed input
        "hex-bad-checksum": Case(text("firmware.hex", _corrupt_checksum(good_hex_text())), mcu, "hex-malformed"),
        "hex-bad-record-type": Case(text("firmware.hex", ":020000070000F7\n" + good_hex_text()), mcu,
                                    "hex-malformed"),
        "hex-truncated-no-eof": Case(text("firmware.hex", "\n".join(good_hex_text().splitlines()[:-1]) + "\n"),
                                     mcu, "hex-malformed"),
        "hex-truncated-mid-record": Case(text("firmware.hex", good_hex_text()[:-30]), mcu, "hex-malformed"),
        "hex-empty": Case(text("firmware.hex", ""), mcu, "hex-malformed"),
        "elf-empty": Case(text("firmware.elf", b""), mcu, "elf-malformed"),
        "not-an-elf": Case(text("firmware.elf", "this is not firmware\n"), mcu, "elf-malformed"),
        "elf-truncated": Case(text("firmware.elf", plain.read_bytes()[:300]), mcu, "elf-malformed"),
        # two sections loaded at the same flash bytes (the linker's own check switched off): no image to verify
        "elf-sections-overlap-in-flash": Case(copy(app_elf(ldflags=(
            "-Wl,--no-check-sections", "-Wl,--section-start=.spareflash_bootstub=0x10"))), mcu, "elf-malformed"),
        # -- vectors, RAM, overlays
        "vector-table-overwritten-hex": Case(patched_hex(hex_of(plain), {3 * 4: b"\xff\xff\xff\xff"}), mcu,
                                             "vector-table"),
        "vector-into-storage-hex": Case(patched_hex(hex_of(plain), {4: b"\x0c\x94" + (storage_at // 2).to_bytes(
            2, "little")}), mcu, "vector-table"),
        "data-too-big-for-ram": Case(copy(app_elf(cflags=("-DBIG_RAM=1990",))), mcu, "ram-overflow"),
        "overlay-outside-slot": Case(copy(overlay_elf(a_at=0x6000)), [*mcu, "--overlay-slots", "2:512"],
                                     "overlay-slot"),
        "overlay-over-slot-header": Case(copy(overlay_elf(a_at=0x7A00)), [*mcu, "--overlay-slots", "2:512"],
                                         "overlay-slot"),
        "overlay-loaded-into-flash": Case(copy(overlay_elf(lma_outside=False)), [*mcu, "--overlay-slots", "2:512"],
                                          "overlay-slot"),
        "overlay-without-slots": Case(copy(overlay_elf()), mcu, "overlay-slot"),
        "overlay-crossref-relocs": Case(copy(overlay_elf(crossref=True)), [*mcu, "--overlay-slots", "2:512"],
                                        "overlay-crossref"),
        "overlay-crossref-no-relocs": Case(copy(overlay_elf(crossref=True, relocs=False)),
                                           [*mcu, "--overlay-slots", "2:512"], "overlay-crossref"),
        # -- good images
        "good-elf": Case(copy(app), mcu, None),
        "good-elf-mcu-from-note": Case(copy(app), [], None),
        "good-hex": Case(copy(hex_of(app)), mcu, None),
        "good-optiboot": Case(copy(app_elf(backend="optiboot", board="uno")),
                              [*mcu, "--backend", "optiboot", "--board", "uno"], None),
        "good-attiny85-direct": Case(copy(app_elf("attiny85", cflags=("-DSF_SPM",))), ["--mcu", "attiny85"], None),
        "good-attiny85-direct-hex": Case(copy(hex_of(app_elf("attiny85", cflags=("-DSF_SPM",)))),
                                         ["--mcu", "attiny85"], None),
        "good-atmega2560-full-hex": Case(text("firmware.hex", synthetic_hex(layout_for("atmega2560"))),
                                         ["--mcu", "atmega2560"], None),
        "good-overlays": Case(copy(overlay_elf()), [*mcu, "--overlay-slots", "2:512"], None),
    }
    return c


# ---- storage format 2 (ATtiny25/45): the verifier reads the region with the v2 twin -------------------------------
V2_VALUES = {1: b"\x29\x00", 2: b"abc"}  # page 0: header +0..5, key 1 at +6 (6 bytes), key 2 at +12 (7 bytes)


def v2_region(mcu: str = "attiny45", patches: dict[int, int] | None = None) -> bytes:
    """The seeded format-2 region of V2_VALUES, with bytes replaced (offsets in the region)."""
    region = bytearray(seed_region(layout_for(mcu), V2_VALUES))
    for off, b in (patches or {}).items():
        region[off] = b
    return bytes(region)


def v2_hex(mcu: str, region: bytes) -> Callable[[Path], Path]:
    """The direct-SPM app's HEX with `region` at the storage start, as avrdude would upload a seeded build."""
    lay = layout_for(mcu)
    used = len(region.rstrip(b"\xff"))
    return patched_hex(hex_of(app_elf(mcu, cflags=("-DSF_SPM",))), {lay.storage.start: region[:used]})


def v2_cases() -> dict[str, Case]:
    t45, t25 = ["--mcu", "attiny45"], ["--mcu", "attiny25"]
    header = "storage page 0 has no valid page header (format 2)"
    lay = layout_for("attiny45")
    assert lay.storage_format == 2 and layout_for("attiny25").storage_format == 2
    # the first page of a format-1 region with the same values (the ATtiny85's 64-byte pages, format 1)
    v1_page = seed_region(layout_for("attiny85"), V2_VALUES)[:lay.chip.page_size]
    return {
        "v2-header-torn-hex": Case(v2_hex("attiny45", v2_region(patches={4: 0xFF, 5: 0xFF})), t45, "region-dirty",
                                   header),
        "v2-header-corrupt-hex": Case(v2_hex("attiny45", v2_region(patches={0: 0x01})), t45, "region-dirty",
                                      header),
        "v2-header-torn-elf": Case(copy(seeded_elf("attiny45", v2_region(patches={4: 0xFF, 5: 0xFF}))), t45,
                                   "region-dirty", header),
        "v2-record-corrupt-hex": Case(v2_hex("attiny45", v2_region(patches={8: 0x28})), t45, "region-dirty",
                                      "the record at +6 fails its check bytes"),
        "v2-record-torn-hex": Case(v2_hex("attiny45", v2_region(patches={17: 0xFF, 18: 0xFF})), t45,
                                   "region-dirty", "the record at +12 fails its check bytes"),
        "v2-record-torn-attiny25-hex": Case(v2_hex("attiny25", v2_region("attiny25", {11: 0xFF})), t25,
                                            "region-dirty", "the record at +6 fails its check bytes"),
        "v2-bytes-after-records-hex": Case(v2_hex("attiny45", v2_region(patches={40: 0x00})), t45, "region-dirty",
                                           "bytes after the last record at +19 are not erased"),
        "v2-foreign-page-hex": Case(v2_hex("attiny45", v2_region(patches={3 * 64 + 9: 0x12})), t45,
                                    "region-dirty", "storage page 3 has no valid page header (format 2)"),
        "v2-part-with-a-format-1-region-hex": Case(v2_hex("attiny45", v1_page + b"\xff" * (lay.storage.size - 64)),
                                                   t45, "region-dirty", header),
        "code-over-storage-attiny45-elf": Case(copy(app_elf("attiny45", cflags=("-DSF_SPM", "-DBIG_CODE=3600"))),
                                               t45, "app-overflow", "into the storage region"),
        "code-over-storage-attiny45-hex": Case(copy(hex_of(app_elf("attiny45", cflags=("-DSF_SPM",
                                                                                        "-DBIG_CODE=3600")))),
                                               t45, "app-overflow", "into the storage region"),
        "good-attiny45-v2-seeded-hex": Case(v2_hex("attiny45", v2_region()), t45, None),
        "good-attiny45-v2-seeded-elf": Case(copy(seeded_elf("attiny45", v2_region())), t45, None),
        "good-attiny25-v2-seeded-hex": Case(v2_hex("attiny25", v2_region("attiny25")), t25, None),
    }


V2_CASE_NAMES = ["v2-header-torn-hex", "v2-header-corrupt-hex", "v2-header-torn-elf", "v2-record-corrupt-hex",
                 "v2-record-torn-hex", "v2-record-torn-attiny25-hex", "v2-bytes-after-records-hex",
                 "v2-foreign-page-hex", "v2-part-with-a-format-1-region-hex", "code-over-storage-attiny45-elf",
                 "code-over-storage-attiny45-hex"]
V2_GOOD_NAMES = ["good-attiny45-v2-seeded-hex", "good-attiny45-v2-seeded-elf", "good-attiny25-v2-seeded-hex"]


def _corrupt_checksum(hex_text: str) -> str:
    lines = hex_text.splitlines()
    last = lines[3]
    lines[3] = last[:-2] + f"{(int(last[-2:], 16) + 1) & 0xFF:02X}"
    return "\n".join(lines) + "\n"


def _hex_with_spm_2560() -> str:
    """A full 2560 application with one SPM at 0x30000 (above 64 KB: extended linear address records)."""
    flash = bytearray(synthetic_flash(layout_for("atmega2560")))
    flash[0x30000:0x30002] = b"\xe8\x95"
    return to_hex(bytes(flash))


_CASES: dict[str, Case] | None = None


def get_case(name: str) -> Case:
    global _CASES
    if _CASES is None:
        _CASES = cases()
    return _CASES[name]


CASE_NAMES = [
    "code-over-storage-elf", "code-over-storage-hex", "data-in-storage-hex", "data-in-overlay-slot-hex",
    "image-beyond-flash-hex", "hex-with-fuse-records", "stub-below-boot-section", "stub-with-bootloader-backend",
    "spm-in-app-elf",
    "spm-in-app-hex", "spm-with-optiboot", "spm-outside-library-attiny85", "spm-in-app-atmega2560-hex",
    "wrong-mcu-device-note", "wrong-mcu-elf-arch", "wrong-mcu-signature", "region-not-page-aligned",
    "regions-do-not-fit", "overlay-slots-without-size", "direct-backend-on-mega", "rstdisbl-asked-for",
    "rstdisbl-in-elf-fuses", "spien-unprogrammed", "dwen-programmed", "lock-forbids-spm", "lock-forbids-spm-in-elf",
    "bootrst-with-bootstub", "boot-section-covers-storage", "selfprgen-unprogrammed-attiny85", "hex-bad-checksum",
    "hex-bad-record-type", "hex-truncated-no-eof", "hex-truncated-mid-record", "hex-empty", "elf-empty",
    "not-an-elf", "elf-truncated", "elf-sections-overlap-in-flash", "vector-table-overwritten-hex",
    "vector-into-storage-hex", "data-too-big-for-ram",
    "overlay-outside-slot", "overlay-over-slot-header",
    "overlay-loaded-into-flash", "overlay-without-slots", "overlay-crossref-relocs",
    "overlay-crossref-no-relocs", *V2_CASE_NAMES,
]
GOOD_NAMES = ["good-elf", "good-elf-mcu-from-note", "good-hex", "good-optiboot", "good-attiny85-direct",
              "good-attiny85-direct-hex", "good-atmega2560-full-hex", "good-overlays", *V2_GOOD_NAMES]


def snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))}


def run_cli(case: Case, d: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, Path]:
    path = case.make(d)
    before = snapshot(d)
    code = main(["verify", str(path), *case.args])
    out, err = capsys.readouterr()
    assert snapshot(d) == before, "verify must not write or touch any file"
    return code, out, err, path


def test_every_case_built_is_run() -> None:
    # the names are listed for collection (no firmware is built before a test runs): none may be left out
    assert sorted(cases()) == sorted(CASE_NAMES + GOOD_NAMES)


def test_the_suite_has_at_least_25_mutations() -> None:
    assert len(CASE_NAMES) >= 25
    assert len(set(CASE_NAMES)) == len(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_mutation_is_rejected_by_its_rule(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = get_case(name)
    code, out, err, _ = run_cli(case, tmp_path, capsys)
    assert code == 2, f"{name}: exit {code}\n{out}\n{err}"
    assert f"{case.rule}:" in err, f"{name}: expected rule {case.rule}, got\n{err}"
    assert case.words in next(ln for ln in err.splitlines() if f"{case.rule}:" in ln), err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_image_passes(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err, path = run_cli(get_case(name), tmp_path, capsys)
    assert code == 0, f"{name}: exit {code}\n{out}\n{err}"
    assert "OK" in out and err == ""


@pytest.mark.parametrize("name", ["hex-bad-checksum", "spm-in-app-elf"])
def test_a_real_process_exits_2_with_one_line_and_no_traceback(name: str, tmp_path: Path) -> None:
    case = get_case(name)
    path = case.make(tmp_path)
    before = snapshot(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "spareflash.cli", "verify", str(path), *case.args],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{case.rule}:" in proc.stderr
    assert snapshot(tmp_path) == before


def test_json_output_lists_rule_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    case = get_case("spm-in-app-elf")
    path = case.make(tmp_path)
    code = main(["verify", str(path), *case.args, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["ok"] is False
    assert [v["rule"] for v in doc["violations"]] == ["spm-in-app"]
    assert "0x" in doc["violations"][0]["message"]
