"""The engine's bounds, driven without sockets: a fake clock and a fake shell.

The shell's side of the bargain (an attempt never outlives `Send.timeout_s`)
is proven over sockets in test_client_hostile.py; here the engine's side: it
never plans an attempt or a sleep past the call's deadline, and whatever a
response carries, only an ApiError comes out.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.client import calls, errors
from harness.client.engine import (
    Failure,
    Flow,
    Refresh,
    RefreshOutcome,
    Send,
    Settings,
    Sleep,
    refresh_flow,
    run_call,
)
from harness.client.options import ClientOptions
from harness.client.retry import Phase, RetryPolicy, RetryThrottle
from harness.client.tokens import InMemoryTokenStore, TokenPair


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def engine_settings(clock: Clock, policy: RetryPolicy, **kw: Any) -> Settings:
    return Settings(
        base_url="http://127.0.0.1:1",
        tokens=InMemoryTokenStore(TokenPair("access", "refresh")),
        policy=policy,
        throttle=RetryThrottle(max_tokens=1e9),
        monotonic=clock,
        rng=random.Random(7),
        **kw,
    )


def drive(flow: Flow, clock: Clock, answer: Callable[[Send], tuple[float, Any]]) -> list[Any]:
    """Run a flow to its end: `answer(send)` says how long the attempt took and what
    came back. Returns the commands seen, then the outcome (value or ApiError)."""
    seen: list[Any] = []
    result: Any = None
    while True:
        try:
            command = flow.send(result)
        except StopIteration as done:
            return [*seen, done.value]
        except errors.ApiError as e:
            return [*seen, e]
        seen.append((clock.now, command))
        if isinstance(command, Send):
            took, result = answer(command)
            clock.now += took
        elif isinstance(command, Sleep):
            clock.now += command.seconds
            result = None
        else:
            raise AssertionError(f"unexpected {command}")


def timed_out(send: Send) -> Failure:
    return Failure(Phase.RECEIVE, errors.ReceiveTimeout("the attempt's deadline passed"))


@settings(max_examples=300, deadline=None)
@given(
    deadline=st.floats(0.05, 30),
    attempt_deadline=st.none() | st.floats(0.01, 30),
    max_attempts=st.integers(1, 20),
    base=st.floats(0, 2),
    durations=st.lists(st.floats(0, 1), min_size=20, max_size=20),
)
def test_no_attempt_or_sleep_is_planned_past_the_call_deadline(
    deadline: float,
    attempt_deadline: float | None,
    max_attempts: int,
    base: float,
    durations: list[float],
) -> None:
    clock = Clock()
    policy = RetryPolicy(
        max_attempts=max_attempts, base_delay_s=base, max_delay_s=max(base, 2), deadline_s=deadline
    )
    config = engine_settings(clock, policy, attempt_deadline_s=attempt_deadline)
    attempts = iter(durations)

    def answer(send: Send) -> tuple[float, Any]:
        assert send.timeout_s is not None
        # the shell cuts an attempt at its deadline: it takes at most timeout_s
        return min(next(attempts) * 2 * send.timeout_s, send.timeout_s), timed_out(send)

    *commands, outcome = drive(run_call(calls.get_profile(), config), clock, answer)
    assert isinstance(outcome, errors.ReceiveTimeout)
    for at, command in commands:
        if isinstance(command, Send):
            assert command.timeout_s is not None
            assert at + command.timeout_s <= deadline + 1e-9
            if attempt_deadline is not None:
                assert command.timeout_s <= attempt_deadline
        else:
            assert at + command.seconds <= deadline + 1e-9
    assert clock.now <= deadline + 1e-9
    assert sum(isinstance(c, Send) for _, c in commands) <= max_attempts


def test_a_sleep_that_would_pass_the_deadline_is_not_taken() -> None:
    clock = Clock()
    config = engine_settings(clock, RetryPolicy(deadline_s=1.0))
    busy = httpx.Response(503, headers={"Retry-After": "2"})
    *commands, outcome = drive(
        run_call(calls.get_profile(), config), clock, lambda send: (0.01, busy)
    )
    assert isinstance(outcome, errors.ServerError)
    assert [type(c) for _, c in commands] == [Send]


def test_a_refresh_gets_what_is_left_of_the_call_and_a_late_replay_is_not_sent() -> None:
    clock = Clock()
    config = engine_settings(clock, RetryPolicy(deadline_s=5.0))
    expired = httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    flow = run_call(calls.get_profile(), config)
    first = flow.send(None)
    assert isinstance(first, Send)
    clock.now = 2.0
    refresh = flow.send(expired)
    assert isinstance(refresh, Refresh)
    assert refresh.budget_s == pytest.approx(3.0)
    clock.now = 5.5  # the refresh used up the call
    with pytest.raises(errors.ReceiveTimeout, match="deadline passed") as raised:
        flow.send(RefreshOutcome(True))
    assert raised.value.attempts == 1


def test_a_refresh_within_a_budget_plans_nothing_past_it() -> None:
    clock = Clock()
    config = engine_settings(clock, RetryPolicy(deadline_s=30.0, base_delay_s=0.5))
    *commands, outcome = drive(
        refresh_flow(config, "access", budget_s=1.0), clock, lambda send: (0.4, timed_out(send))
    )
    assert isinstance(outcome, RefreshOutcome)
    assert not outcome.refreshed
    assert config.tokens.get() is not None, "a timeout is transient: the session stays"
    for at, command in commands:
        span = command.timeout_s if isinstance(command, Send) else command.seconds
        assert at + span <= 1.0 + 1e-9


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)


@settings(max_examples=300, deadline=None)
@given(
    retry_after=st.one_of(
        HEADER_TEXT,
        st.text("0123456789", min_size=1, max_size=6000),
        st.sampled_from(["Fri, 31 Dec 9999 23:59:59 GMT", "-1", "1e400", "Mon, 32 Foo 2024"]),
    ),
    status=st.sampled_from([429, 503]),
)
def test_any_retry_after_ends_in_an_api_error(retry_after: str, status: int) -> None:
    clock = Clock()
    config = engine_settings(clock, RetryPolicy(max_attempts=3, base_delay_s=0.01))
    answer = httpx.Response(status, headers={"Retry-After": retry_after})
    outcome = drive(run_call(calls.get_profile(), config), clock, lambda s: (0, answer))[-1]
    assert isinstance(outcome, errors.ApiError)
    assert outcome.status == status


@pytest.mark.parametrize(
    "options",
    [
        {"max_response_bytes": 0},
        {"max_response_bytes": 1.5},
        {"max_response_bytes": True},
        {"attempt_deadline_s": 0},
        {"attempt_deadline_s": -1.0},
    ],
)
def test_bad_bounds_are_refused_with_the_reason(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ClientOptions(**options)
