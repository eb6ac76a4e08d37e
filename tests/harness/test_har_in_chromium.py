"""The HAR the mock exports opens in a real browser's dev tools: headless Chromium's own
DevTools front end (served by Chromium itself) parses it with its HAR reader, imports
it into its network log the way Network > Import HAR does, and its Network panel lists
every request. A screenshot of the panel is left in the test's tmp_path.

Skips when no Chromium is installed (Debian: `apt-get install chromium`; another
binary: CHROMIUM=/path/to/chrome). Chromium reaches nothing but loopback here."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mock_testkit import harness_command
from tornado.websocket import WebSocketClientConnection, websocket_connect

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from mocks.server import MockServer

CHROMIUM = shutil.which(os.environ.get("CHROMIUM", "chromium"))
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install chromium, or set CHROMIUM): "
    "the HAR cannot be opened in a browser's dev tools",
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # loopback only
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1280,800",
]
TIMEOUT_S = 60.0  # generous: two shared cores, and other engineers' tests beside


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A headless Chromium with a fresh profile; its DevTools port."""
    assert CHROMIUM is not None
    profile = tmp_path_factory.mktemp("chromium-profile")
    log = (profile.parent / "chromium.log").open("w")
    process = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield _devtools_port(process, profile / "DevToolsActivePort")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _devtools_port(process: subprocess.Popen[bytes], active_port: Path) -> int:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"Chromium exited with {process.returncode}")
        lines = active_port.read_text().split() if active_port.exists() else []
        if lines:
            return int(lines[0])
        time.sleep(0.1)
    raise AssertionError(f"Chromium opened no DevTools port within {TIMEOUT_S} s")


class DevTools:
    """The Chrome DevTools Protocol over Chromium's websocket (tornado's client)."""

    def __init__(self, socket: WebSocketClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, port: int) -> DevTools:
        version = httpx.get(f"http://127.0.0.1:{port}/json/version", timeout=10).json()
        return cls(await websocket_connect(version["webSocketDebuggerUrl"], max_message_size=2**26))

    async def _read(self) -> None:
        while (message := await self._socket.read_message()) is not None:
            data = json.loads(message)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        ident = next(self._ids)
        future = self._pending[ident] = asyncio.get_running_loop().create_future()
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._socket.write_message(json.dumps(message))
        answer = await asyncio.wait_for(future, TIMEOUT_S)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer["result"]

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate",
            session,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise HarRejected(details.get("exception", {}).get("description") or str(details))
        return result["result"].get("value")

    def close(self) -> None:
        self._socket.close()
        self._reader.cancel()


class HarRejected(AssertionError):
    """DevTools refused the HAR (its reader threw)."""


# In DevTools' own page: what Network > Import HAR runs (NetworkLogView.onLoadFromFile:
# HARRoot over the parsed JSON, Importer.requestsFromHARLog, NetworkLog.importRequests),
# then the Network panel shown and its rows read once it lists every request.
IMPORT_HAR = """
(async (text) => {
  const deadline = Date.now() + %(timeout_ms)d;
  const HAR = await import('/devtools/models/har/har.js');
  const Logs = await import('/devtools/models/logs/logs.js');
  const UI = await import('/devtools/ui/legacy/legacy.js');
  const root = new HAR.HARFormat.HARRoot(JSON.parse(text));
  const requests = HAR.Importer.Importer.requestsFromHARLog(root.log);
  for (;;) {  // the front end boots after the page loads
    try { UI.InspectorView.InspectorView.instance(); break; } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise(r => setTimeout(r, 100));
    }
  }
  Logs.NetworkLog.NetworkLog.instance().importRequests(requests);
  await UI.ViewManager.ViewManager.instance().showView('network');
  const rows = () => {
    const found = [];
    const walk = (node) => {
      for (const el of node.querySelectorAll('*')) {
        if (el.matches('tr.data-grid-data-grid-node')) {
          found.push(el.innerText.replace(/\\s+/g, ' ').trim());
        }
        if (el.shadowRoot) walk(el.shadowRoot);
      }
    };
    walk(document);
    return found;
  };
  while (rows().length < requests.length && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 100));
  }
  return {
    requests: Logs.NetworkLog.NetworkLog.instance().requests().map(r => ({
      method: r.requestMethod, url: r.url(), status: r.statusCode,
      duration_ms: r.duration * 1000, imported: r.isImportedHar(),
    })),
    rows: rows(),
  };
})(%(har)s)
"""


async def _open_in_devtools(port: int, har: str, screenshot: Path) -> dict[str, Any]:
    devtools = await DevTools.connect(port)
    try:
        page = (await devtools.call("Target.createTarget", url="about:blank"))["targetId"]
        front_end = f"http://127.0.0.1:{port}/devtools/inspector.html?ws=127.0.0.1:{port}/devtools/page/{page}"
        target = (await devtools.call("Target.createTarget", url=front_end))["targetId"]
        session = (await devtools.call("Target.attachToTarget", targetId=target, flatten=True))[
            "sessionId"
        ]
        await _front_end_loaded(devtools, session, front_end)
        expression = IMPORT_HAR % {"har": json.dumps(har), "timeout_ms": TIMEOUT_S * 1000}
        shown: dict[str, Any] = await devtools.evaluate(session, expression)
        picture = await devtools.call("Page.captureScreenshot", session, format="png")
        screenshot.write_bytes(base64.b64decode(picture["data"]))
        for target_id in (target, page):
            await devtools.call("Target.closeTarget", targetId=target_id)
        return shown
    finally:
        devtools.close()


async def _front_end_loaded(devtools: DevTools, session: str, url: str) -> None:
    """Until the new target shows the front end (it starts on about:blank, where the
    front end's modules cannot be imported)."""
    deadline = time.monotonic() + TIMEOUT_S
    probe = "location.href + ' ' + document.readyState"
    while (seen := await devtools.evaluate(session, probe)) != f"{url} complete":
        if time.monotonic() > deadline:
            raise AssertionError(f"DevTools' front end did not load: {seen}")
        await asyncio.sleep(0.1)


def _traffic(base_url: str) -> None:
    """Refused, signed in, served, faulted with a status, and reset with no response."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        assert client.get("/v1/products").status_code == 401
        login = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
        auth = {
            "Authorization": "Bearer "
            + client.post("/v1/auth/login", json=login).json()["access_token"]
        }
        assert client.get("/v1/products", headers=auth).status_code == 200
        for rule in (
            {
                "id": "down",
                "match": {"path": "/v1/users/*"},
                "action": {"type": "status", "status": 503},
            },
            {"id": "rst", "match": {"path": "/v1/products/*"}, "action": {"type": "reset"}},
        ):
            assert client.post("/__harness/faults", json=rule).status_code == 201
        assert client.get("/v1/users/profile", headers=auth).status_code == 503
        with pytest.raises(httpx.TransportError):
            client.get("/v1/products/p1", headers=auth)


def test_the_exported_har_opens_in_chromium_devtools(chromium: int, tmp_path: Path) -> None:
    with MockServer() as mock:
        _traffic(mock.base_url)
        har_file = tmp_path / "run.har"
        exported = subprocess.run(
            [*harness_command(), "journal", "--har", str(har_file), "--url", mock.base_url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert exported.returncode == 0, exported.stderr
        served = httpx.get(f"{mock.control_url}/journal", params={"format": "har"}, timeout=10)
        journal = httpx.get(f"{mock.control_url}/journal", timeout=10).json()["entries"]
    har = har_file.read_text()
    assert json.loads(har) == served.json()  # the file and the endpoint: one document

    screenshot = tmp_path / "devtools-network.png"
    shown = asyncio.run(_open_in_devtools(chromium, har, screenshot))

    expected = [(e["method"], mock.base_url + e["path"], e["status"] or 0) for e in journal]
    assert [(r["method"], r["url"], r["status"]) for r in shown["requests"]] == expected
    assert expected[-1][2] == 0  # the reset: no response, as browsers record one
    assert all(r["imported"] for r in shown["requests"])
    for request, entry in zip(shown["requests"], journal, strict=True):
        assert request["duration_ms"] == pytest.approx(entry["duration_ms"], abs=0.01)
    # The Network panel lists them: name (the last path segment) and status per row.
    assert len(shown["rows"]) == len(journal), shown["rows"]
    for row, (_, url, status) in zip(shown["rows"], expected, strict=True):
        assert row.startswith(url.rsplit("/", 1)[1] + " ")
        if status:
            assert f" {status} " in row
    assert screenshot.read_bytes().startswith(b"\x89PNG")


def _mock_har() -> dict[str, Any]:
    with MockServer() as mock:
        assert httpx.get(mock.base_url + "/v1/products", timeout=10).status_code == 401
        return httpx.get(f"{mock.control_url}/journal", params={"format": "har"}, timeout=10).json()


def _without_timings(har: dict[str, Any]) -> dict[str, Any]:
    del har["log"]["entries"][0]["timings"]
    return har


def _bad_date(har: dict[str, Any]) -> dict[str, Any]:
    har["log"]["entries"][0]["startedDateTime"] = "yesterday"
    return har


def _no_entries(har: dict[str, Any]) -> dict[str, Any]:
    del har["log"]["entries"]
    return har


@pytest.mark.parametrize(
    ("breaking", "reason"),
    [
        (_without_timings, "expected to be an object"),
        (_bad_date, "Invalid date format"),
        (_no_entries, "entries"),
    ],
    ids=["entry-without-timings", "bad-startedDateTime", "no-entries"],
)
def test_devtools_refuses_a_broken_har(
    chromium: int, tmp_path: Path, breaking: Any, reason: str
) -> None:
    # The check above can fail: DevTools' reader throws on what it cannot import, and
    # each of these breaks the mock's own HAR in one place only.
    broken = json.dumps(breaking(_mock_har()))
    with pytest.raises(HarRejected, match=reason):
        asyncio.run(_open_in_devtools(chromium, broken, tmp_path / "x.png"))
