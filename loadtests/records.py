"""What the load users record about each logical call, in a JSON-friendly form.

A logical call is one client method call (`get_product(...)`): however many
attempts, refreshes and replays it took. The journal sees attempts; these
records see calls. Invariants compare the two.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CallRecord:
    operation: str  # the contract's operationId (e.g. "createProduct")
    method: str
    ok: bool
    duration_ms: float
    attempts: int = 1  # 1 + the retries the client's on_retry hook reported
    started_at: float = 0.0  # wall clock, seconds since the epoch
    kind: str | None = None  # the error's kind when not ok
    status: int | None = None  # the error's HTTP status, if it had one
    user: str = ""
    body_sha256: str | None = None  # createProduct: the request body's hash
    retry_delays_s: tuple[float, ...] = field(default_factory=tuple)

    @property
    def retries(self) -> int:
        return self.attempts - 1

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retry_delays_s"] = list(self.retry_delays_s)
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> CallRecord:
        values = dict(data)
        values["retry_delays_s"] = tuple(values.get("retry_delays_s") or ())
        return CallRecord(**values)


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Records as JSON lines; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            count += 1
    return count


def read_records(path: Path) -> Iterator[CallRecord]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield CallRecord.from_json(json.loads(line))
