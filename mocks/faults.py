"""Fault injection: the addons that apply the chosen rule to a flow.

Two addons share one `FaultInjector` because faults act at two moments:
- `Faults` sits before the API: it picks the rule, sleeps the delay, and
  answers instead of the API (status, empty, malformed), or drops the
  connection (hang, close, reset).
- `LateFaults` sits after the API, so the real effect has happened: it turns
  the response into a failure (apply_then_fail), stretches its body over time
  (drip) or declares more body than it sends (short_body).
Hooks stay synchronous when no rule applies; they return a coroutine only for
a flow that must wait, which mitmproxy awaits for that flow alone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Coroutine
from typing import Any

from mitmproxy import addonmanager, http

from mocks import mitm_internals
from mocks.fault_engine import RequestView, RuleSet
from mocks.fault_rules import (
    ApplyThenFailAction,
    CloseAction,
    DelayAction,
    DripAction,
    EmptyAction,
    FaultRule,
    HangAction,
    MalformedAction,
    ResetAction,
    ShortBodyAction,
    StatusAction,
    parse_header_fault,
)
from mocks.notes import RequestNote, note
from mocks.problems import ProblemError, problem_response
from mocks.state import MockState

FAULT_HEADER = "X-Harness-Fault"
_HEADER_RNG = random.Random()
_LATE_ACTIONS = (ApplyThenFailAction, DripAction, ShortBodyAction)


class FaultInjector:
    """What both fault addons share: the rules, the chosen fault per flow, the master."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.rules: RuleSet = state.faults
        self.master: Any = None

    def choose(self, flow: http.HTTPFlow, n: RequestNote) -> FaultRule | None:
        header = flow.request.headers.get(FAULT_HEADER)
        if header is not None and self.state.settings.fault_header:
            try:
                rule = parse_header_fault(header)
            except ValueError as e:
                reason = str(e).replace("\n", " ")
                raise ProblemError(400, "invalid_fault_header", f"{FAULT_HEADER}: {reason}") from e
            n.fault = {"rule": "header", "action": rule.action.type}
            return rule
        if not len(self.rules):
            return None
        view = RequestView(
            flow.request.method, _path(flow), n.operation, flow.request.headers, n.role
        )
        active = self.rules.choose(view)
        if active is None:
            return None
        n.fault = {"rule": active.id, "action": active.rule.action.type}
        n.fault_rule = active
        return active.rule


def _path(flow: http.HTTPFlow) -> str:
    return flow.request.path.partition("?")[0]


class Faults:
    def __init__(self, injector: FaultInjector) -> None:
        self._injector = injector

    def load(self, loader: addonmanager.Loader) -> None:
        self._injector.master = loader.master

    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        if flow.response or flow.error or not flow.live:
            return None
        n = note(flow)
        try:
            rule = self._injector.choose(flow, n)
        except ProblemError as problem:
            flow.response = problem.to_response()
            return None
        if rule is None:
            return None
        n.fault_action = rule.action
        delay = _sample_delay(rule, n)
        if delay is None and isinstance(rule.action, (DelayAction, *_LATE_ACTIONS)):
            return None
        return self._apply(flow, rule, delay or 0.0)

    async def _apply(self, flow: http.HTTPFlow, rule: FaultRule, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if not flow.live:
            return
        action = rule.action
        if isinstance(action, StatusAction):
            flow.response = _status_response(action)
        elif isinstance(action, EmptyAction):
            flow.response = http.Response.make(
                action.status, b"", {"content-type": "application/json"}
            )
        elif isinstance(action, MalformedAction):
            flow.response = http.Response.make(
                action.status, action.body.encode(), {"content-type": "application/json"}
            )
        elif isinstance(action, HangAction):
            await _hang_then_close(flow, action.seconds)
        elif isinstance(action, CloseAction):
            flow.kill()
        elif isinstance(action, ResetAction):
            _reset(self._injector.master, flow)


class LateFaults:
    def __init__(self, injector: FaultInjector) -> None:
        self._injector = injector

    def response(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        action = note(flow).fault_action
        if not isinstance(action, _LATE_ACTIONS) or flow.response is None or not flow.live:
            return None
        if isinstance(action, ShortBodyAction):
            declared = len(flow.response.raw_content or b"") + action.missing_bytes
            flow.response.headers["content-length"] = str(declared)
            return None
        if isinstance(action, ApplyThenFailAction):
            return self._fail_after_effect(flow, action)
        return _drip(self._injector.master, flow, action)

    async def _fail_after_effect(self, flow: http.HTTPFlow, action: ApplyThenFailAction) -> None:
        if action.then == "status":
            flow.response = problem_response(
                action.status,
                "injected_fault",
                "Injected failure after the request took effect.",
            )
        else:
            note(flow).dropped = True  # the effect happened; the client gets nothing
            if action.then == "hang":
                await _hang_then_close(flow, action.hang_s)
            elif action.then == "close":
                flow.kill()
            else:
                _reset(self._injector.master, flow)


def _sample_delay(rule: FaultRule, n: RequestNote) -> float | None:
    if rule.delay is None:
        return None
    # Rules draw from their own seeded generator; header faults are ad hoc.
    rng = n.fault_rule.delays if n.fault_rule is not None else _HEADER_RNG
    seconds = rule.delay.sample(rng)
    if n.fault is not None:
        n.fault["delay_ms"] = round(seconds * 1000, 3)
    return seconds


def _status_response(action: StatusAction) -> http.Response:
    # Build on mitmproxy's case-insensitive headers: the rule's own win over defaults.
    headers = http.Headers()
    for name, value in action.headers.items():
        headers[name] = value
    if action.retry_after is not None and "retry-after" not in headers:
        headers["Retry-After"] = str(action.retry_after)
    if action.body is None:
        if action.status >= 400:
            response = problem_response(
                action.status, "injected_fault", "Injected by a fault rule."
            )
        else:
            response = http.Response.make(action.status, b"")
    elif isinstance(action.body, str):
        response = http.Response.make(action.status, action.body.encode(), {})
        response.headers["content-type"] = "text/plain; charset=utf-8"
    else:
        response = http.Response.make(action.status, json.dumps(action.body).encode(), {})
        response.headers["content-type"] = "application/json"
    for name, value in headers.items(multi=True):
        response.headers[name] = value
    return response


async def _hang_then_close(flow: http.HTTPFlow, seconds: float) -> None:
    await asyncio.sleep(seconds)
    if flow.killable:
        flow.kill()


def _reset(master: Any, flow: http.HTTPFlow) -> None:
    mitm_internals.reset_client(master, flow)
    if flow.killable:
        flow.kill()


async def _drip(master: Any, flow: http.HTTPFlow, action: DripAction) -> None:
    """Write the response ourselves, body in pieces; HTTP/1 only, else delay it whole."""
    response = flow.response
    assert response is not None
    writer = mitm_internals.client_writer(master, flow)
    if writer is None or not flow.request.http_version.startswith("HTTP/1"):
        await asyncio.sleep(action.duration_ms / 1000)
        return
    body = response.raw_content or b""
    head = [f"HTTP/1.1 {response.status_code} {response.reason or 'OK'}"]
    for name, value in response.headers.items(multi=True):
        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
            head.append(f"{name}: {value}")
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    writer.write("\r\n".join(head).encode("latin-1"))
    # Exactly `pieces` writes, each after an equal pause: the body takes the duration.
    pieces = max(1, min(action.chunks, len(body)))
    bounds = [len(body) * i // pieces for i in range(pieces + 1)]
    pause = action.duration_ms / 1000 / pieces
    for start, end in itertools.pairwise(bounds):
        await asyncio.sleep(pause)
        if writer.is_closing():
            break
        writer.write(body[start:end])
    note(flow).sent_by_hand = True
    # The response went out by hand; stop mitmproxy from sending it again.
    if flow.killable:
        flow.kill()
