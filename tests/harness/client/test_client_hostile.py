"""Both reference clients against a hostile loopback server (hostile_server.py):
memory and time stay bounded, only ApiErrors come out, credentials stay home.

Memory is what tracemalloc saw allocated during the call (the server thread
writes one preallocated chunk over and over, so it adds almost nothing):
bounded by a few times `max_response_bytes`, where an unbounded client holds
the whole 64 MiB. Time bounds are upper bounds six times or more over what
the case takes (about 1 s for a drip under a 1 s deadline): they fail only if
this process is starved for seconds, which a second busy core does not do;
the lower bounds are deadlines, which a monotonic clock cannot pass early.
"""

from __future__ import annotations

import asyncio
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hostile_server import HostileServer, MiB

from harness.client import (
    ApiClient,
    AsyncApiClient,
    ClientOptions,
    RetryPolicy,
    RetryThrottle,
    TokenPair,
    deadlines,
    errors,
)

LIMIT = 1 * MiB
TIMEOUTS = (errors.ConnectionTimeout, errors.SendTimeout, errors.ReceiveTimeout)
ONE_TRY = RetryPolicy(max_attempts=1)
SHELLS = ["sync", "async"]


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer(giant_bytes=64 * MiB, drip_s=0.25, cap_s=20) as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[HostileServer]:
    """A second origin (another loopback port) that records what reaches it."""
    with HostileServer() as server:
        yield server


class Outcome:
    def __init__(self, result: Any, seconds: float, peak_bytes: int) -> None:
        self.result = result
        self.seconds = seconds
        self.peak_bytes = peak_bytes

    @property
    def error(self) -> errors.ApiError:
        assert isinstance(self.result, errors.ApiError), f"not an ApiError: {self.result!r}"
        return self.result


def options(**overrides: Any) -> ClientOptions:
    base: dict[str, Any] = {
        "retry": ONE_TRY,
        "max_response_bytes": LIMIT,
        "timeout": httpx.Timeout(5.0),
        "throttle": RetryThrottle(max_tokens=1e9),
    }
    return ClientOptions(**(base | overrides))


def get_profile(shell: str, url: str, opts: ClientOptions, calls: int = 1) -> Outcome:
    """`calls` profile reads one after another on one client, measured; any
    exception that is not an ApiError propagates and fails the test."""
    pair = TokenPair("stale-access", "refresh")
    traced = tracemalloc.is_tracing()
    if not traced:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.monotonic()
    result: Any
    try:
        if shell == "sync":
            with ApiClient(url, opts) as api:
                api.settings.tokens.set(pair)
                results = [_sync_one(api) for _ in range(calls)]
        else:

            async def scenario() -> list[Any]:
                async with AsyncApiClient(url, opts) as api:
                    api.settings.tokens.set(pair)
                    return [await _async_one(api) for _ in range(calls)]

            results = asyncio.run(scenario())
        result = results[0] if calls == 1 else results
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not traced:
            tracemalloc.stop()
    return Outcome(result, seconds, peak)


def _sync_one(api: ApiClient) -> Any:
    try:
        return api.get_profile()
    except errors.ApiError as e:
        return e


async def _async_one(api: AsyncApiClient) -> Any:
    try:
        return await api.get_profile()
    except errors.ApiError as e:
        return e


# --- size: max_response_bytes ------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_a_giant_body_is_refused_by_its_content_length(hostile: HostileServer, shell: str) -> None:
    outcome = get_profile(shell, hostile.url("giant"), options())
    error = outcome.error
    assert isinstance(error, errors.ResponseTooLarge)
    assert error.kind == "unexpected"
    assert error.limit == LIMIT
    assert error.status == 200
    assert "Content-Length" in error.detail
    assert outcome.peak_bytes < 2 * LIMIT, "nothing of the 64 MiB body is read"
    assert outcome.seconds < 10


@pytest.mark.parametrize("mode", ["endless", "gzip-bomb"])
@pytest.mark.parametrize("shell", SHELLS)
def test_a_body_growing_past_the_limit_is_dropped_at_the_limit(
    hostile: HostileServer, shell: str, mode: str
) -> None:
    outcome = get_profile(shell, hostile.url(mode), options())
    assert isinstance(outcome.error, errors.ResponseTooLarge)
    assert outcome.peak_bytes < 3 * LIMIT, f"{outcome.peak_bytes / MiB:.1f} MiB held"
    assert outcome.seconds < 10


@pytest.mark.parametrize("shell", SHELLS)
def test_too_large_is_not_retried(hostile: HostileServer, shell: str) -> None:
    before = len(hostile.requests("endless"))
    outcome = get_profile(shell, hostile.url("endless"), options(retry=RetryPolicy()))
    assert isinstance(outcome.error, errors.ResponseTooLarge)
    assert outcome.error.attempts == 1
    assert len(hostile.requests("endless")) == before + 1


@pytest.mark.parametrize("shell", SHELLS)
def test_a_gzip_body_within_the_limit_is_read(hostile: HostileServer, shell: str) -> None:
    outcome = get_profile(shell, hostile.url("gzip-ok"), options())
    assert getattr(outcome.result, "id", None) == "usr_1"
    assert hostile.requests("gzip-ok")[-1].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, gzip", "gzip"])
@pytest.mark.parametrize("shell", SHELLS)
def test_an_encoding_not_asked_for_or_corrupt_is_unexpected(
    hostile: HostileServer, shell: str, coding: str
) -> None:
    outcome = get_profile(shell, hostile.url(f"encoding={quote(coding)}"), options())
    assert type(outcome.error) is errors.Unexpected
    assert outcome.error.status == 200


@pytest.mark.parametrize("shell", SHELLS)
def test_a_problem_nested_too_deep_is_still_an_api_error(
    hostile: HostileServer, shell: str
) -> None:
    outcome = get_profile(shell, hostile.url("deep-json"), options())
    assert isinstance(outcome.error, errors.Unauthorized)


# --- time: the attempt deadline and the call deadline --------------------------------


@pytest.mark.parametrize("mode", ["drip", "drip-headers"])
@pytest.mark.parametrize("shell", SHELLS)
def test_a_drip_is_cut_off_at_the_attempt_deadline(
    hostile: HostileServer, shell: str, mode: str
) -> None:
    # Each byte comes well within the 5 s read timeout: only the deadline can stop it.
    outcome = get_profile(shell, hostile.url(mode), options(attempt_deadline_s=1.0))
    error = outcome.error
    assert isinstance(error, errors.ReceiveTimeout)
    assert error.detail == deadlines.DEADLINE_PASSED
    assert 0.99 <= outcome.seconds < 8


@pytest.mark.parametrize("shell", SHELLS)
def test_a_drip_slower_than_the_deadline_is_cut_at_the_deadline(
    hostile: HostileServer, shell: str
) -> None:
    # One byte every 4 s, each within the 5 s read timeout (the case): the
    # read waiting for the next byte is cut, not the first read after it.
    outcome = get_profile(shell, hostile.url("drip=4"), options(attempt_deadline_s=1.0))
    assert isinstance(outcome.error, errors.ReceiveTimeout)
    assert 0.99 <= outcome.seconds < 3


@pytest.mark.parametrize("shell", SHELLS)
def test_the_call_deadline_cuts_off_the_attempt_in_flight(
    hostile: HostileServer, shell: str
) -> None:
    policy = RetryPolicy(max_attempts=5, deadline_s=1.5)
    opts = options(retry=policy, attempt_deadline_s=None)
    outcome = get_profile(shell, hostile.url("drip"), opts)
    assert isinstance(outcome.error, errors.ReceiveTimeout)
    assert outcome.error.attempts == 1
    assert 1.49 <= outcome.seconds < 8


@pytest.mark.parametrize("shell", SHELLS)
def test_attempts_and_sleeps_fit_in_the_call_deadline(hostile: HostileServer, shell: str) -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.05, max_delay_s=0.1, deadline_s=2.0)
    before = len(hostile.requests("drip"))
    outcome = get_profile(shell, hostile.url("drip"), options(retry=policy, attempt_deadline_s=0.6))
    # The last attempt may start with so little time left that the deadline cuts
    # its connect or its write: the timeout of whichever phase it cut.
    assert isinstance(outcome.error, TIMEOUTS)
    assert outcome.error.detail == deadlines.DEADLINE_PASSED
    assert outcome.error.attempts >= 2, "a cut-off attempt is retried while time is left"
    reached = len(hostile.requests("drip")) - before
    assert (
        outcome.error.attempts - 1 <= reached <= outcome.error.attempts
    )  # the last: maybe cut early
    assert outcome.seconds < 8


# --- Retry-After ---------------------------------------------------------------------

ABSURD_RETRY_AFTER = [
    "9" * 5000,
    "1" + "0" * 400,
    "-1",
    "soon",
    "1.5",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sun, 06 Nov 1994 08:49:37 -9999",
]


@pytest.mark.parametrize("value", ABSURD_RETRY_AFTER, ids=lambda v: v[:12])
@pytest.mark.parametrize("shell", SHELLS)
def test_an_absurd_retry_after_falls_back_to_backoff(
    hostile: HostileServer, shell: str, value: str
) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)
    outcome = get_profile(shell, hostile.url(f"retry-after={quote(value)}"), options(retry=policy))
    error = outcome.error
    assert isinstance(error, errors.ServerError)
    assert error.retry_after is None
    assert error.attempts == 3, "retried on the policy's own backoff"
    assert outcome.seconds < 10


# --- redirects and the 401 storm -----------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_a_redirect_to_another_origin_is_not_followed(
    hostile: HostileServer, elsewhere: HostileServer, shell: str
) -> None:
    target = elsewhere.url("ok")
    opts = options(api_key="key-123", signing_secret="s3cret")
    outcome = get_profile(shell, hostile.url(f"redirect={quote(target, safe='')}"), opts)
    error = outcome.error
    assert type(error) is errors.Unexpected
    assert error.status == 307
    assert "not followed" in error.detail
    assert target in error.detail
    sent = hostile.requests("redirect")[-1].headers
    assert {"authorization", "x-api-key", "x-app-signature"} <= set(sent), "the test sent them"
    assert elsewhere.requests() == [], "nothing reached the other origin"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_401_storm_gets_one_refresh_and_one_replay(hostile: HostileServer, shell: str) -> None:
    # Every token is refused, every refresh succeeds: a client that refreshes per
    # 401 would loop forever. (Concurrent 401s sharing one refresh: R1's tests.)
    before = len(hostile.requests("storm"))
    policy = RetryPolicy(deadline_s=5)  # a client that loops is stopped by it, and fails
    outcome = get_profile(shell, hostile.url("storm"), options(retry=policy), calls=5)
    assert all(isinstance(r, errors.Unauthorized) for r in outcome.result)
    seen = hostile.requests("storm")[before:]
    assert [s.path for s in seen] == [
        "/v1/users/profile",
        "/v1/auth/refresh",
        "/v1/users/profile",
    ] * 5
    assert outcome.seconds < 10


@pytest.mark.parametrize("shell", SHELLS)
def test_a_401_storm_on_the_refresh_too_signs_out(hostile: HostileServer, shell: str) -> None:
    before = len(hostile.requests("storm-all"))
    outcome = get_profile(shell, hostile.url("storm-all"), options(retry=RetryPolicy()), calls=3)
    assert all(isinstance(r, errors.Unauthorized) for r in outcome.result)
    seen = hostile.requests("storm-all")[before:]
    assert [s.path for s in seen] == ["/v1/users/profile", "/v1/auth/refresh"] + [
        "/v1/users/profile"
    ] * 2
    assert not {"authorization"} & set(seen[-1].headers), "signed out: no stale bearer"


# --- the machinery the bounds rest on ----------------------------------------------


def test_the_deadline_backend_reaches_httpx_default_transports() -> None:
    # httpx has no public hook for it: this fails loudly if an upgrade moves it.
    clients = [
        httpx.Client(),
        httpx.AsyncClient(),
        httpx.Client(proxy="http://127.0.0.1:9"),  # a proxy's pool too
        httpx.Client(mounts={"http://example.test": httpx.HTTPTransport()}),
    ]
    for client in clients:
        assert deadlines.install(client)
        pools = [t._pool for t in [client._transport, *client._mounts.values()]]  # type: ignore[union-attr]
        assert all(
            isinstance(
                p._network_backend, deadlines.DeadlineBackend | deadlines.AsyncDeadlineBackend
            )
            for p in pools
        )
    mocked = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert not deadlines.install(mocked)


def test_a_transport_without_a_pool_is_still_bounded_between_chunks() -> None:
    def dripping(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            for _ in range(40):
                time.sleep(0.05)
                yield b" "

        return httpx.Response(200, content=body())

    opts = options(transport=httpx.MockTransport(dripping), attempt_deadline_s=0.5)
    outcome = get_profile("sync", "http://127.0.0.1:1", opts)
    assert isinstance(outcome.error, errors.ReceiveTimeout)
    assert outcome.seconds < 1.9


HOLD_S = 4.0


@pytest.mark.parametrize("shell", SHELLS)
def test_waiting_for_another_callers_refresh_ends_at_the_deadline(
    hostile: HostileServer, shell: str
) -> None:
    # Another caller holds the refresh lock for 4 s (its refresh hangs): this
    # call's 401 waits for it only as long as its own 1 s deadline allows.
    opts = options(retry=RetryPolicy(deadline_s=1.0))
    pair = TokenPair("stale-access", "refresh")
    started = time.monotonic()
    if shell == "sync":
        with ApiClient(hostile.url("storm"), opts) as api:
            api.settings.tokens.set(pair)
            held = threading.Event()

            def hold() -> None:
                with api._refresh_lock:
                    held.set()
                    time.sleep(HOLD_S)

            holder = threading.Thread(target=hold)
            holder.start()
            held.wait(5)
            error, kept = _sync_one(api), api.settings.tokens.get()
            holder.join()
    else:

        async def scenario() -> tuple[Any, TokenPair | None]:
            async with AsyncApiClient(hostile.url("storm"), opts) as api:
                api.settings.tokens.set(pair)
                held = asyncio.Event()

                async def hold() -> None:
                    async with api._refresh_lock:
                        held.set()
                        await asyncio.sleep(HOLD_S)

                holder = asyncio.create_task(hold())
                await held.wait()
                outcome = await _async_one(api), api.settings.tokens.get()
                await holder
                return outcome

        error, kept = asyncio.run(scenario())
    waited = time.monotonic() - started
    assert isinstance(error, errors.ReceiveTimeout), error
    assert "while a refresh was running" in error.detail
    assert kept == pair, "a timeout is transient: the session stays"
    assert waited >= 0.99
