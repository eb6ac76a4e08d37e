"""The library example: its server conforms to its document, and every defect is real.

Plain schemathesis runs over HTTP against the server on a loopback port: it
reports nothing on the correct server, and each defect it can see makes it
fail. The defects out of its reach are shown by direct requests that pass on
the correct server and fail on the defective one.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from contracts.config import load_config
from contracts.document import load_document
from examples.library.defects import DEFECTS
from examples.library.testing import running_library_server

LIBRARY = Path(__file__).resolve().parents[2] / "examples" / "library"
SPEC = LIBRARY / "openapi.yaml"
ST = Path(sys.executable).with_name("st")
READER = {"email": "reader@example.org", "password": "reader-password"}
CRITIC = {"email": "critic@example.org", "password": "critic-password"}
SECRET = "a-test-signing-key-of-at-least-32-bytes"


def login(client: httpx.Client, identity: dict[str, str]) -> dict[str, str]:
    answer = client.post("/users/login", json={"user": identity})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Token {answer.json()['user']['token']}"}


def schemathesis(
    base_url: str,
    token_header: dict[str, str],
    report: Path,
    *,
    operations: tuple[str, ...] = (),
    max_examples: int,
    phases: str | None = None,
) -> dict[str, Any]:
    """`st run --checks all` over HTTP; its JSON report."""
    command = [
        str(ST), "run", str(SPEC), "--url", base_url,
        "-H", f"Authorization: {token_header['Authorization']}",
        "--checks", "all", "--seed", "1", "-n", str(max_examples), "--workers", "1",
        "--generation-database", "none", "--no-color",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    for operation in operations:
        command += ["--include-operation-id", operation]
    if not operations:  # it closes the account whose token the run shares
        command += ["--exclude-operation-id", "DeleteCurrentUser"]
    if phases:
        command += ["--phases", phases]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(report.read_text())
    result["output"] = done.stdout
    return result


def failure_codes(report: dict[str, Any]) -> set[str]:
    return {failure["code"] for failure in report["failures"]}


# --- the correct server conforms --------------------------------------------------------


def test_plain_schemathesis_finds_nothing_on_the_correct_server(tmp_path: Path) -> None:
    with running_library_server(seed=1) as base_url, httpx.Client(base_url=base_url) as client:
        report = schemathesis(base_url, login(client, READER), tmp_path / "r.json", max_examples=15)
    assert report["failures"] == [], report["output"][-6000:]
    assert report["errors"] == [], report["output"][-6000:]
    assert report["operations"]["tested"] == 19  # all but DeleteCurrentUser
    assert report["test_cases"]["generated"] >= 500
    assert {name: phase["status"] for name, phase in report["phases"].items()} == dict.fromkeys(
        ("examples", "coverage", "fuzzing", "stateful"), "success"
    )


def test_closing_the_account_conforms_too(tmp_path: Path) -> None:
    with running_library_server() as base_url, httpx.Client(base_url=base_url) as client:
        token = login(client, CRITIC)
        report = schemathesis(
            base_url, token, tmp_path / "r.json", operations=("DeleteCurrentUser",), max_examples=5,
            phases="examples,coverage,fuzzing",
        )  # fmt: skip
        assert client.get("/user", headers=token).status_code == 401  # it really closed it
    assert report["failures"] == [], report["output"][-6000:]
    assert report["test_cases"]["generated"] >= 1


# --- defects plain schemathesis sees --------------------------------------------------

SEEN_BY_SCHEMATHESIS = {
    # defect: (the operations to run, a failure code it must report)
    "create-200": (("CreateBook",), "ST103"),
    "missing-field": (("CreateBook",), "ST108"),
    "naive-datetime": (("CreateBook",), "ST108"),
    "duplicate-400": (("CreateUser",), "ST103"),
    "server-error": (("ListBooks",), "ST101"),
    "wrong-content-type": (("ListBooks",), "ST105"),
    "no-location": (("CreateBook",), "ST107"),
    "lax-validation": (("CreateBook",), "ST201"),
    "default-user": (("GetCurrentUser",), "ST401"),  # also below: a direct request
}


@pytest.mark.parametrize("defect", sorted(SEEN_BY_SCHEMATHESIS))
def test_plain_schemathesis_fails_on_the_defect(defect: str, tmp_path: Path) -> None:
    operations, code = SEEN_BY_SCHEMATHESIS[defect]
    with (
        running_library_server(defects={defect}, seed=1) as base_url,
        httpx.Client(base_url=base_url) as client,
    ):
        report = schemathesis(
            base_url, login(client, READER), tmp_path / "r.json", operations=operations,
            max_examples=10, phases="examples,coverage,fuzzing",
        )  # fmt: skip
    assert code in failure_codes(report), report["output"][-6000:]


def test_the_same_targeted_runs_pass_on_the_correct_server(tmp_path: Path) -> None:
    operations = tuple(sorted({op for ops, _ in SEEN_BY_SCHEMATHESIS.values() for op in ops}))
    with running_library_server(seed=1) as base_url, httpx.Client(base_url=base_url) as client:
        report = schemathesis(
            base_url, login(client, READER), tmp_path / "r.json", operations=operations,
            max_examples=10, phases="examples,coverage,fuzzing",
        )  # fmt: skip
    assert report["failures"] == [], report["output"][-6000:]


# --- defects shown by direct requests ---------------------------------------------------

Probe = Callable[[httpx.Client], bool]


def _first_book(client: httpx.Client) -> str:
    slug: str = client.get("/books", params={"limit": 1}).json()["books"][0]["slug"]
    return slug


def retry_after_on_429_and_503(client: httpx.Client) -> bool:
    for _ in range(5):
        wrong = {"email": CRITIC["email"], "password": "not-the-password"}
        assert client.post("/users/login", json={"user": wrong}).status_code == 401
    locked = client.post("/users/login", json={"user": CRITIC})
    paused = client.post(
        "/loans", json={"loan": {"book": _first_book(client)}}, headers=login(client, READER)
    )
    assert (locked.status_code, paused.status_code) == (429, 503)
    return all(re.fullmatch(r"[0-9]+", a.headers.get("Retry-After", "")) for a in (locked, paused))


def idempotent_replay(client: httpx.Client) -> bool:
    token = login(client, READER) | {"Idempotency-Key": "borrow-once"}
    first = client.post("/loans", json={"loan": {"book": _first_book(client)}}, headers=token)
    again = client.post("/loans", json={"loan": {"book": _first_book(client)}}, headers=token)
    assert first.status_code == 201, first.text
    return again.status_code == 201 and again.json() == first.json()


def _walk_books(client: httpx.Client) -> tuple[list[str], list[int]]:
    slugs, counts, cursor = [], [], None
    for _ in range(10):  # bounded: 3 seeded books, one a page
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get("/books", params=params).json()
        slugs += [book["slug"] for book in page["books"]]
        counts.append(page["books_count"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return slugs, counts


def pages_do_not_repeat(client: httpx.Client) -> bool:
    slugs, _ = _walk_books(client)
    return len(slugs) == len(set(slugs)) == 3


def count_is_of_every_page(client: httpx.Client) -> bool:
    _, counts = _walk_books(client)
    return counts == [3, 3, 3]


def forged_token_refused(client: httpx.Client) -> bool:
    forged = jwt.encode({"sub": "1", "exp": time.time() + 600}, "x" * 32, algorithm="HS256")
    return client.get("/user", headers={"Authorization": f"Token {forged}"}).status_code == 401


def expired_token_refused(client: httpx.Client) -> bool:
    expired = jwt.encode({"sub": "1", "iat": 1, "exp": 2}, SECRET, algorithm="HS256")
    return client.get("/user", headers={"Authorization": f"Token {expired}"}).status_code == 401


def others_cannot_change_a_book(client: httpx.Client) -> bool:
    slug, critic = _first_book(client), login(client, CRITIC)  # the seeded books are reader's
    change = client.put(f"/books/{slug}", json={"book": {"title": "Mine now"}}, headers=critic)
    remove = client.delete(f"/books/{slug}", headers=critic)
    return (change.status_code, remove.status_code) == (403, 403)


def others_cannot_read_a_loan(client: httpx.Client) -> bool:
    loan = client.post(
        "/loans", json={"loan": {"book": _first_book(client)}}, headers=login(client, READER)
    )
    where = loan.headers["Location"].removeprefix("/api")
    return client.get(where, headers=login(client, CRITIC)).status_code == 403


def no_token_no_user(client: httpx.Client) -> bool:
    return client.get("/user").status_code == 401


def closed_account_token_refused(client: httpx.Client) -> bool:
    new = {"email": "leaving@example.org", "username": "leaving", "password": "a-long-password"}
    created = client.post("/users", json={"user": new})
    assert created.status_code == 201, created.text
    token = {"Authorization": f"Token {created.json()['user']['token']}"}
    assert client.delete("/user", headers=token).status_code == 204
    return client.get("/user", headers=token).status_code == 401


BEYOND_SCHEMATHESIS: dict[str, tuple[Probe, dict[str, Any]]] = {
    # defect: (a probe that is True on a correct server, server options)
    "no-retry-after": (retry_after_on_429_and_503, {"lending_paused": True, "lockout_s": 120}),
    "ignore-idempotency-key": (idempotent_replay, {}),
    "cursor-repeats": (pages_do_not_repeat, {}),
    "count-per-page": (count_is_of_every_page, {}),
    "forged-token": (forged_token_refused, {}),
    "expired-token": (expired_token_refused, {}),
    "no-ownership": (others_cannot_change_a_book, {}),
    "loan-leak": (others_cannot_read_a_loan, {}),
    "default-user": (no_token_no_user, {}),
    "deleted-account-token": (closed_account_token_refused, {}),
}


@pytest.mark.parametrize("defect", sorted(BEYOND_SCHEMATHESIS))
def test_direct_requests_tell_the_defect_from_the_correct_server(defect: str) -> None:
    probe, options = BEYOND_SCHEMATHESIS[defect]
    verdicts = {}
    for defects in (frozenset(), frozenset({defect})):
        with (
            running_library_server(defects=defects, secret=SECRET, seed=1, **options) as base_url,
            httpx.Client(base_url=base_url) as client,
        ):
            verdicts[defects] = probe(client)
    assert verdicts == {frozenset(): True, frozenset({defect}): False}


def test_every_defect_is_shown_real_by_some_test() -> None:
    assert set(SEEN_BY_SCHEMATHESIS) | set(BEYOND_SCHEMATHESIS) == set(DEFECTS)


# --- sessions really expire; the server runs as a module; harness.yaml is true ----------


def test_tokens_expire_after_their_lifetime() -> None:
    # A token lives 2 to 3 s (exp is whole seconds, rounded up): valid at once unless the
    # first request takes 2 s, expired after 3.5 s however slow the machine.
    with running_library_server(token_ttl_s=2) as base_url, httpx.Client(base_url=base_url) as c:
        token = login(c, READER)
        assert c.get("/user", headers=token).status_code == 200
        time.sleep(3.5)
        assert c.get("/user", headers=token).status_code == 401


@pytest.fixture
def server_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.library.server", "--port", "0"],
        cwd=LIBRARY.parents[1], stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:  # uvicorn says where it listens
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                yield found.group(1)
                return
        raise AssertionError("the server never said where it listens")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_server_runs_as_a_module(server_process: str) -> None:
    answer = httpx.get(f"{server_process}/api/books", timeout=10)
    assert answer.status_code == 200
    assert answer.json()["books_count"] == 3


def test_an_unknown_defect_is_refused_with_the_known_ones() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "examples.library.server", "--defects", "create-200,nope"],
        cwd=LIBRARY.parents[1], capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown defects ['nope']; known: create-200," in done.stderr


def test_harness_configuration_matches_the_document_and_the_server() -> None:
    config = load_config(LIBRARY / "harness.yaml", env={})
    document = load_document(config.spec_location or "")
    assert document.base_path == "/api"
    for operation_id in config.roles.values():
        document.operation(operation_id)  # raises when the document has no such operation
    scheme = document.security_schemes[config.auth.scheme or ""]
    assert (scheme.type, scheme.location, scheme.parameter) == ("apiKey", "header", "Authorization")
    assert config.auth.login is not None
    login_op = document.operation(config.roles["login"])
    with running_library_server() as base_url, httpx.Client(base_url=base_url) as client:
        assert len(config.auth.identities) == 2
        for identity in config.auth.identities:
            body = json.loads(
                json.dumps(config.auth.login.body).replace("{email}", identity["email"])
                .replace("{password}", identity["password"])
            )  # fmt: skip
            answer = client.post(login_op.path, json=body)
            token_value = _pointer(answer.json(), config.auth.login.token or "")
            header = {scheme.parameter or "": f"{config.auth.prefix} {token_value}"}
            me = client.get(document.operation(config.roles["current_user"]).path, headers=header)
            assert me.json()["user"]["email"] == identity["email"]


def _pointer(document: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/"):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document
