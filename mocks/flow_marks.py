"""Marks each flow with what the mock did, for mitmproxy's own views (mitmweb's flow
list, `mitmdump -s`): the operation, the fault rule that hit it and its action, the
problem code, and the journal entry's number.

Runs after the addon chain, once the journal has recorded the flow. It writes only
mitmproxy's own flow fields: `comment` (mitmweb's comment column), `marked` (an
emoji in the flow list: a fault hit it, or it got an error answer), and the
`harness_mark` metadata entry (plain JSON, so saved flows keep it). It never
changes what the client receives.

Once a flow has ended, the addons' own notes (objects) leave its metadata:
mitmproxy cannot save a flow whose metadata it cannot serialize, and mitmweb's
"Save" would fail. A later hook of that flow starts from an empty note.
"""

from __future__ import annotations

import json
from typing import Any

from mitmproxy import http

from mocks.journal import JournalEntry
from mocks.notes import METADATA_KEY, RequestNote
from mocks.state import MockState

MARK_KEY = "harness_mark"
FAULT_MARK = ":boom:"  # a fault rule (or an X-Harness-Fault header) hit the flow
REFUSED_MARK = ":warning:"  # no fault, but an error answer (4xx/5xx): refused or failed


class FlowMarks:
    def __init__(self, state: MockState) -> None:
        self._state = state

    def response(self, flow: http.HTTPFlow) -> None:
        self._mark(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:  # as the journal: a flow that failed before answering
            self._mark(flow)

    def _mark(self, flow: http.HTTPFlow) -> None:
        n = flow.metadata.get(METADATA_KEY)
        if not isinstance(n, RequestNote):
            return  # a flow the mock never saw
        _keep_only_serializable(flow.metadata)
        if n.control:
            flow.comment = "control API"
            return
        entry = self._journal_entry(flow)
        mark = summary(n, entry)
        flow.metadata[MARK_KEY] = mark
        flow.comment = describe(mark)
        if n.fault is not None:
            flow.marked = FAULT_MARK
        elif entry is not None and entry.status is not None and entry.status >= 400:
            flow.marked = REFUSED_MARK
        # No update to send: mitmproxy sends every flow's update after each hook.

    def _journal_entry(self, flow: http.HTTPFlow) -> JournalEntry | None:
        """The entry the journal addon just recorded for this flow (the hooks of one
        flow run without interruption), or None if it recorded none."""
        journal = self._state.journal
        entries, _ = journal.since(journal.last_seq - 1)
        if not entries:
            return None
        entry = entries[-1]
        same = (
            entry.connection == flow.client_conn.id
            and entry.started_at == flow.request.timestamp_start
        )
        return entry if same else None


def _keep_only_serializable(metadata: dict[str, Any]) -> None:
    """Drop what mitmproxy could not save (the request's note and plan): judged by type,
    not by trying `tnetstring.dumps`, which formats a whole compiled plan before it
    gives up (4 ms a flow)."""
    for key, value in list(metadata.items()):
        if not _serializable(value):
            del metadata[key]


_ATOMS = (str, bytes, int, float, bool, type(None))


def _serializable(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _ATOMS):
        return True
    if depth > 16:
        return False
    if isinstance(value, list | tuple):
        return all(_serializable(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, _ATOMS) and _serializable(v, depth + 1) for k, v in value.items())
    return False


def summary(n: RequestNote, entry: JournalEntry | None) -> dict[str, Any]:
    fault = dict(n.fault) if n.fault is not None else None
    return {
        "operation": n.operation,
        "fault_rule": fault.get("rule") if fault else None,
        "fault_action": fault.get("action") if fault else None,
        "fault": json.loads(json.dumps(fault, default=str)) if fault else None,
        "status": entry.status if entry is not None else None,
        "code": entry.code if entry is not None else None,
        "journal_seq": entry.seq if entry is not None else None,
    }


def describe(mark: dict[str, Any]) -> str:
    """One line for mitmweb's comment column: `getProduct · fault r1: latency · #12`."""
    parts = [mark["operation"] or "no operation"]
    if mark["fault_rule"] is not None:
        parts.append(f"fault {mark['fault_rule']}: {mark['fault_action']}")
    if mark["code"]:
        parts.append(str(mark["code"]))
    parts.append(f"journal #{mark['journal_seq']}" if mark["journal_seq"] else "not journaled")
    return " · ".join(parts)
