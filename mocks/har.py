"""Journal entries as an HTTP Archive (HAR 1.2), for browser dev tools and mitmproxy.

Pure: entry dicts (as the control API returns them) in, a HAR dict out.

The journal keeps what the verdicts need, not whole messages, so the HAR holds
what is known: method, URL with its query, status, the request headers the
journal records (Idempotency-Key, X-App-Nonce), when it started and how long
the mock took. Unknown sizes are -1 as the format says; the bodies and the
other headers are not in it (the journal records the request body's SHA-256
only). Each entry's `comment` names the operation and the fault rule that hit
it; `_harness` (HAR's custom-field convention) carries the rest of the journal
entry: problem code, token and signature states, effects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

HAR_VERSION = "1.2"
CREATOR = "api-contract-harness"
HTTP_VERSION = "HTTP/1.1"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Request headers whose exact values the journal keeps.
_RECORDED_HEADERS = (("idempotency_key", "Idempotency-Key"), ("nonce", "X-App-Nonce"))
# Journal fields that the HAR's own fields already say.
_IN_HAR = {"started_at", "duration_ms", "method", "path", "query", "status", "connection"}


def har_document(
    entries: Iterable[Mapping[str, Any]], base_url: str, *, version: str = "unknown"
) -> dict[str, Any]:
    """A HAR log of these journal entries, as seen at `base_url` (the mock's root)."""
    root = base_url.rstrip("/")
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": CREATOR, "version": version},
            "entries": [har_entry(entry, root) for entry in entries],
            "comment": "Exported from the mock's journal: no bodies, few headers.",
        }
    }


def har_entry(entry: Mapping[str, Any], root: str) -> dict[str, Any]:
    query = str(entry.get("query") or "")
    url = f"{root}{entry['path']}" + (f"?{query}" if query else "")
    elapsed_ms = float(entry.get("duration_ms") or 0.0)
    started = datetime.fromtimestamp(float(entry["started_at"]), UTC)
    har: dict[str, Any] = {
        "startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "time": elapsed_ms,
        "request": {
            "method": entry["method"],
            "url": url,
            "httpVersion": HTTP_VERSION,
            "cookies": [],
            "headers": [
                {"name": name, "value": str(entry[field])}
                for field, name in _RECORDED_HEADERS
                if entry.get(field)
            ],
            "queryString": [
                {"name": name, "value": value}
                for name, value in parse_qsl(query, keep_blank_values=True)
            ],
            "headersSize": -1,
            "bodySize": -1,
        },
        "response": _response(entry),
        "cache": {},
        # Only the whole is known: the mock's time from the request to its answer.
        "timings": {
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "ssl": -1,
            "send": 0,
            "wait": elapsed_ms,
            "receive": 0,
        },
        "_harness": {k: v for k, v in entry.items() if k not in _IN_HAR},
    }
    if entry.get("connection"):
        har["connection"] = str(entry["connection"])
    comment = _comment(entry)
    if comment:
        har["comment"] = comment
    return har


def _response(entry: Mapping[str, Any]) -> dict[str, Any]:
    status = entry.get("status")
    problem = status is not None and int(status) >= 400 and entry.get("code")
    response: dict[str, Any] = {
        "status": int(status) if status is not None else 0,
        "statusText": _reason(status),
        "httpVersion": HTTP_VERSION if status is not None else "",
        "cookies": [],
        "headers": [],
        "content": {"size": -1, "mimeType": PROBLEM_MEDIA_TYPE if problem else ""},
        "redirectURL": "",
        "headersSize": -1,
        "bodySize": -1,
    }
    if status is None:  # no response: how browsers' HARs mark a failed request
        response["_error"] = entry.get("error") or "no response"
    return response


def _reason(status: Any) -> str:
    if status is None:
        return ""
    try:
        return HTTPStatus(int(status)).phrase
    except ValueError:
        return ""


def _comment(entry: Mapping[str, Any]) -> str:
    parts = []
    if entry.get("operation"):
        parts.append(str(entry["operation"]))
    fault = entry.get("fault")
    if fault:
        parts.append(f"fault {fault.get('rule')}: {fault.get('action')}")
    if entry.get("code"):
        parts.append(f"problem {entry['code']}")
    return "; ".join(parts)
