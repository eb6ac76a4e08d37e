"""The demo API served by the spec engine: its document (contracts/openapi.yaml) and
its configuration (contracts/harness.yaml) alone, no demo code. The contract suite
that checks real servers passes on it, and fails its paging check when the demo's
behaviours are switched off; the demo's own behaviours (Link and X-Total-Count,
Idempotency-Key on createProduct, owners, strict query names, problem details)
hold as tests/mocks/test_products_api.py states them (that file runs on the default
mock, which is this engine too)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from mock_testkit import parse_links, product_input

from contracts.config import DEMO_CONFIG_PATH, HarnessConfig, load_config
from contracts.suite import SuiteOptions, SuiteReport, run_suite
from mocks.server import MockServer


def _demo(behaviours: list[str] | None = None) -> HarnessConfig:
    config = load_config(DEMO_CONFIG_PATH, env={})
    return config if behaviours is None else config.updated({"mock.behaviours": behaviours})


@pytest.fixture(scope="module")
def demo() -> Iterator[MockServer]:
    config = _demo()
    with MockServer(spec=config.spec_location, config=config) as mock:
        yield mock


def _suite(mock: MockServer, config: HarnessConfig) -> SuiteReport:
    options = SuiteOptions(
        base_url=mock.base_url, config=config, max_examples=5, seed=3, deterministic=True
    )
    return run_suite(options)


def test_the_contract_suite_passes_on_the_demo_served_from_its_document(
    demo: MockServer,
) -> None:
    report = _suite(demo, _demo())
    assert report.passed, [(f.operation, f.check, f.message[:200]) for f in report.findings]
    assert "pagination_headers" not in report.skipped_checks  # judged, and passed
    walked = {s.what for s in report.lifecycle if s.passed and not s.skipped}
    assert "sign in" in walked


def test_without_its_behaviours_the_demo_breaks_its_own_paging_promise() -> None:
    """The document declares X-Total-Count and Link; without `total_count` and
    `link_pagination` the engine answers generated values the suite refutes."""
    config = _demo([])
    with MockServer(spec=config.spec_location, config=config) as mock:
        report = _suite(mock, config)
    assert not report.passed
    assert any(f.check == "pagination_headers" for f in report.findings), [
        (f.operation, f.check) for f in report.findings
    ]


def _register(client: httpx.Client) -> dict[str, str]:
    body = {"email": f"{uuid.uuid4().hex[:10]}@example.com", "password": "pw-12345678"}
    answer = client.post("/v1/auth/register", json=body | {"name": "Tester"})
    assert answer.status_code == 201, answer.text
    return {"Authorization": "Bearer " + answer.json()["access_token"]}


@pytest.fixture
def client(demo: MockServer) -> Iterator[httpx.Client]:
    httpx.post(demo.control_url + "/reset").raise_for_status()
    with httpx.Client(base_url=demo.base_url, timeout=10.0) as c:
        yield c


def test_listings_link_pages_and_count_them_as_the_demo_does(client: httpx.Client) -> None:
    auth = _register(client)
    first = client.get("/v1/products", params={"page": 1, "page_size": 5}, headers=auth)
    assert first.status_code == 200, first.text
    total = int(first.headers["X-Total-Count"])
    links = parse_links(first)
    assert set(links) == {"first", "next", "last"}
    assert links["next"] == {"page": "2", "page_size": "5"}
    assert links["last"]["page"] == str(-(-total // 5))
    second = client.get("/v1/products", params=links["next"], headers=auth)
    assert set(parse_links(second)) == {"first", "prev", "next", "last"}
    assert {p["id"] for p in first.json()}.isdisjoint({p["id"] for p in second.json()})


def test_an_idempotency_key_replays_the_created_product(client: httpx.Client) -> None:
    auth = _register(client) | {"Idempotency-Key": "demo-key-1"}
    first = client.post("/v1/products", json=product_input(), headers=auth)
    replay = client.post("/v1/products", json=product_input(), headers=auth)
    other = client.post("/v1/products", json=product_input(name="Other"), headers=auth)
    assert first.status_code == replay.status_code == 201, first.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"


def test_only_its_owner_changes_a_product_but_anyone_signed_in_reads_it(
    client: httpx.Client,
) -> None:
    owner, other = _register(client), _register(client)
    created = client.post("/v1/products", json=product_input(), headers=owner)
    assert created.status_code == 201, created.text
    path = created.headers["Location"]
    assert client.get(path, headers=other).status_code == 200  # getProduct is shared
    refused = client.delete(path, headers=other)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "not_product_owner"  # the demo's own code
    assert client.put(path, json=product_input(), headers=other).status_code == 403
    assert client.delete(path, headers=owner).status_code == 204
    gone = client.get(path, headers=owner)
    assert gone.status_code == 404
    assert gone.json()["code"] == "product_not_found"


def test_a_mistyped_query_parameter_is_a_problem_naming_it(client: httpx.Client) -> None:
    auth = _register(client)
    typo = client.get("/v1/products", params={"pagesize": 5}, headers=auth)
    assert typo.status_code == 400
    assert typo.headers["content-type"] == "application/problem+json"
    assert "pagesize" in typo.json()["detail"]


def test_a_category_filters_by_the_products_category_id(client: httpx.Client) -> None:
    auth = _register(client)
    everything = [
        product
        for page in (1, 2, 3)  # the 300 seeded products, 100 a page
        for product in client.get(
            "/v1/products", params={"page": page, "page_size": 100}, headers=auth
        ).json()
    ]
    category = everything[0]["category"]["id"]
    expected = [p["id"] for p in everything if p["category"]["id"] == category]
    assert 0 < len(expected) <= 100
    page = client.get("/v1/products", params={"page_size": 100, "category": category}, headers=auth)
    assert page.status_code == 200, page.text
    assert [p["id"] for p in page.json()] == expected
    assert int(page.headers["X-Total-Count"]) == len(expected)
    assert all(link.get("category") == category for link in parse_links(page).values())


def test_the_demo_account_from_the_configuration_signs_in_and_reads_its_profile(
    client: httpx.Client,
) -> None:
    """mock.accounts seeds it; the answers hold what the document says and nothing
    more: no e-mail in the token pair, no token in the profile."""
    login = client.post(
        "/v1/auth/login", json={"email": "demo@example.com", "password": "demo-password"}
    )
    assert login.status_code == 200, login.text
    assert set(login.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    auth = {"Authorization": "Bearer " + login.json()["access_token"]}
    profile = client.get("/v1/users/profile", headers=auth)
    assert profile.status_code == 200, profile.text
    assert profile.json()["id"] == "usr_demo"
    assert set(profile.json()) == {"id", "email", "name", "created_at"}
    wrong = client.post(
        "/v1/auth/login", json={"email": "demo@example.com", "password": "not-the-password"}
    )
    assert wrong.status_code == 401
