"""The journal as HAR 1.2: `GET /__harness/journal?format=har` and `harness journal --har`
from a real mock's traffic, checked against the HAR 1.2 structure and read back by
mitmproxy's own HAR reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from mitmproxy.io import FlowReader
from mock_testkit import bearer, product_input

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.cli import main
from harness.control import ControlClient
from mocks.har import har_document, har_entry
from mocks.server import MockServer

_NAME_VALUE = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
}
_LIST = {"type": "array", "items": _NAME_VALUE}
_SIZE = {"type": "integer", "minimum": -1}
# HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): every required field.
HAR_12 = {
    "type": "object",
    "required": ["log"],
    "properties": {
        "log": {
            "type": "object",
            "required": ["version", "creator", "entries"],
            "properties": {
                "version": {"const": "1.2"},
                "creator": {
                    "type": "object",
                    "required": ["name", "version"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                },
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "startedDateTime",
                            "time",
                            "request",
                            "response",
                            "cache",
                            "timings",
                        ],
                        "properties": {
                            "startedDateTime": {"type": "string", "format": "date-time"},
                            "time": {"type": "number", "minimum": 0},
                            "request": {
                                "type": "object",
                                "required": [
                                    "method",
                                    "url",
                                    "httpVersion",
                                    "cookies",
                                    "headers",
                                    "queryString",
                                    "headersSize",
                                    "bodySize",
                                ],
                                "properties": {
                                    "method": {"type": "string"},
                                    "url": {"type": "string", "format": "uri"},
                                    "httpVersion": {"type": "string"},
                                    "cookies": {"type": "array"},
                                    "headers": _LIST,
                                    "queryString": _LIST,
                                    "headersSize": _SIZE,
                                    "bodySize": _SIZE,
                                },
                            },
                            "response": {
                                "type": "object",
                                "required": [
                                    "status",
                                    "statusText",
                                    "httpVersion",
                                    "cookies",
                                    "headers",
                                    "content",
                                    "redirectURL",
                                    "headersSize",
                                    "bodySize",
                                ],
                                "properties": {
                                    "status": {"type": "integer"},
                                    "statusText": {"type": "string"},
                                    "headers": _LIST,
                                    "content": {
                                        "type": "object",
                                        "required": ["size", "mimeType"],
                                        "properties": {
                                            "size": _SIZE,
                                            "mimeType": {"type": "string"},
                                        },
                                    },
                                    "redirectURL": {"type": "string"},
                                    "headersSize": _SIZE,
                                    "bodySize": _SIZE,
                                },
                            },
                            "cache": {"type": "object"},
                            "timings": {
                                "type": "object",
                                "required": ["send", "wait", "receive"],
                                "properties": {
                                    k: {"type": "number", "minimum": -1}
                                    for k in ("blocked", "dns", "connect", "ssl")
                                }
                                | {
                                    k: {"type": "number", "minimum": 0}
                                    for k in ("send", "wait", "receive")
                                },
                            },
                            "comment": {"type": "string"},
                            "connection": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def validate_har(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(
        HAR_12, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)


def _traffic(base_url: str, control: ControlClient) -> None:
    """A login, a listing with a query, a creation with a key, a fault, a drop, a 404."""
    control.add_fault(
        {
            "id": "detail-503",
            "match": {"methods": ["GET"], "path": "/v1/products/1"},
            "action": {"type": "status", "status": 503, "retry_after": 2},
        }
    )
    control.add_fault(
        {"id": "drop", "match": {"path": "/v1/users/profile"}, "action": {"type": "reset"}}
    )
    with httpx.Client(base_url=base_url, timeout=10) as client:
        login = client.post("/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        headers = bearer(login.json()["access_token"])
        client.get("/v1/products", params={"page": 2, "page_size": 5}, headers=headers)
        client.post(
            "/v1/products",
            json=product_input(),
            headers=headers | {"Idempotency-Key": "key-1"},
        )
        client.get("/v1/products/1", headers=headers)
        with pytest.raises(httpx.TransportError):
            client.get("/v1/users/profile", headers=headers)
        client.get("/v1/nowhere", headers=headers)


def test_the_journal_as_har_over_the_control_api(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    _traffic(harness_mock.base_url, harness_control)
    response = httpx.get(f"{harness_mock.base_url}/__harness/journal?format=har", timeout=10)
    assert response.status_code == 200
    har = response.json()
    validate_har(har)
    entries = har["log"]["entries"]
    seen = [(e["request"]["method"], e["request"]["url"], e["response"]["status"]) for e in entries]
    root = harness_mock.base_url
    assert seen == [
        ("POST", f"{root}/v1/auth/login", 200),
        ("GET", f"{root}/v1/products?page=2&page_size=5", 200),
        ("POST", f"{root}/v1/products", 201),
        ("GET", f"{root}/v1/products/1", 503),
        ("GET", f"{root}/v1/users/profile", 0),
        ("GET", f"{root}/v1/nowhere", 404),
    ]
    login, listing, created, faulted, dropped, missing = entries
    assert listing["request"]["queryString"] == [
        {"name": "page", "value": "2"},
        {"name": "page_size", "value": "5"},
    ]
    assert {"name": "Idempotency-Key", "value": "key-1"} in created["request"]["headers"]
    assert created["comment"] == "createProduct"
    assert faulted["comment"] == "getProduct; fault detail-503: status; problem injected_fault"
    assert faulted["response"]["statusText"] == "Service Unavailable"
    assert faulted["response"]["content"]["mimeType"] == "application/problem+json"
    assert dropped["response"]["_error"]
    assert dropped["_harness"]["fault"] == {"rule": "drop", "action": "reset"}
    assert "problem not_found" in missing["comment"]
    assert login["_harness"]["effect"]["kind"] == "session_started"
    assert all(e["time"] >= 0 and e["timings"]["wait"] == e["time"] for e in entries)


def test_harness_journal_writes_a_har_that_mitmproxy_reads(
    harness_mock: MockServer,
    harness_control: ControlClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _traffic(harness_mock.base_url, harness_control)
    path = tmp_path / "run.har"
    assert main(["journal", "--url", harness_mock.base_url, "--har", str(path)]) == 0
    assert "6 entries" in capsys.readouterr().err
    har = json.loads(path.read_text())
    validate_har(har)
    assert har["log"]["creator"]["name"] == "api-contract-harness"
    with path.open("rb") as file:
        flows = list(FlowReader(file).stream())
    assert [(f.request.method, f.request.path, f.response.status_code) for f in flows] == [  # type: ignore[attr-defined]
        (
            e["request"]["method"],
            e["request"]["url"].removeprefix(harness_mock.base_url),
            e["response"]["status"],
        )
        for e in har["log"]["entries"]
    ]
    assert flows[1].request.query["page_size"] == "5"  # type: ignore[attr-defined]
    # --since and the JSON lines form.
    last = har["log"]["entries"][-1]["_harness"]["seq"]
    assert main(["journal", "--url", harness_mock.base_url, "--since", str(last - 2)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["seq"] for e in lines] == [last - 1, last]


def test_harness_journal_without_a_mock_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "--url", "http://127.0.0.1:9", "--har", "-"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness journal: cannot read the journal at http://127.0.0.1:9")
    assert "\n" not in err


def test_a_structure_check_that_can_fail() -> None:
    entry = har_entry(
        {
            "seq": 1,
            "started_at": 0.0,
            "duration_ms": 1.0,
            "method": "GET",
            "path": "/",
            "query": "",
            "status": 200,
        },
        "http://127.0.0.1:1",
    )
    validate_har(har_document([], "http://x"))
    broken = har_document([], "http://x")
    broken["log"]["entries"] = [entry | {"response": {"status": 200}}]
    with pytest.raises(jsonschema.ValidationError):
        validate_har(broken)
    without_version = {"log": {"creator": {"name": "x", "version": "1"}, "entries": []}}
    with pytest.raises(jsonschema.ValidationError):
        validate_har(without_version)
