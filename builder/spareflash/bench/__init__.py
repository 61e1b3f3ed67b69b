"""Benchmarks in deterministic units (simulated cycles, bytes, erase counts), each beside the baseline the issue
names, measured in the same run. One module per topic (`storage`, `overlay`, `plugin`), each with

    def measure(quick: bool = False) -> BenchResult

`spareflash bench TOPIC [--json]` prints the rows as a rich table, or the numeric fields as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    metric: str
    value: float
    unit: str
    target: str  # the target, in words ("<= 1.15", ">= 10x EEPROM.put")
    ok: bool | None  # None: informational, no target
    baseline: str = ""  # what it was compared against, measured in the same run


@dataclass
class BenchResult:
    topic: str
    rows: list[Row] = field(default_factory=list)
    fields: dict[str, float | int] = field(default_factory=dict)  # the JSON fields CI compares run to run
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok is not False for r in self.rows)

    def to_dict(self) -> dict[str, object]:
        return {"topic": self.topic, "ok": self.ok, **self.fields,
                "rows": [r.__dict__ for r in self.rows], "notes": self.notes}
