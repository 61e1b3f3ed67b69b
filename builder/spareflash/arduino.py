"""Arduino IDE / arduino-cli integration: library.properties, the platform hook, the library zip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import SpareFlashError

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY_JSON = REPO_ROOT / "library.json"

# Arduino library specification 1.5: the categories the IDE accepts.
ARDUINO_CATEGORIES = ("Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
                      "Data Storage", "Data Processing", "Other")


def load_library_json(path: Path = LIBRARY_JSON) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpareFlashError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or "name" not in data or "version" not in data:
        raise SpareFlashError(f"{path}: needs at least 'name' and 'version'")
    return data


def _people(value: Any) -> str:
    """library.json 'authors' (dict, list of dicts or string) as the 'Name <email>, ...' Arduino wants."""
    if not value:
        return ""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, dict):
            name = str(item.get("name", "")).strip()
            email = str(item.get("email", "")).strip()
            out.append(f"{name} <{email}>" if email else name)
        else:
            out.append(str(item))
    return ", ".join(x for x in out if x)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def library_properties(meta: dict[str, Any] | None = None) -> str:
    """library.properties (Arduino library specification 1.5) generated from library.json's metadata."""
    meta = meta if meta is not None else load_library_json()
    description = _one_line(meta.get("description", ""))
    # The spec wants a one-sentence summary and an optional paragraph: split at the first sentence end.
    sentence, _, rest = description.partition(". ")
    sentence = sentence.rstrip(".") + "." if sentence else meta["name"]
    authors = _people(meta.get("authors")) or "SpareFlash contributors"
    maintainer = _people(meta.get("maintainer")) or authors
    repo = meta.get("repository")
    url = repo.get("url", "") if isinstance(repo, dict) else (repo or meta.get("homepage", ""))
    headers = meta.get("headers") or ["SpareFlash.h"]
    if isinstance(headers, str):
        headers = [headers]
    archs = []
    for platform in meta.get("platforms", ["atmelavr"]):
        archs.append({"atmelavr": "avr"}.get(platform, platform))
    lines = {
        "name": meta["name"],
        "version": meta["version"],
        "author": authors,
        "maintainer": maintainer,
        "sentence": sentence,
        "paragraph": _one_line(rest),
        "category": "Data Storage",
        "url": url or "https://github.com/spareflash/spareflash",
        "architectures": ",".join(archs) or "avr",
        "includes": ",".join(headers),
        "license": meta.get("license", ""),
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items() if v != "" or k in ("paragraph",))
