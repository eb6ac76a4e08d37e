"""The control API under /__harness/: reset, journal, clock, tokens, config,
fault rules and scenarios.

It shares the port with the API but is never part of the contract, and its
calls are not journaled. Every call passes the gate in `control_access.py`
first (Host, Origin, control token, JSON bodies). Secrets never leave: the
config it shows says whether each is set, not what it is. Bad input gets a
400 problem with the reason.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from mitmproxy import addonmanager, http
from pydantic import ValidationError

from mocks import control_access
from mocks.control_access import ControlAccess
from mocks.fault_rules import FaultRule
from mocks.har import har_document
from mocks.notes import note
from mocks.problems import ProblemError
from mocks.routing import Router
from mocks.scenarios import ScenarioError, load_builtin, scenario_from_data
from mocks.settings import MockSettings, Settings
from mocks.state import MockState
from mocks.wire import empty_response, json_response, path_only, request_body

CONTROL_PREFIX = "/__harness"
VERSION = "0.1.0"

Handler = Callable[[http.HTTPFlow, dict[str, str]], http.Response]


def _json(payload: Any, status: int = 200) -> http.Response:
    return json_response(status, json.dumps(payload).encode(), {"cache-control": "no-store"})


def _body_object(flow: http.HTTPFlow) -> dict[str, Any]:
    raw = request_body(flow)
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ProblemError(400, "malformed_json", "The body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ProblemError(400, "invalid_body", "The body must be a JSON object.")
    return parsed


def _query(flow: http.HTTPFlow) -> dict[str, str]:
    return dict(parse_qsl(flow.request.path.partition("?")[2]))


def _int_query(query: dict[str, str], name: str, default: int | None) -> int | None:
    if name not in query:
        return default
    text = query[name]
    if not (text.isascii() and text.isdigit()):
        raise ProblemError(400, "invalid_parameter", f"{name} must be a non-negative integer.")
    return int(text)


class Control:
    def __init__(
        self, state: MockState, settings: Settings, access: ControlAccess | None = None
    ) -> None:
        self._state = state
        self._settings = settings
        self.access = access or ControlAccess()
        self._master: Any = None
        self._startup = MockSettings()
        self._started_at = time.time()
        routes: dict[tuple[str, str], Handler] = {
            ("GET", "/health"): self._health,
            ("POST", "/reset"): self._reset,
            ("GET", "/journal"): self._journal,
            ("DELETE", "/journal"): self._clear_journal,
            ("GET", "/clock"): self._clock,
            ("POST", "/clock"): self._advance_clock,
            ("POST", "/tokens/expire"): self._expire_tokens,
            ("GET", "/config"): self._get_config,
            ("PUT", "/config"): self._put_config,
            ("GET", "/faults"): self._list_faults,
            ("POST", "/faults"): self._add_fault,
            ("DELETE", "/faults"): self._clear_faults,
            ("DELETE", "/faults/{id}"): self._remove_fault,
            ("POST", "/scenario"): self._load_scenario,
        }
        self._handlers = {f"{m} {CONTROL_PREFIX}{p}": h for (m, p), h in routes.items()}
        self._router = Router(
            (m, CONTROL_PREFIX + p, f"{m} {CONTROL_PREFIX}{p}") for m, p in routes
        )

    def load(self, loader: addonmanager.Loader) -> None:
        self._master = loader.master

    def running(self) -> None:
        # `reset` returns the config to what the mock was started with.
        self._startup = self._settings.current
        # The Host and Origin names include the port, known only now (port 0: any free).
        if self._master is not None and not self._master.options.keep_host_header:
            # Judging Host needs the client's own: reverse mode would rewrite it to the
            # upstream's (harmless to change here: proxy mode's UpstreamHost restores it).
            self._master.options.update(keep_host_header=True)
        server = self._master.addons.get("proxyserver") if self._master else None
        addrs = server.listen_addrs() if server is not None else []
        if addrs:
            self.access = self.access.bound(addrs[0][1])

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        path = path_only(flow)
        if not (path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")):
            return
        note(flow).control = True
        try:
            control_access.check(self.access, flow)
            match = self._router.match(flow.request.method, path)
            flow.response = self._handlers[match.name](flow, _query(flow) | match.params)
        except ProblemError as problem:
            flow.response = problem.to_response()

    def _health(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        journal = self._state.journal
        return _json(
            {
                "status": "ok",
                "version": VERSION,
                "seed": self._state.seed,
                "uptime_s": round(time.time() - self._started_at, 3),
                "pid": os.getpid(),  # which worker answered (harness mock --workers N)
                **(self._state.describe() if self._state.describe is not None else {}),
                "journal": {
                    "last_seq": journal.last_seq,
                    "capacity": journal.capacity,
                    "counters": dict(journal.counters),
                },
            }
        )

    def _reset(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        self._state.reset()
        self._settings.apply(self._startup)
        return _json({"status": "reset", "config": self._startup.public()})

    def _journal(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        since = _int_query(query, "since", 0) or 0
        limit = _int_query(query, "limit", None)
        journal = self._state.journal
        entries, missed = journal.since(since, limit)
        if query.get("format") == "har":  # the entries as an HTTP Archive (mocks/har.py)
            # Reverse mode rewrote the Host header: the address the client called.
            host, port = flow.client_conn.sockname[:2]
            scheme = "https" if flow.client_conn.tls_established else "http"
            root = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
            return _json(har_document([e.to_json() for e in entries], root, version=VERSION))
        return _json(
            {
                "entries": [e.to_json() for e in entries],
                "last_seq": entries[-1].seq if entries else max(since, journal.last_seq),
                "missed": missed,
                "counters": dict(journal.counters),
            }
        )

    def _clear_journal(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        self._state.journal.clear()
        return empty_response(204)

    def _clock(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        clock = self._state.clock
        return _json({"now": clock.now(), "offset_s": clock.offset})

    def _advance_clock(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        body = _body_object(flow)
        unknown = set(body) - {"advance_s"}
        advance = body.get("advance_s")
        if unknown or isinstance(advance, bool) or not isinstance(advance, int | float):
            raise ProblemError(
                400, "invalid_body", 'Send {"advance_s": <seconds>} and nothing else.'
            )
        if not 0 <= advance <= 10 * 365 * 86400:
            raise ProblemError(400, "invalid_body", "advance_s must be between 0 and ten years.")
        self._state.clock.advance(float(advance))
        return self._clock(flow, query)

    def _expire_tokens(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        return _json({"expired_through": self._state.tokens.expire_all()})

    def _get_config(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        return _json(self._settings.current.public())

    def _put_config(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        changes = _body_object(flow)
        try:
            updated = self._settings.current.merged(changes)
        except ValidationError as e:
            raise _invalid("invalid_config", "Invalid config", e) from None
        self._settings.apply(updated)
        return _json(self._settings.current.public())

    # --- faults and scenarios ---------------------------------------------------

    def _list_faults(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        return _json({"faults": self._state.faults.describe()})

    def _add_fault(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        try:
            rule = FaultRule.model_validate(_body_object(flow))
            _check_against_api(self._state, rule)
            rule_id = self._state.faults.add(rule)
        except ValidationError as e:
            raise _invalid("invalid_fault_rule", "Invalid fault rule", e) from None
        except ValueError as e:
            raise ProblemError(409, "fault_rule_exists", str(e)) from None
        return _json({"id": rule_id}, status=201)

    def _clear_faults(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        self._state.faults.clear()
        return empty_response(204)

    def _remove_fault(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        if not self._state.faults.remove(query["id"]):
            raise ProblemError(404, "fault_rule_not_found", f"No fault rule {query['id']!r}.")
        return empty_response(204)

    def _load_scenario(self, flow: http.HTTPFlow, query: dict[str, str]) -> http.Response:
        body = _body_object(flow)
        if set(body) not in ({"name"}, {"inline"}):
            raise ProblemError(
                400, "invalid_body", 'Send {"name": "<built-in>"} or {"inline": {...}}.'
            )
        try:
            if "name" in body:
                scenario = load_builtin(str(body["name"]))
            else:
                scenario = scenario_from_data(body["inline"])
        except ScenarioError as e:
            raise ProblemError(400, "invalid_scenario", str(e)) from None
        # Rules replace the current ones; config applies on top of the startup config.
        # Both are validated before either changes: a scenario applies whole or not at all.
        settings = scenario.settings(self._startup)
        try:
            self._state.faults.replace(list(scenario.faults))
        except ValueError as e:
            raise ProblemError(400, "invalid_scenario", str(e)) from None
        self._settings.apply(settings)
        return _json(
            {
                "scenario": scenario.name,
                "config": self._settings.current.public(),
                "faults": self._state.faults.describe(),
                "warnings": scenario_warnings(self._state, scenario.faults),
            }
        )


def _check_against_api(state: MockState, rule: FaultRule) -> None:
    """The mock refuses a rule that can match none of the API's operations."""
    from mocks.rule_checks import problem_for

    problem = problem_for(state, rule)
    if problem is not None:
        raise ProblemError(
            400, "fault_rule_matches_nothing", f"The rule matches nothing: {problem}"
        )


def scenario_warnings(state: MockState, rules: list[FaultRule]) -> list[str]:
    """Rules of a scenario that will never fire on the served API."""
    from mocks.rule_checks import problem_for

    found = ((rule.id or f"rule {i + 1}", problem_for(state, rule)) for i, rule in enumerate(rules))
    return [f"{name}: {problem}" for name, problem in found if problem is not None]


def _invalid(code: str, title: str, error: ValidationError) -> ProblemError:
    reasons = [
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}"
        for err in error.errors(include_url=False)
    ]
    return ProblemError(400, code, f"{title}: " + "; ".join(reasons), errors=reasons)
