"""What `FlowMarks` leaves in a flow's metadata is what mitmproxy can save."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mitmproxy.io import tnetstring

from mocks.flow_marks import _keep_only_serializable


@dataclass
class _Plan:  # stands for the request's note and compiled plan: not savable
    parts: list[Any] = field(default_factory=lambda: [object()])


def test_only_what_tnetstring_can_dump_is_kept() -> None:
    kept = {
        "mark": {"operation": "getProduct", "journal_seq": 3, "fault": None},
        "pair": (1, 2.5),
        "numbers": {1: b"x", "ok": [True, None]},
    }
    metadata: dict[str, Any] = {
        **kept,
        "note": _Plan(),
        "nested": {"plan": _Plan()},
        "listed": [1, object()],
    }
    _keep_only_serializable(metadata)
    assert metadata == kept
    for value in metadata.values():
        tnetstring.dumps(value)  # raises if it cannot be saved
