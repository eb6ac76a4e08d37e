"""What the addons learn about one request, gathered for its journal entry.

Each addon writes the fields of its concern into the flow's note; the
journal addon turns the note into an entry once the response is decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http

from mocks.problems import ProblemError

METADATA_KEY = "harness"


@dataclass
class RequestNote:
    operation: str | None = None
    role: str | None = None  # what the operation is for (the configuration's roles)
    params: dict[str, str] = field(default_factory=dict)
    control: bool = False
    user_id: str | None = None
    session_id: str | None = None
    token_id: str | None = None
    token_state: str | None = None
    api_key: str = "off"
    nonce: str | None = None
    signature: str = "off"
    idempotency_key: str | None = None
    idempotency: str | None = None
    effect: dict[str, Any] | None = None
    fault: dict[str, Any] | None = None
    epoch: int = 0  # the reset generation the request began in
    # A check's verdict, judged before faults and enforced after them.
    rejection: ProblemError | Any = None  # anything with to_response()
    dropped: bool = False  # a fault closed the connection instead of answering
    sent_by_hand: bool = False  # a fault wrote the response itself (drip)
    # The rule chosen for this flow, for the addon that acts after the API.
    fault_rule: Any = None
    fault_action: Any = None
    # Proxy mode with a document: how the upstream's answer broke it.
    violations: list[str] | None = None


def note(flow: http.HTTPFlow) -> RequestNote:
    """The flow's note, created on first use."""
    found = flow.metadata.get(METADATA_KEY)
    if found is None:
        found = flow.metadata[METADATA_KEY] = RequestNote()
    assert isinstance(found, RequestNote)
    return found
