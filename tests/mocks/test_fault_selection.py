"""Which requests get a fault, shown over HTTP: times, after, every Nth, a seeded
probability (the same sequence twice), expiry, the match criteria, rule order; and the
built-in scenarios on a quick run."""

from __future__ import annotations

import time
from typing import Any

import pytest
from mock_testkit import PRODUCTS, ApiClient, assert_problem, journal_entry

from harness.control import ControlClient

OK = 401  # what an unauthenticated request gets when no fault applies
FAULTED = 503
PRODUCT = f"{PRODUCTS}/prd_x"


def _rule(select: dict[str, Any] | None = None, **match: Any) -> dict[str, Any]:
    return {
        "action": {"type": "status", "status": FAULTED},
        "match": match or {"path": PRODUCTS},
        "select": select or {},
    }


def _statuses(api: ApiClient, n: int, path: str = PRODUCTS, **kwargs: Any) -> list[int]:
    return [api.get(path, **kwargs).status_code for _ in range(n)]


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        ({"times": 2}, [FAULTED, FAULTED, OK, OK, OK]),
        ({"after": 2}, [OK, OK, FAULTED, FAULTED, FAULTED]),
        ({"every": 2}, [OK, FAULTED, OK, FAULTED, OK]),
        ({"after": 1, "every": 2, "times": 1}, [OK, OK, FAULTED, OK, OK]),
    ],
    ids=["times", "after", "every", "combined"],
)
def test_counted_selection(
    api: ApiClient, harness_control: ControlClient, select: dict[str, Any], expected: list[int]
) -> None:
    harness_control.add_fault(_rule(select))
    assert _statuses(api, 5) == expected
    (rule,) = harness_control.faults()
    assert (rule["matches"], rule["hits"]) == (5, expected.count(FAULTED))


def test_every_third_is_periodic(api: ApiClient, harness_control: ControlClient) -> None:
    harness_control.add_fault(_rule({"every": 3}))
    assert _statuses(api, 9) == [OK, OK, FAULTED] * 3


def _coin_run(api: ApiClient, control: ControlClient, seed: int) -> list[int]:
    control.reset()
    control.add_fault(_rule({"probability": 0.5, "seed": seed}))
    return _statuses(api, 24)


def test_a_seeded_probability_gives_the_same_sequence_twice(
    api: ApiClient, harness_control: ControlClient
) -> None:
    first = _coin_run(api, harness_control, seed=7)
    assert _coin_run(api, harness_control, seed=7) == first
    assert set(first) == {OK, FAULTED}  # a real mix, not all or nothing
    assert 6 <= first.count(FAULTED) <= 18
    assert _coin_run(api, harness_control, seed=8) != first


def _delay_run(api: ApiClient, control: ControlClient) -> list[float]:
    control.reset()
    delay = {"type": "uniform", "min_ms": 0, "max_ms": 30}
    control.add_fault({"action": {"type": "delay"}, "delay": delay, "select": {"seed": 3}})
    _statuses(api, 5)
    return [entry["fault"]["delay_ms"] for entry in control.entries()]


def test_seeded_random_delays_are_the_same_twice(
    api: ApiClient, harness_control: ControlClient
) -> None:
    first = _delay_run(api, harness_control)
    assert len(set(first)) == 5
    assert _delay_run(api, harness_control) == first


def test_a_rule_expires(api: ApiClient, harness_control: ControlClient) -> None:
    harness_control.add_fault(_rule({"expires_after_s": 0.3}))
    assert _statuses(api, 2) == [FAULTED, FAULTED]
    time.sleep(0.35)
    assert _statuses(api, 2) == [OK, OK]
    (rule,) = harness_control.faults()
    assert (rule["matches"], rule["hits"]) == (4, 2)


# --- matching --------------------------------------------------------------------------


def test_match_on_methods(api: ApiClient, harness_control: ControlClient) -> None:
    harness_control.add_fault(_rule(methods=["post", "DELETE"], path="/v1/*"))
    assert api.get(PRODUCTS).status_code == OK
    assert api.post(PRODUCTS, json={}).status_code == FAULTED
    assert api.delete(PRODUCT).status_code == FAULTED
    assert api.put(PRODUCT, json={}).status_code == OK


@pytest.mark.parametrize(
    ("glob", "faulted", "spared"),
    [
        (f"{PRODUCTS}/*", [PRODUCT], [PRODUCTS, "/v1/users/profile"]),
        ("/v1/*", [PRODUCTS, PRODUCT, "/v1/users/profile"], []),
        ("/v1/products", [PRODUCTS, f"{PRODUCTS}?page=2"], [PRODUCT]),
        ("/v1/users/*", ["/v1/users/profile"], [PRODUCTS]),
        ("*", [PRODUCTS, "/v1/users/profile"], []),
    ],
)
def test_match_on_a_path_glob_without_the_query(
    api: ApiClient,
    harness_control: ControlClient,
    glob: str,
    faulted: list[str],
    spared: list[str],
) -> None:
    harness_control.add_fault(_rule(path=glob))
    assert [api.get(p).status_code for p in faulted] == [FAULTED] * len(faulted)
    assert [api.get(p).status_code for p in spared] == [OK] * len(spared)


def test_match_on_operation_id(api: ApiClient, harness_control: ControlClient) -> None:
    harness_control.add_fault(_rule(operation="getProduct"))
    assert api.get(PRODUCT).status_code == FAULTED
    assert api.get(PRODUCTS).status_code == OK
    assert api.delete(PRODUCT).status_code == OK  # same path, another operation
    assert journal_entry(harness_control, status=FAULTED)["operation"] == "getProduct"


def test_match_on_header_equality(api: ApiClient, harness_control: ControlClient) -> None:
    harness_control.add_fault(_rule(path="*", headers={"X-Tenant": "blue"}))
    assert api.get(PRODUCTS, headers={"X-Tenant": "blue"}).status_code == FAULTED
    assert api.get(PRODUCTS, headers={"x-tenant": "blue"}).status_code == FAULTED  # any case
    assert api.get(PRODUCTS, headers={"X-Tenant": "Blue"}).status_code == OK  # exact value
    assert api.get(PRODUCTS, headers={"X-Tenant": "green"}).status_code == OK
    assert api.get(PRODUCTS).status_code == OK


def test_the_first_matching_rule_wins(api: ApiClient, harness_control: ControlClient) -> None:
    harness_control.add_fault({"id": "first", **_rule()})
    harness_control.add_fault({"id": "second", **_rule(), "action": {"type": "status"}})
    assert _statuses(api, 2) == [FAULTED, FAULTED]
    counts = {r["id"]: (r["matches"], r["hits"]) for r in harness_control.faults()}
    assert counts == {"first": (2, 2), "second": (0, 0)}
    assert harness_control.entries()[0]["fault"] == {"rule": "first", "action": "status"}


def test_a_declining_rule_lets_the_next_apply(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.add_fault({"id": "once", **_rule({"times": 1})})
    harness_control.add_fault(
        {"id": "limit", **_rule({"every": 2}), "action": {"type": "status", "status": 429}}
    )
    assert _statuses(api, 5) == [FAULTED, OK, 429, OK, 429]
    assert [e["fault"] and e["fault"]["rule"] for e in harness_control.entries()] == [
        "once",
        None,
        "limit",
        None,
        "limit",
    ]
    counts = {r["id"]: (r["matches"], r["hits"]) for r in harness_control.faults()}
    assert counts == {"once": (5, 1), "limit": (4, 2)}


# --- built-in scenarios on a quick run ---------------------------------------------------------


def test_rate_limited_answers_429_with_retry_after(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.load_scenario("rate-limited")
    responses = [api.get(PRODUCTS) for _ in range(10)]
    assert [r.status_code for r in responses] == [OK] * 4 + [429] + [OK] * 4 + [429]
    for limited in responses[4::5]:
        assert_problem(limited, 429, "injected_fault")
        assert limited.headers["Retry-After"] == "2"
    first, second = api.post(PRODUCTS, json={}), api.post(PRODUCTS, json={})
    assert first.status_code == OK
    assert_problem(second, 429, "injected_fault")
    assert second.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_token_churn_gives_five_second_tokens(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.load_scenario("token-churn")
    tokens = api.login()
    assert tokens.expires_in == 5
    assert api.get(PRODUCTS, tokens).status_code == 200
    harness_control.advance_clock(6)
    assert_problem(api.get(PRODUCTS, tokens), 401)
    assert api.refresh(tokens.refresh_token).json()["expires_in"] == 5


def test_slow_delays_every_call_by_its_seeded_lognormal(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.load_scenario("slow")
    for _ in range(2):
        started = time.perf_counter()
        assert api.get(PRODUCTS).status_code == OK
        seconds = time.perf_counter() - started
        fault = harness_control.entries()[-1]["fault"]
        assert fault["rule"] == "slow"
        assert 0 < fault["delay_ms"] <= 3000
        assert seconds >= fault["delay_ms"] / 1000 - 0.005


@pytest.mark.parametrize(
    ("name", "ids", "access_ttl_s"),
    [
        ("flaky", ["flaky-503", "flaky-slow"], 300),
        ("timeouts", ["create-applied-then-hang", "read-hang"], 300),
        (
            "chaos",
            [
                "chaos-503",
                "chaos-429",
                "chaos-reset",
                "chaos-close",
                "chaos-malformed",
                "chaos-short",
                "chaos-applied-502",
                "chaos-drip",
                "chaos-latency",
            ],
            60,
        ),
    ],
)
def test_the_other_builtins_load(
    harness_control: ControlClient, name: str, ids: list[str], access_ttl_s: int
) -> None:
    result = harness_control.load_scenario(name)
    assert [rule["id"] for rule in result["faults"]] == ids
    assert harness_control.config()["access_ttl_s"] == access_ttl_s
    assert harness_control.health()["status"] == "ok"
