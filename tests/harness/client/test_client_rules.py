"""The reference client against the real mock over loopback: the rules of
shared client-behaviours R1-R20 that apply to a client library, each judged
from the mock's journal (what reached the server), not from the client."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from contracts.models import CategoryId, ProductInput
from harness.client import ApiClient, AsyncApiClient, RetryEvent, RetryPolicy, errors
from harness.client.retry import RetryThrottle
from harness.control import ControlClient
from mocks.server import MockServer

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.02, max_delay_s=0.2, deadline_s=20)
KETTLE = ProductInput(name="Kettle", price=Decimal("19.99"), category_id=CategoryId.HOME)


@pytest.fixture
def client(harness_mock: MockServer) -> Iterator[ApiClient]:
    with ApiClient(harness_mock.base_url, retry=FAST, timeout=httpx.Timeout(2.0)) as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        yield api


def entries(control: ControlClient, operation: str | None = None) -> list[dict[str, Any]]:
    found = control.entries()
    return [e for e in found if operation is None or e["operation"] == operation]


def add_fault(control: ControlClient, action: dict[str, Any], **rule: Any) -> None:
    control.add_fault({"action": action, **rule})


# --- auth: R1-R5 ---------------------------------------------------------------------


def hold_the_refresh(control: ControlClient, action: dict[str, Any] | None = None) -> None:
    """Hold the first refresh for 300 ms: every other call meets its 401 meanwhile."""
    add_fault(
        control,
        action or {"type": "delay"},
        delay={"type": "fixed", "ms": 300},
        match={"operation": "refresh"},
        select={"times": 1},
    )


def test_r1_one_refresh_for_many_concurrent_401s(
    client: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.expire_tokens()
    hold_the_refresh(harness_control)
    with ThreadPoolExecutor(12) as pool:
        users = list(pool.map(lambda _: client.get_profile().id, range(12)))
    assert set(users) == {"usr_demo"}
    assert len(entries(harness_control, "refresh")) == 1
    profile = entries(harness_control, "getProfile")
    assert sum(e["token_state"] == "expired" for e in profile) == 12
    assert sum(e["token_state"] == "valid" for e in profile) == 12  # each replayed once


def test_r1_async_client_refreshes_once_too(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    async def scenario() -> int:
        async with AsyncApiClient(harness_mock.base_url, retry=FAST) as api:
            await api.login(DEMO_EMAIL, DEMO_PASSWORD)
            harness_control.expire_tokens()
            hold_the_refresh(harness_control)
            results = await asyncio.gather(*(api.get_profile() for _ in range(15)))
            return len(results)

    assert asyncio.run(scenario()) == 15
    assert len(entries(harness_control, "refresh")) == 1
    profile = entries(harness_control, "getProfile")
    assert [e["token_state"] for e in profile].count("expired") == 15


def test_r2_a_401_for_an_already_replaced_token_does_not_refresh_again(
    client: ApiClient, harness_control: ControlClient
) -> None:
    stale = client.settings.tokens.get()
    assert stale is not None
    harness_control.expire_tokens()
    # The first call's request is held back; a second call refreshes meanwhile.
    add_fault(
        harness_control,
        {"type": "delay"},
        delay={"type": "fixed", "ms": 400},
        match={"headers": {"Authorization": f"Bearer {stale.access_token}"}},
        select={"times": 1},
    )
    slow = threading.Thread(target=client.get_profile)
    slow.start()
    time.sleep(0.1)
    client.get_profile()
    slow.join(5)
    assert len(entries(harness_control, "refresh")) == 1


def test_r3_the_rotated_refresh_token_replaces_the_old_one(
    client: ApiClient, harness_control: ControlClient
) -> None:
    for _ in range(2):
        harness_control.expire_tokens()
        client.get_profile()
    first, second = (e["effect"] for e in entries(harness_control, "refresh"))
    assert second["from_refresh_token"] == first["refresh_token"]


def test_r4_one_refresh_and_one_replay_then_give_up(
    client: ApiClient, harness_control: ControlClient
) -> None:
    add_fault(
        harness_control,
        {
            "type": "status",
            "status": 401,
            "headers": {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        },
        match={"path": "/v1/users/profile"},
    )
    with pytest.raises(errors.Unauthorized):
        client.get_profile()
    assert len(entries(harness_control, "refresh")) == 1
    assert len(entries(harness_control, "getProfile")) == 2


def test_r5_a_rejected_refresh_logs_out_and_releases_waiters(
    client: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.expire_tokens()
    hold_the_refresh(harness_control, {"type": "status", "status": 401})
    add_fault(harness_control, {"type": "status", "status": 401}, match={"operation": "refresh"})
    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(lambda _: _kind_of(client.get_profile), range(5)))
    assert outcomes == ["unauthorized"] * 5
    assert client.settings.tokens.get() is None
    assert len(entries(harness_control, "refresh")) == 1
    harness_control.clear_journal()
    assert _kind_of(client.get_profile) == "unauthorized"
    (later,) = entries(harness_control, "getProfile")
    assert later["token_state"] == "missing", "no stale bearer after logout"


def test_r5_a_transient_refresh_failure_keeps_the_session(
    client: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.expire_tokens()
    add_fault(
        harness_control,
        {"type": "status", "status": 503},
        match={"operation": "refresh"},
        select={"times": 1},
    )
    assert _kind_of(client.get_profile) == "serverError"
    assert client.settings.tokens.get() is not None
    assert client.get_profile().id == "usr_demo"


def _kind_of(call: Any) -> str:
    try:
        call()
    except errors.ApiError as e:
        return e.kind
    return "ok"


# --- retries: R6-R15 ---------------------------------------------------------------


def test_r6_a_post_applied_then_failed_creates_one_product(
    client: ApiClient, harness_control: ControlClient
) -> None:
    add_fault(
        harness_control,
        {"type": "apply_then_fail", "then": "status", "status": 502},
        match={"operation": "createProduct"},
        select={"times": 1},
    )
    product = client.create_product(KETTLE)
    created = [
        e for e in entries(harness_control) if (e["effect"] or {}).get("kind") == "product_created"
    ]
    assert [e["effect"]["id"] for e in created] == [product.id]
    posts = entries(harness_control, "createProduct")
    assert [p["idempotency"] for p in posts] == ["new", "replayed"]


def test_r6_without_idempotency_keys_a_post_is_not_retried(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    with ApiClient(harness_mock.base_url, retry=FAST, auto_idempotency_keys=False) as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        add_fault(
            harness_control,
            {"type": "apply_then_fail", "then": "status", "status": 502},
            match={"operation": "createProduct"},
        )
        assert _kind_of(lambda: api.create_product(KETTLE)) == "serverError"
    assert len(entries(harness_control, "createProduct")) == 1


def test_r7_a_refused_connection_is_retried_even_for_post(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    refusals = [1]

    class RefuseFirst(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if refusals and request.method == "POST" and request.url.path == "/v1/products":
                refusals.pop()
                raise httpx.ConnectError("connection refused", request=request)
            return super().handle_request(request)

    options = {"retry": FAST, "auto_idempotency_keys": False, "transport": RefuseFirst()}
    with ApiClient(harness_mock.base_url, **options) as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        api.create_product(KETTLE)
    assert len(entries(harness_control, "createProduct")) == 1


def test_r8_the_key_is_the_same_on_every_attempt_and_new_for_each_call(
    client: ApiClient, harness_control: ControlClient
) -> None:
    for _ in range(2):  # each call's first attempt fails
        add_fault(
            harness_control,
            {"type": "status", "status": 503},
            match={"operation": "createProduct"},
            select={"times": 1},
        )
        client.create_product(KETTLE)
    keys = [e["idempotency_key"] for e in entries(harness_control, "createProduct")]
    assert len(keys) == 4
    assert keys[0] == keys[1]
    assert keys[2] == keys[3]
    assert keys[0] != keys[2]


@pytest.mark.parametrize("retry_after", ["1", "http-date"])
def test_r9_retry_after_is_honoured(
    client: ApiClient, harness_control: ControlClient, retry_after: str
) -> None:
    if retry_after == "http-date":
        moment = time.time() + 2
        retry_after = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(moment))
    add_fault(
        harness_control,
        {"type": "status", "status": 429, "retry_after": retry_after},
        match={"operation": "getProfile"},
        select={"times": 1},
    )
    client.get_profile()
    first, second = entries(harness_control, "getProfile")
    assert second["started_at"] - first["started_at"] >= 0.95


def test_r9_a_retry_after_beyond_the_cap_gives_up_at_once(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    policy = RetryPolicy(max_retry_after_s=5)
    with ApiClient(harness_mock.base_url, retry=policy) as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        add_fault(
            harness_control,
            {"type": "status", "status": 503, "retry_after": 3600},
            match={"operation": "getProfile"},
        )
        started = time.monotonic()
        assert _kind_of(api.get_profile) == "serverError"
        assert time.monotonic() - started < 1
    assert len(entries(harness_control, "getProfile")) == 1


def test_r10_r11_backoff_grows_with_jitter_and_attempts_are_bounded(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.05, max_delay_s=0.15, deadline_s=10)
    trials: list[list[float]] = []
    for _ in range(4):
        events: list[RetryEvent] = []
        with ApiClient(
            harness_mock.base_url,
            retry=policy,
            on_retry=events.append,
            throttle=RetryThrottle(max_tokens=1000),
        ) as api:
            api.login(DEMO_EMAIL, DEMO_PASSWORD)
            harness_control.clear_faults()
            add_fault(
                harness_control,
                {"type": "status", "status": 503},
                match={"operation": "getProfile"},
            )
            assert _kind_of(api.get_profile) == "serverError"
        trials.append([e.delay_s for e in events])
    for delays in trials:
        assert len(delays) == 3  # 4 attempts, 3 retries, never more
        for n, delay in enumerate(delays, start=1):
            assert 0 <= delay <= policy.backoff_cap(n)
    assert len({tuple(d) for d in trials}) == len(trials), "jitter must vary between trials"
    assert len(entries(harness_control, "getProfile")) == 16


def test_r12_retries_are_throttled_when_most_calls_fail(
    client: ApiClient, harness_control: ControlClient
) -> None:
    add_fault(harness_control, {"type": "status", "status": 503}, match={"operation": "getProduct"})
    for _ in range(20):
        _kind_of(lambda: client.get_product("prd_x"))
    attempts = len(entries(harness_control, "getProduct"))
    assert attempts < 20 * 2, f"{attempts} attempts for 20 calls: no throttling"


def test_r13_every_attempt_goes_through_the_whole_header_pipeline(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    harness_control.configure(signing=True, signing_secret="s3cret", api_key="k1")
    with ApiClient(harness_mock.base_url, retry=FAST, api_key="k1", signing_secret="s3cret") as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        harness_control.expire_tokens()
        add_fault(  # the replay after the refresh fails, and so does its first retry
            harness_control,
            {"type": "status", "status": 503},
            match={"operation": "getProfile"},
            select={"after": 1, "times": 2},
        )
        api.get_profile()
    seen = entries(harness_control)
    operations = [e["operation"] for e in seen]
    assert operations == [
        "login",
        "getProfile",
        "refresh",
        "getProfile",
        "getProfile",
        "getProfile",
    ]
    assert all(e["signature"] == "valid" and e["api_key"] == "valid" for e in seen)
    nonces = [e["nonce"] for e in seen]
    assert len(set(nonces)) == len(nonces)
    profile = entries(harness_control, "getProfile")
    assert [e["token_state"] for e in profile] == ["expired", "valid", "valid", "valid"]
    assert len({e["token_id"] for e in profile[1:]}) == 1, "every later attempt: the new token"


def test_r14_the_reported_error_is_the_last_attempts(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    add_fault(
        harness_control,
        {"type": "hang", "seconds": 2},
        match={"operation": "getProfile"},
        select={"times": 1},
    )
    add_fault(harness_control, {"type": "status", "status": 503}, match={"operation": "getProfile"})
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.01)
    with ApiClient(harness_mock.base_url, retry=policy, timeout=httpx.Timeout(0.3)) as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        with pytest.raises(errors.ServerError) as raised:
            api.get_profile()
    assert raised.value.status == 503
    assert raised.value.attempts == 2


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "badRequest"),
        (403, "forbidden"),
        (404, "notFound"),
        (409, "conflict"),
        (422, "badRequest"),
        (500, "internalServerError"),
    ],
)
def test_r15_other_4xx_are_not_retried_and_map_to_their_kind(
    client: ApiClient, harness_control: ControlClient, status: int, kind: str
) -> None:
    add_fault(
        harness_control, {"type": "status", "status": status}, match={"operation": "getProduct"}
    )
    assert _kind_of(lambda: client.get_product("prd_x")) == kind
    expected = 4 if status == 500 else 1
    assert len(entries(harness_control, "getProduct")) == expected


# --- R16-R20 -------------------------------------------------------------------------


def test_r16_secrets_never_reach_the_logs(
    harness_mock: MockServer, harness_control: ControlClient, caplog: pytest.LogCaptureFixture
) -> None:
    harness_control.configure(signing=True, signing_secret="s3cret", api_key="key-123")
    caplog.set_level(logging.DEBUG)
    with ApiClient(
        harness_mock.base_url, retry=FAST, api_key="key-123", signing_secret="s3cret"
    ) as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        add_fault(harness_control, {"type": "status", "status": 503}, select={"times": 1})
        harness_control.expire_tokens()
        api.get_profile()
        tokens = api.settings.tokens.get()
    assert tokens is not None
    text = caplog.text + repr(tokens)
    assert "retrying" in caplog.text  # logging was on and did log
    for secret in (tokens.access_token, tokens.refresh_token, "key-123", "s3cret", DEMO_PASSWORD):
        assert secret not in text
    signatures = [e["nonce"] for e in entries(harness_control)]
    assert all(n not in caplog.text for n in signatures if n)


AWKWARD_PRODUCT = (
    '{"id": "prd_1", "name": "Caf\\u00e9 \\ud83d\\ude00", "price": 20, "description": null, '
    '"image_urls": [], "created_at": "2024-05-01T10:00:00.123456+05:30", '
    '"category": {"id": "home", "name": "Home", "extra": 1}, '
    '"variants": [{"id": "v", "name": "Big", "price": 0.1234567}], "unknown_field": [1, 2]}'
)


def test_r17_json_round_trips_without_loss(
    client: ApiClient, harness_control: ControlClient
) -> None:
    add_fault(
        harness_control,
        {
            "type": "status",
            "status": 200,
            "body": AWKWARD_PRODUCT,
            "headers": {"content-type": "application/json"},
        },
        match={"operation": "getProduct"},
    )
    product = client.get_product("prd_1")
    assert product.price == Decimal(20)
    assert product.variants[0].price == Decimal("0.1234567")
    assert product.name == "Café 😀"
    assert product.created_at.utcoffset() is not None
    assert product.created_at.isoformat() == "2024-05-01T10:00:00.123456+05:30"
    out = product.model_dump(mode="json")
    assert out["price"] == 20
    assert out["variants"][0]["price"] == 0.1234567
    assert "unknown_field" not in out


def test_a_missing_required_field_is_a_clear_error(
    client: ApiClient, harness_control: ControlClient
) -> None:
    without_name = AWKWARD_PRODUCT.replace('"name": "Caf\\u00e9 \\ud83d\\ude00", ', "")
    assert '"name"' not in without_name.split('"category"')[0]
    add_fault(
        harness_control,
        {"type": "status", "status": 200, "body": without_name},
        match={"operation": "getProduct"},
    )
    with pytest.raises(errors.Unexpected, match=r"name\s+Field required"):
        client.get_product("prd_1")


@pytest.mark.parametrize("action", [{"type": "malformed"}, {"type": "empty"}])
def test_r18_malformed_bodies_are_one_clear_error(
    client: ApiClient, harness_control: ControlClient, action: dict[str, Any]
) -> None:
    add_fault(harness_control, action, match={"operation": "getProduct"})
    with pytest.raises(errors.Unexpected, match="not what the contract says"):
        client.get_product("prd_1")
    assert len(entries(harness_control, "getProduct")) == 1


def test_r18_a_truncated_body_is_a_receive_timeout_not_a_storm(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    add_fault(harness_control, {"type": "short_body"}, match={"operation": "getProfile"})
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.01)
    with ApiClient(harness_mock.base_url, retry=policy, timeout=httpx.Timeout(0.3)) as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        assert _kind_of(api.get_profile) == "receiveTimeout"
    assert len(entries(harness_control, "getProfile")) == 3


def test_r19_signatures_verify_and_nonces_never_repeat(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    harness_control.configure(signing=True, signing_secret="s3cret")
    with ApiClient(harness_mock.base_url, signing_secret="s3cret") as api:
        api.login(DEMO_EMAIL, DEMO_PASSWORD)
        api.create_product(KETTLE)
        for _ in range(300):
            api.list_products(page_size=1, category=CategoryId.BOOKS)
    seen = entries(harness_control)
    assert all(e["signature"] == "valid" for e in seen)
    assert len({e["nonce"] for e in seen}) == len(seen) == 302


def test_r20_a_cancelled_call_is_not_retried(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    add_fault(harness_control, {"type": "hang", "seconds": 0.5}, match={"operation": "getProfile"})

    async def scenario() -> None:
        async with AsyncApiClient(harness_mock.base_url, retry=FAST) as api:
            await api.login(DEMO_EMAIL, DEMO_PASSWORD)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(api.get_profile(), timeout=0.2)
            await asyncio.sleep(0.8)  # the hang ends and is journaled; a retry would show

    asyncio.run(scenario())
    assert len(entries(harness_control, "getProfile")) == 1
