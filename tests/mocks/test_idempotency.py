"""Idempotency-Key on POST /v1/products: over HTTP, and IdempotencyStore on its own
(the in-flight 409 cannot be provoked over HTTP without fault injection)."""

from __future__ import annotations

import httpx
import pytest
from mitmproxy import http
from mock_testkit import PRODUCTS, ApiClient, Tokens, assert_problem, product_input

from harness.control import ControlClient
from mocks.clock import VirtualClock
from mocks.idempotency import KEY_TTL_S, MAX_KEY_LENGTH, IdempotencyStore
from mocks.problems import ProblemError


def _post(api: ApiClient, auth: Tokens, key: str | None, **overrides: object) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return api.post(PRODUCTS, auth, json=product_input(**overrides), headers=headers)


# --- over HTTP --------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_response(api: ApiClient, demo: Tokens) -> None:
    total = api.total(demo)
    first = _post(api, demo, "key-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = _post(api, demo, "key-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert api.total(demo) == total + 1


def test_replay_works_from_another_session_of_the_same_user(api: ApiClient, demo: Tokens) -> None:
    first = _post(api, demo, "key-1")
    again = _post(api, api.login(), "key-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_same_key_with_another_body_is_a_422(api: ApiClient, demo: Tokens) -> None:
    total = api.total(demo)
    assert _post(api, demo, "key-1").status_code == 201
    response = _post(api, demo, "key-1", price=20)
    assert_problem(response, 422, "idempotency_key_reused")
    assert api.total(demo) == total + 1


def test_keys_are_scoped_per_user(api: ApiClient, demo: Tokens) -> None:
    other = api.register("other@example.com")
    total = api.total(demo)
    mine = _post(api, demo, "shared-key")
    theirs = _post(api, other, "shared-key")
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert api.total(demo) == total + 2


def test_without_a_key_every_post_creates(api: ApiClient, demo: Tokens) -> None:
    total = api.total(demo)
    ids = {_post(api, demo, None).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert api.total(demo) == total + 3


def test_different_keys_create_different_products(api: ApiClient, demo: Tokens) -> None:
    assert _post(api, demo, "a").json()["id"] != _post(api, demo, "b").json()["id"]


@pytest.mark.parametrize("key", ["", "k" * (MAX_KEY_LENGTH + 1)])
def test_an_empty_or_overlong_key_is_a_400(api: ApiClient, demo: Tokens, key: str) -> None:
    total = api.total(demo)
    assert_problem(_post(api, demo, key), 400, "invalid_idempotency_key")
    assert api.total(demo) == total


def test_a_key_of_the_longest_allowed_length_works(api: ApiClient, demo: Tokens) -> None:
    key = "k" * MAX_KEY_LENGTH
    assert _post(api, demo, key).status_code == 201
    assert _post(api, demo, key).headers["Idempotent-Replayed"] == "true"


def test_keys_are_forgotten_after_a_day_of_virtual_time(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    first = _post(api, demo, "daily")
    harness_control.advance_clock(KEY_TTL_S + 1)
    fresh = api.login()  # the first access token expired meanwhile
    again = _post(api, fresh, "daily", price=3)
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]


def test_reset_forgets_keys(api: ApiClient, harness_control: ControlClient) -> None:
    first = _post(api, api.login(), "k")
    harness_control.reset()
    again = _post(api, api.login(), "k", price=1)
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["price"] == 1
    assert first.json()["price"] == 19.99


def test_the_key_is_ignored_by_other_operations(api: ApiClient, demo: Tokens) -> None:
    product_id = _post(api, demo, None).json()["id"]
    headers = {"Idempotency-Key": "put-key"}
    for price in (1, 2):
        body = product_input(price=price)
        response = api.put(f"{PRODUCTS}/{product_id}", demo, json=body, headers=headers)
        assert response.status_code == 200
        assert response.json()["price"] == price
        assert "Idempotent-Replayed" not in response.headers


# --- IdempotencyStore ---------------------------------------------------------------


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store(clock: VirtualClock) -> IdempotencyStore:
    return IdempotencyStore(clock)


def _created() -> http.Response:
    return http.Response.make(201, b'{"id": "prd_1"}', {"Location": "/v1/products/prd_1"})


def test_begin_twice_before_finish_is_a_409(store: IdempotencyStore) -> None:
    assert store.begin("usr", "k", "fp") is None
    with pytest.raises(ProblemError) as caught:
        store.begin("usr", "k", "fp")
    assert (caught.value.status, caught.value.code) == (409, "idempotency_key_in_use")


def test_in_flight_with_another_body_is_still_a_422(store: IdempotencyStore) -> None:
    store.begin("usr", "k", "fp")
    with pytest.raises(ProblemError) as caught:
        store.begin("usr", "k", "other")
    assert (caught.value.status, caught.value.code) == (422, "idempotency_key_reused")


def test_abandon_frees_the_key(store: IdempotencyStore) -> None:
    store.begin("usr", "k", "fp")
    store.abandon("usr", "k")
    assert store.begin("usr", "k", "another body") is None


def test_abandon_does_not_drop_a_finished_key(store: IdempotencyStore) -> None:
    store.begin("usr", "k", "fp")
    store.finish("usr", "k", _created())
    store.abandon("usr", "k")
    replay = store.begin("usr", "k", "fp")
    assert replay is not None
    assert replay.status_code == 201


def test_finish_stores_a_copy_and_replays_are_marked(store: IdempotencyStore) -> None:
    store.begin("usr", "k", "fp")
    original = _created()
    store.finish("usr", "k", original)
    original.status_code = 500  # later changes to the sent response do not leak in
    first = store.begin("usr", "k", "fp")
    second = store.begin("usr", "k", "fp")
    assert first is not None
    assert second is not None
    assert first.status_code == second.status_code == 201
    assert first.content == b'{"id": "prd_1"}'
    assert first.headers["Location"] == "/v1/products/prd_1"
    assert first.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in original.headers


def test_finish_keeps_the_first_response(store: IdempotencyStore) -> None:
    store.begin("usr", "k", "fp")
    store.finish("usr", "k", _created())
    store.finish("usr", "k", http.Response.make(500))
    replay = store.begin("usr", "k", "fp")
    assert replay is not None
    assert replay.status_code == 201


def test_scopes_do_not_share_keys(store: IdempotencyStore) -> None:
    store.begin("alice", "k", "fp")
    assert store.begin("bob", "k", "fp") is None


def test_keys_expire_after_the_ttl(store: IdempotencyStore, clock: VirtualClock) -> None:
    store.begin("usr", "k", "fp")
    store.finish("usr", "k", _created())
    clock.advance(KEY_TTL_S - 1)
    assert store.begin("usr", "k", "fp") is not None
    clock.advance(1)
    assert store.begin("usr", "k", "other body") is None


def test_clear_forgets_everything(store: IdempotencyStore) -> None:
    store.begin("usr", "k", "fp")
    store.clear()
    assert store.begin("usr", "k", "fp") is None
