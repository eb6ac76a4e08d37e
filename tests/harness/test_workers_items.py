"""A document's items across worker processes (`harness mock --spec ... --workers 2`):
created on one worker, read, listed, changed and deleted on the other; ids unique
and no write lost when both workers create and update at once. The document is
RealWorld's (tests/data/realworld): articles keyed by a slug made from the title,
so two creates with one title race for one id."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from workers_testkit import CONTROL, Workers, on_each_worker, workers

REALWORLD = Path(__file__).parents[1] / "data" / "realworld" / "harness.yaml"
READER = {"email": "reader@example.com", "password": "reader-password"}


@pytest.fixture(scope="module")
def realworld() -> Iterator[Workers]:
    with workers("--config", str(REALWORLD)) as running:
        yield running


@pytest.fixture
def per_worker(realworld: Workers) -> Iterator[list[list[httpx.Client]]]:
    """Two logged-in clients on each worker, after a reset of the whole mock."""
    found = on_each_worker(realworld.base_url, 2, per_worker=2)
    groups = list(found.values())
    groups[0][0].post(CONTROL + "/reset").raise_for_status()
    for group in groups:
        for client in group:
            _log_in(client)
    yield groups
    for group in groups:
        for client in group:
            client.close()


def _log_in(client: httpx.Client) -> None:
    login = client.post("/api/users/login", json={"user": READER})
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = "Token " + login.json()["user"]["token"]


def _count(client: httpx.Client) -> int:
    count: int = client.get("/api/articles").json()["articlesCount"]
    return count


def _article(title: str, body: str) -> dict[str, Any]:
    return {"article": {"title": title, "description": "d", "body": body, "tagList": []}}


def test_an_item_made_on_one_worker_is_read_listed_changed_and_deleted_on_the_other(
    per_worker: list[list[httpx.Client]],
) -> None:
    first, second = per_worker[0][0], per_worker[1][0]
    before = _count(second)
    created = first.post("/api/articles", json=_article("Across workers", "one"))
    assert created.status_code == 201, created.text
    slug = created.json()["article"]["slug"]
    assert second.get(f"/api/articles/{slug}").json()["article"]["body"] == "one"
    assert _count(second) == before + 1
    listed = second.get("/api/articles", params={"limit": 100}).json()["articles"]
    assert slug in [a["slug"] for a in listed]
    changed = second.put(f"/api/articles/{slug}", json={"article": {"body": "two"}})
    assert changed.status_code == 200, changed.text
    assert first.get(f"/api/articles/{slug}").json()["article"]["body"] == "two"  # no stale cache
    assert first.delete(f"/api/articles/{slug}").status_code == 204
    # GetArticle declares no 404: an unknown slug reads as a generated article.
    assert second.get(f"/api/articles/{slug}").json()["article"]["body"] != "two"
    listed = second.get("/api/articles", params={"limit": 100}).json()["articles"]
    assert slug not in [a["slug"] for a in listed]
    assert _count(first) == _count(second) == before


def test_a_reset_on_one_worker_reseeds_the_items_of_both(
    per_worker: list[list[httpx.Client]],
) -> None:
    first, second = per_worker[0][0], per_worker[1][0]
    before = _count(first)
    assert first.post("/api/articles", json=_article("Gone after reset", "x")).status_code == 201
    assert _count(second) == before + 1
    second.post(CONTROL + "/reset").raise_for_status()
    assert _count(first) == _count(second) == before
    listed = first.get("/api/articles", params={"limit": 100}).json()["articles"]
    assert "gone-after-reset" not in [a["slug"] for a in listed]


def _race(clients: list[httpx.Client], send: Any) -> None:
    start = threading.Barrier(len(clients))
    errors: list[BaseException] = []

    def run(index: int, client: httpx.Client) -> None:
        try:
            start.wait(timeout=30)
            send(index, client)
        except BaseException as e:  # reported below: a thread's failure must fail the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


def test_concurrent_creates_on_both_workers_get_distinct_ids_and_none_is_lost(
    per_worker: list[list[httpx.Client]],
) -> None:
    clients = [c for group in per_worker for c in group]
    before = _count(clients[0])
    made: dict[str, str] = {}  # slug -> the body sent
    per_client = 15

    def send(index: int, client: httpx.Client) -> None:
        for n in range(per_client):
            body = f"client {index} article {n}"
            answer = client.post("/api/articles", json=_article("Same title", body))
            assert answer.status_code == 201, answer.text
            made.setdefault(answer.json()["article"]["slug"], body)  # a repeat: a shared id

    _race(clients, send)
    assert len(made) == len(clients) * per_client  # every id handed out once
    for client in (per_worker[0][0], per_worker[1][0]):
        assert _count(client) == before + len(made)
        listed = client.get("/api/articles", params={"limit": 1000}).json()["articles"]
        bodies = {a["slug"]: a["body"] for a in listed}
        assert {slug: bodies.get(slug) for slug in made} == made  # each item is its own


def test_concurrent_updates_of_one_item_from_both_workers_lose_no_write(
    per_worker: list[list[httpx.Client]],
) -> None:
    """Each PUT sends one field; the mock reads the item, overlays it and writes it back.
    Two writers on two workers change two fields of one item: interleaved without one
    transaction, a write would put back the other writer's field as it was before."""
    writers = [per_worker[0][0], per_worker[1][0]]
    fields = ["body", "description"]
    created = writers[0].post("/api/articles", json=_article("Contended", "start"))
    slug = created.json()["article"]["slug"]

    def send(index: int, client: httpx.Client) -> None:
        field = fields[index]
        for n in range(25):
            value = f"{field} {n}"
            answer = client.put(f"/api/articles/{slug}", json={"article": {field: value}})
            assert answer.status_code == 200, answer.text
            # Nobody else writes this field: it must read as sent until the next PUT.
            read = client.get(f"/api/articles/{slug}").json()["article"][field]
            assert read == value, (field, n, read)

    _race(writers, send)
    final = writers[1].get(f"/api/articles/{slug}").json()["article"]
    assert (final["body"], final["description"]) == ("body 24", "description 24")


def test_resets_on_one_worker_while_the_other_creates_leave_journal_and_items_agreeing(
    per_worker: list[list[httpx.Client]],
) -> None:
    """Every item of the current run was created by a request the journal records, and
    every create it records made an item: a create racing a reset is wholly of one run."""
    resetter, creator = per_worker[0][0], per_worker[1][0]
    seeded = {
        a["slug"] for a in creator.get("/api/articles", params={"limit": 1000}).json()["articles"]
    }

    created: list[int] = []

    def send(index: int, client: httpx.Client) -> None:
        for n in range(40):
            if index == 0:
                if n < 5:  # five resets, spread over the creates
                    deadline = time.monotonic() + 30
                    while len(created) < 7 * n + 3 and time.monotonic() < deadline:
                        time.sleep(0.002)
                    client.post(CONTROL + "/reset").raise_for_status()
            else:
                answer = client.post("/api/articles", json=_article(f"Race {n}", "b"))
                assert answer.status_code in (201, 401), answer.text
                created.append(answer.status_code)
                if answer.status_code == 401:  # a reset ended the session: log in again
                    _log_in(client)

    _race([resetter, creator], send)
    listed = creator.get("/api/articles", params={"limit": 1000}).json()["articles"]
    items = {a["slug"] for a in listed} - seeded
    entries = resetter.get(CONTROL + "/journal").json()["entries"]
    journaled = {
        e["effect"]["id"]
        for e in entries
        if (e.get("effect") or {}).get("kind") == "article_created"
    }
    assert items == journaled
    assert items  # creates landed in the run that remains, after the last reset
