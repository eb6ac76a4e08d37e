"""The addon chain that serves an OpenAPI document: a team's (`harness mock --spec`)
or the demo's (`demo_spec`: its document and configuration, the default).

    Settings, SpecControl, Control, SpecRouting, Gate, SpecSecurity, Faults,
    Enforcement, BodyCheck, SpecAuthEndpoints, Breakage, SpecIdempotency, Resources,
    SpecAnswers, Fallback, LateFaults, [ResponseCheck], JournalAddon

Faults, journal and control API are the mock's own; routing, auth and answers
come from the document. In proxy mode (`--upstream`) only routing names the
operation (`UpstreamHost` gives the upstream its own Host), and `ResponseCheck`
can judge the upstream's answers against the document.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

from mitmproxy import http

from contracts.config import HarnessConfig
from contracts.document import load_document
from mocks import control_access
from mocks.control import CONTROL_PREFIX, Control
from mocks.control_access import ControlAccess
from mocks.notes import note
from mocks.problems import ProblemError
from mocks.resource_model import infer_resources
from mocks.resource_store import ItemStore
from mocks.resources import Resources
from mocks.settings import MockSettings
from mocks.spec_accounts import Accounts
from mocks.spec_api import SpecApi, is_json
from mocks.spec_auth import SessionPolicy, SpecAuthEndpoints, SpecSecurity
from mocks.spec_routes import plan_of
from mocks.state import MockState
from mocks.wire import json_response, path_only, request_body


@functools.lru_cache(maxsize=4)
def demo_spec(seed: int | None = None, products: int | None = None) -> SpecApi:
    """The demo API: its document and configuration (contracts/), compiled like any
    team's; `seed` and `products` (the seeded catalogue) as `harness mock` flags set them.
    Compiled once per process and arguments (about 1 s with 300 products): a compiled
    document is only read once compiled (items are copied into each mock's store)."""
    from contracts.demo import DEMO_RESOURCE, demo_config

    overrides: dict[str, Any] = {"mock.seed": seed}
    if products is not None:
        overrides[f"mock.resources.{DEMO_RESOURCE}.seed_items"] = products
    config = demo_config(**overrides)
    assert config.spec_location is not None  # harness.yaml names its document
    return compile_spec(config.spec_location, config)


def compile_spec(spec: str | Path, config: HarnessConfig | None = None) -> SpecApi:
    """Load, validate and compile a document (DocumentError if it is invalid)."""
    started = time.perf_counter()
    api = SpecApi(load_document(spec), config)
    api.resources = infer_resources(api)  # type: ignore[attr-defined]
    api.startup_s = time.perf_counter() - started  # type: ignore[attr-defined]
    return api


class SpecControl:
    """Control routes that only a document-served mock has, beside `Control`'s:
    `POST /__harness/tokens` mints a session, `GET /__harness/operations` lists
    operations, roles and resources, `GET /__harness/violations` proxy findings."""

    def __init__(
        self, api: SpecApi, state: MockState, accounts: Accounts, control: Control
    ) -> None:
        self._api = api
        self._state = state
        self._accounts = accounts
        self._control = control  # its access (token, Host, Origin) guards these routes too

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        path = path_only(flow)
        route = (flow.request.method, path.removeprefix(CONTROL_PREFIX))
        if not path.startswith(CONTROL_PREFIX + "/"):
            return
        if route not in (("POST", "/tokens"), ("GET", "/operations"), ("GET", "/violations")):
            return
        note(flow).control = True
        try:
            control_access.check(self._control.access, flow)
        except ProblemError as problem:
            flow.response = problem.to_response()
            return
        if route == ("POST", "/tokens"):
            note(flow).control = True
            flow.response = self._mint(flow)
        elif route == ("GET", "/operations"):
            note(flow).control = True
            flow.response = self._operations()
        elif route == ("GET", "/violations"):
            note(flow).control = True
            flow.response = self._violations()

    def _mint(self, flow: http.HTTPFlow) -> http.Response:
        try:
            body = json.loads(request_body(flow) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            from mocks.problems import problem_response

            return problem_response(400, "invalid_body", 'Send {} or {"user": "<login name>"}.')
        account = self._accounts.get(str(body.get("user", "")))
        user_id = account["_id"] if account else str(body.get("user") or "minted")
        issued = self._state.tokens.start_session(user_id)
        payload = {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "expires_in": issued.expires_in,
            "session": issued.session_id,
        }
        return json_response(201, json.dumps(payload).encode(), {"cache-control": "no-store"})

    def _operations(self) -> http.Response:
        resources = {
            r.name: {"collection": r.collection, "item": r.item, "id_field": r.id_field}
            for r in getattr(self._api, "resources", [])
        }
        ops = [
            {
                "operation": p.op.operation_id,
                "method": p.op.method,
                "path": self._api.base_path + p.op.path,
                "role": p.role,
                "resource": p.resource.resource.name if p.resource else None,
                "action": p.resource.action if p.resource else None,
                "secured": p.op.secured,
            }
            for p in self._api.plans.values()
        ]
        body = {"operations": ops, "resources": resources, "base_path": self._api.base_path}
        return json_response(200, json.dumps(body).encode(), {"cache-control": "no-store"})

    def _violations(self) -> http.Response:
        entries, _ = self._state.journal.since(0)
        found = [
            {"seq": e.seq, "operation": e.operation, "status": e.status, "violations": e.violations}
            for e in entries
            if e.violations
        ]
        return json_response(200, json.dumps({"violations": found}).encode())


class ResponseCheck:
    """Proxy mode: judges the upstream's answer against the operation's declared
    responses (status, media type, schema) and records what it broke."""

    def __init__(self, api: SpecApi) -> None:
        self._api = api
        self._compiled: dict[tuple[str, str, str], Any] = {}

    def response(self, flow: http.HTTPFlow) -> None:
        plan = plan_of(flow)
        if plan is None or flow.response is None or note(flow).fault is not None:
            return
        found = _violations(self._api, plan, flow.response, self._compiled)
        if found:
            note(flow).violations = found


def _violations(
    api: SpecApi, plan: Any, response: http.Response, cache: dict[Any, Any]
) -> list[str]:
    spec = plan.op.response(response.status_code)
    if spec is None:
        declared = ", ".join(r.status for r in plan.op.responses)
        return [f"status {response.status_code} is not declared (declared: {declared})"]
    problems = []
    for name, header in spec.headers.items():
        if header.get("required") and name not in response.headers:
            problems.append(f"required header {name} is missing")
    if not spec.media_types:
        return problems
    sent = response.headers.get("content-type", "").split(";")[0].strip()
    media = next((m for m in spec.media_types if m.split(";")[0].strip() == sent), None)
    if media is None:
        return [
            *problems,
            f"content type {sent or 'none'} is not declared ({', '.join(spec.media_types)})",
        ]
    if not is_json(media) or not spec.media_types[media]:
        return problems
    key = (plan.op.operation_id, spec.status, media)
    compiled = cache.get(key)
    if compiled is None:
        compiled = cache[key] = api.compiler.compile(
            api.document.deref(spec.media_types[media]), "response"
        )
    try:
        value = json.loads(response.content or b"")
    except ValueError:
        return [*problems, "the body is not valid JSON"]
    error = compiled.first_error(value)
    return [*problems, f"the body breaks the schema: {error}"] if error else problems


def describe(api: SpecApi, store: ItemStore) -> dict[str, Any]:
    """What /__harness/health says of the API served: the document, not the demo's."""
    info = api.document.raw.get("info") or {}
    return {
        "seed": api.config.mock.seed,  # of the generated data
        "api": {
            "title": info.get("title"),
            "version": info.get("version"),
            "document": api.document.source,
            "base_path": api.base_path,
            "operations": len(api.plans),
            "behaviours": sorted(api.behaviours),
            "resources": {r.name: store.count(r) for r in getattr(api, "resources", [])},
        },
    }


def spec_settings(api: SpecApi, settings: MockSettings) -> MockSettings:
    """The start settings the configuration's behaviours ask for: signatures
    (`request_signing`) and the API key (`api_key`) required from the first request."""
    auth = api.config.auth
    changes: dict[str, Any] = {}
    if "request_signing" in api.behaviours:
        changes["signing"] = True
        if auth.signing_secret:
            changes["signing_secret"] = auth.signing_secret
    if "api_key" in api.behaviours and auth.api_key and settings.api_key is None:
        changes["api_key"] = auth.api_key
    return settings.merged(changes) if changes else settings


def spec_members(
    state: MockState,
    api: SpecApi,
    *,
    proxy: bool,
    validate_upstream: bool = False,
    access: ControlAccess | None = None,
) -> list[Any]:
    """The chain's members for a document (see the module docstring)."""
    from mocks.breakage import Breakage, parse_flaws
    from mocks.faults import FaultInjector, Faults, LateFaults
    from mocks.gate import Enforcement, Gate
    from mocks.journal import JournalAddon
    from mocks.limits import Limits
    from mocks.server import Fallback, UpstreamHost
    from mocks.settings import Settings
    from mocks.shared_accounts import account_rows
    from mocks.shared_items import item_store, item_writes
    from mocks.spec_answers import SpecAnswers
    from mocks.spec_idempotency import spec_idempotency
    from mocks.spec_routes import BodyCheck, SpecRouting

    state.spec = api
    accounts = Accounts(  # shared by workers
        api.config.auth.identities + api.config.mock.accounts, account_rows(state)
    )
    store: ItemStore = item_store(state, getattr(api, "resources", []))  # shared by workers
    state.on_reset[:] = [accounts.reset, store.reset]
    state.describe = lambda: describe(api, store)
    settings = Settings(state.publish)
    injector = FaultInjector(state)
    control = Control(state, settings, access)
    front = [
        Limits(),  # head size and count, timeouts, TLS off: the same for every API
        settings,
        SpecControl(api, state, accounts, control),  # behind the same gate as Control's
        control,
        SpecRouting(api, strict=not proxy),
    ]
    checks = [ResponseCheck(api)] if validate_upstream else []
    back = [LateFaults(injector), *checks, JournalAddon(state)]
    if proxy:
        return [*front, UpstreamHost(), Faults(injector), *back]
    policy = SessionPolicy(api)
    resources = Resources(
        api, store, lambda: "no_ownership" in parse_flaws(state.settings.breakage)
    )
    return [
        *front,
        Gate(state),
        SpecSecurity(api, state, policy, accounts),
        Faults(injector),
        Enforcement(),
        BodyCheck(resources.refusal),
        SpecAuthEndpoints(api, state, accounts, policy),
        Breakage(state),  # a no-op unless harness_breakage names flaws
        spec_idempotency(api, state.idempotency),
        item_writes(resources, store),
        SpecAnswers(),
        Fallback(),
        *back,
    ]
