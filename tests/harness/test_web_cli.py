"""`harness mock --web`: the real mock in mitmweb's master, flows read back from
mitmweb's own HTTP API (its /flows list and its flow-file download) with its token."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mitmproxy.io import FlowReader
from mitmproxy.utils.emoji import emoji
from mock_testkit import MockProcess, harness_command, harness_mock_process
from tornado.websocket import websocket_connect

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from mocks.flow_marks import FAULT_MARK, REFUSED_MARK

WEB_LINE = re.compile(r"Web UI\s+(http://127\.0\.0\.1:(\d+))/\?token=([0-9a-f]+) ")


def _web_ui(mock: MockProcess) -> tuple[str, str]:
    found = WEB_LINE.search(mock.banner)
    assert found, mock.banner
    assert int(found.group(2)) > 0  # --web-port 0 took a free port and says which
    return found.group(1), found.group(3)


def _flows(web: str, token: str) -> list[dict]:
    answer = httpx.get(f"{web}/flows", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return [f for f in answer.json() if f["request"]["path"].startswith("/v1/")]


class LiveUpdates(threading.Thread):
    """What mitmweb's page receives: its /updates websocket, read on a thread."""

    def __init__(self, web: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{web.replace('http', 'ws', 1)}/updates?token={token}"
        self.messages: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._finished = threading.Event()

    def run(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        socket = await websocket_connect(self.url)
        self.connected.set()
        while not self._finished.is_set():
            try:
                message = await asyncio.wait_for(socket.read_message(), 0.2)
            except TimeoutError:
                continue
            if message is None:
                break
            self.messages.append(json.loads(message))
        socket.close()

    def comments(self, path: str) -> list[str]:
        """The comments the page was sent for `path`'s flows, in order."""
        return [
            m["payload"]["flow"]["comment"]
            for m in self.messages
            if m.get("type") in ("flows/add", "flows/update")
            and m["payload"]["flow"]["request"]["path"] == path
        ]

    def stop(self) -> None:
        self._finished.set()
        self.join(10)


def test_every_flow_shows_in_mitmweb_marked_with_what_the_mock_did(tmp_path: Path) -> None:
    with harness_mock_process(
        "--web", "--web-port", "0", stderr_path=tmp_path / "stderr.txt"
    ) as mock:
        web, token = _web_ui(mock)
        base = mock.base_url
        live = LiveUpdates(web, token)
        live.start()
        assert live.connected.wait(30)
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/v1/products").status_code == 401  # no token: refused
            login = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
            bearer = client.post("/v1/auth/login", json=login).json()["access_token"]
            rule = {
                "id": "products-down",
                "match": {"path": "/v1/products*"},
                "action": {"type": "status", "status": 503},
            }
            assert client.post("/__harness/faults", json=rule).status_code == 201
            faulted = client.get("/v1/products", headers={"Authorization": f"Bearer {bearer}"})
            assert faulted.status_code == 503
            journal = client.get("/__harness/journal").json()["entries"]
        seq = {(e["method"], e["status"]): e["seq"] for e in journal}

        flows = _flows(web, token)
        seen = [(f["request"]["method"], f["response"]["status_code"]) for f in flows]
        assert seen == [("GET", 401), ("POST", 200), ("GET", 503)]
        refused, signed_in, hit = flows
        assert refused["comment"] == f"listProducts · token_missing · journal #{seq['GET', 401]}"
        assert refused["marked"] == emoji[REFUSED_MARK]  # mitmweb sends the emoji itself
        assert signed_in["comment"] == f"login · journal #{seq['POST', 200]}"
        assert signed_in["marked"] == ""
        assert hit["comment"] == (
            f"listProducts · fault products-down: status · injected_fault "
            f"· journal #{seq['GET', 503]}"
        )
        assert hit["marked"] == emoji[FAULT_MARK]
        # The open page was sent the marks too, not just what a reload would show.
        deadline = time.monotonic() + 30
        while hit["comment"] not in live.comments("/v1/products") and time.monotonic() < deadline:
            time.sleep(0.1)
        live.stop()
        assert live.comments("/v1/products")[-1] == hit["comment"]
        assert refused["comment"] in live.comments("/v1/products")

        # The UI's password guards the flows (they carry the client's credentials).
        assert httpx.get(f"{web}/flows", timeout=10).status_code == 403
        # Saved flows keep the marks as plain metadata (mitmweb's "Save" works).
        dump = httpx.get(f"{web}/flows/dump", params={"token": token}, timeout=10)
        assert dump.status_code == 200
        saved = [
            f
            for f in FlowReader(io.BytesIO(dump.content)).stream()
            if f.request.path.startswith("/v1/")  # type: ignore[attr-defined]
        ]
        marks = [f.metadata["harness_mark"] for f in saved]
        assert [m["operation"] for m in marks] == ["listProducts", "login", "listProducts"]
        assert (marks[2]["fault_rule"], marks[2]["fault_action"]) == ("products-down", "status")
        assert [m["journal_seq"] for m in marks] == [
            seq["GET", 401],
            seq["POST", 200],
            seq["GET", 503],
        ]


def test_a_web_password_replaces_the_token_and_is_never_printed(tmp_path: Path) -> None:
    args = ("--web", "--web-port", "0", "--set", "web_password=ui-secret-1")
    with harness_mock_process(*args, stderr_path=tmp_path / "stderr.txt") as mock:
        found = re.search(
            r"Web UI\s+(http://127\.0\.0\.1:\d+)/ \(the web_password given\)", mock.banner
        )
        assert found, mock.banner
        assert "ui-secret-1" not in mock.banner
        web = found.group(1)
        assert httpx.get(f"{web}/flows", params={"token": "wrong"}, timeout=10).status_code == 403
        allowed = httpx.get(
            f"{web}/flows", headers={"Authorization": "Bearer ui-secret-1"}, timeout=10
        )
        assert allowed.status_code == 200


def test_plain_mock_has_no_web_ui(tmp_path: Path) -> None:
    with harness_mock_process(stderr_path=tmp_path / "stderr.txt") as mock:
        assert "Web UI" not in mock.banner


def _refused(*args: str) -> subprocess.CompletedProcess[str]:
    command = [*harness_command(), "mock", "--port", "0", "--web", "--web-port", "0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_web_ui_never_listens_beyond_loopback() -> None:
    result = _refused("--set", "web_host=0.0.0.0")
    assert result.returncode == 1
    assert "the web UI listens on loopback only, not on '0.0.0.0'" in result.stderr


def test_a_web_port_in_use_is_reported_plainly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [*harness_command(), "mock", "--port", "0", "--web", "--web-port", str(port)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot start: the web UI cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--workers", "2"), "--web shows one process's flows: use it without --workers"),
        (("--web-port", "70000"), "--web-port 70000 is not a port"),
    ],
)
def test_web_options_that_cannot_work_are_usage_errors(args: tuple[str, ...], reason: str) -> None:
    result = _refused(*args)
    assert result.returncode == 2
    assert reason in result.stderr


def test_a_document_served_mock_marks_its_flows_too(tmp_path: Path) -> None:
    config = Path(__file__).parents[2] / "examples" / "library" / "harness.yaml"
    args = ("--web", "--web-port", "0", "--config", str(config))
    with harness_mock_process(*args, stderr_path=tmp_path / "stderr.txt") as mock:
        web, token = _web_ui(mock)
        rule = {"id": "book-down", "match": {"operation": "GetBook"}, "action": {"type": "reset"}}
        with httpx.Client(base_url=mock.base_url, timeout=10) as client:
            assert client.post("/__harness/faults", json=rule).status_code == 201
            with pytest.raises(httpx.TransportError):
                client.get("/api/books/1")
            # Signed out: refused (401) before the body is judged, as a real server does.
            assert client.post("/api/books", json={}).status_code == 401
        answer = httpx.get(f"{web}/flows", params={"token": token}, timeout=10).json()
        flows = {
            f["request"]["method"]: f for f in answer if f["request"]["path"].startswith("/api/")
        }
        # The reset left no response: marked from mitmproxy's error hook.
        assert flows["GET"]["comment"] == "GetBook · fault book-down: reset · journal #1"
        assert (flows["GET"]["marked"], "response" in flows["GET"]) == (emoji[FAULT_MARK], False)
        assert flows["POST"]["comment"].startswith("CreateBook · ")
        assert flows["POST"]["marked"] == emoji[REFUSED_MARK]
