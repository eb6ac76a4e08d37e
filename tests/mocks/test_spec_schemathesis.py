"""Plain schemathesis (`st run`, as any team would run it) against `harness mock --spec`:
the answers conform to the document (status codes, content types, headers, schemas),
and a negative run never gets an unplanned 5xx. On our small document and on a
second example API (the lending library, tests/data/library), on a third-party
one (RealWorld's, tests/data/realworld, MIT), and on the demo's own document.

The mock is judged by schemathesis's own checks, so these tests fail on a mock that
answers an undeclared status, a wrong media type, a body outside its schema or a 5xx
(the first test shows the checks do fail, on a mock told to break its answers)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.config import DEMO_CONFIG_PATH, load_config
from mocks.server import MockServer
from mocks.spec_auth import SessionPolicy

DATA = Path(__file__).parents[1] / "data"
CONFORMANCE = (
    "status_code_conformance,content_type_conformance,response_headers_conformance,"
    "response_schema_conformance,not_a_server_error"
)


def _st() -> list[str]:
    beside = Path(sys.executable).with_name("st")
    return [str(beside)] if beside.exists() else [shutil.which("st") or "st"]


CONFIGS = {
    "books": DATA / "books" / "harness.yaml",
    "library": DATA / "library" / "harness.yaml",
    "realworld": DATA / "realworld" / "harness.yaml",
    "demo": DEMO_CONFIG_PATH,  # the demo's own document on the same engine
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Path, MockServer]]:
    config = load_config(CONFIGS[request.param])
    assert config.spec_location is not None
    with MockServer(spec=config.spec_location, config=config) as server:
        yield Path(config.spec_location), server


def _st_run(spec: Path, mock: MockServer, *args: str) -> subprocess.CompletedProcess[str]:
    minted = httpx.post(mock.control_url + "/tokens", json={}).json()["access_token"]
    base = mock.base_url + mock.state.spec.base_path
    prefix = SessionPolicy(mock.state.spec).prefix
    command = [
        *_st(), "run", str(spec), "--url", base, "-H", f"Authorization: {prefix} {minted}",
        "--seed", "7", "--no-color", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=400)


def test_schemathesis_finds_no_response_conformance_failure(
    served: tuple[Path, MockServer],
) -> None:
    spec, mock = served
    run = _st_run(
        spec, mock, "-n", "15", "--phases", "examples,coverage,fuzzing", "-c", CONFORMANCE
    )
    assert run.returncode == 0, run.stdout[-4000:]
    # Every case passed (a warning such as "Login only answered 401" to random
    # credentials is no failure), and every operation was tested.
    counts = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counts is not None, run.stdout[-2000:]
    assert counts.group(1) == counts.group(2), run.stdout[-2000:]
    operations = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
    assert operations is not None, run.stdout[-2000:]
    assert operations.group(1) == operations.group(2) == operations.group(3)


def test_a_negative_run_never_gets_an_unplanned_5xx(served: tuple[Path, MockServer]) -> None:
    spec, mock = served
    run = _st_run(spec, mock, "-n", "15", "--mode", "negative", "-c", "not_a_server_error")
    assert run.returncode == 0, run.stdout[-4000:]
    assert httpx.get(mock.control_url + "/health").status_code == 200


def test_the_checks_do_fail_on_answers_that_break_the_document(
    served: tuple[Path, MockServer],
) -> None:
    spec, mock = served
    rule = {"match": {"operation": "*"}, "action": {"type": "status", "status": 502}}
    assert httpx.post(mock.control_url + "/faults", json=rule).status_code == 201
    try:
        run = _st_run(spec, mock, "-n", "2", "--phases", "examples,fuzzing", "-c", CONFORMANCE)
    finally:
        httpx.delete(mock.control_url + "/faults")
    assert run.returncode != 0
    assert "Server error" in run.stdout or "Undocumented HTTP status code" in run.stdout
