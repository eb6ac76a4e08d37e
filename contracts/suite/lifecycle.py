"""The lives every client depends on, walked in order, derived from the document.

schemathesis's stateful phase follows the document's links at random; these
chains walk the paths a client takes, every run:

- the session's life (from the configured roles, in a session of its own):
  sign in -> read the current user -> refresh twice -> replay a rotated-out
  refresh token (refused) -> log out -> the token no longer works;
- each resource's life (`contracts/resources.py`): create -> read -> update ->
  read the update -> find it in the list -> delete -> read it again (404).

The session chain runs whatever the resources do, so a broken schema in one
resource never hides a broken refresh. Within a chain, a broken step skips
the steps that depend on it; what cannot be derived is skipped with a note.
Each failure carries a curl that replays it.
"""

from __future__ import annotations

import json
import shlex
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin

import requests

from contracts.document import Document, Operation
from contracts.resources import ResourceGroup, id_of, infer_resources
from contracts.suite.checks import differences
from contracts.suite.redact import redact
from contracts.suite.session import SessionError, SessionKeeper, path_of

MAX_PAGES = 20  # a list walk stops here even if the server's pages never end
CREATE_TRIES = 5


@dataclass(frozen=True)
class Step:
    operation: str
    what: str
    passed: bool
    detail: str = ""
    reproduce: str = ""
    skipped: bool = False


class _Broken(Exception):
    def __init__(self, detail: str, response: requests.Response | None = None) -> None:
        super().__init__(detail)
        self.response = response


class _Skip(Exception):
    pass


class _Chain:
    def __init__(self, keeper: SessionKeeper, show_secrets: bool) -> None:
        self.keeper = keeper
        self.steps: list[Step] = []
        self.broken = False
        self._secrets = (lambda: set()) if show_secrets else keeper.secrets

    def step(self, operation: str, what: str, action: Callable[[], None]) -> bool:
        if self.broken:
            self.steps.append(
                Step(operation, what, True, "skipped: an earlier step did not pass", skipped=True)
            )
            return False
        try:
            action()
        except _Skip as e:
            self.steps.append(Step(operation, what, True, f"skipped: {e}", skipped=True))
            return True
        except (_Broken, requests.RequestException, SessionError, ValueError, KeyError) as e:
            response = e.response if isinstance(e, _Broken | requests.RequestException) else None
            self.steps.append(
                Step(
                    operation,
                    what,
                    False,
                    redact(str(e), self._secrets()),
                    redact(curl_of(response), self._secrets()) if response is not None else "",
                )
            )
            self.broken = True
            return False
        self.steps.append(Step(operation, what, True))
        return True


def curl_of(response: requests.Response | None) -> str:
    if response is None or response.request is None:
        return ""
    request = response.request
    parts = ["curl", "-X", request.method or "GET", request.url or ""]
    for name, value in dict(request.headers).items():
        if name.lower() not in ("content-length", "accept-encoding", "connection", "user-agent"):
            parts += ["-H", f"{name}: {value!s}"]
    body = request.body
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        parts += ["-d", text]
    return shlex.join(parts)


def _expect(response: requests.Response, statuses: tuple[int, ...], what: str) -> Any:
    if response.status_code not in statuses:
        wanted = " or ".join(map(str, statuses))
        raise _Broken(
            f"{what}: expected {wanted}, got {response.status_code}: {response.text[:300]}",
            response,
        )
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def _success(op: Operation) -> tuple[int, ...]:
    return op.success_statuses() or (200, 201, 202, 204)


def run_lifecycle(
    keeper: SessionKeeper,
    document: Document,
    *,
    schema: Any = None,
    show_secrets: bool = False,
) -> list[Step]:
    """Walk the session chain, then each resource's; every step is reported."""
    steps = _session_chain(keeper, show_secrets)
    for group in infer_resources(document):
        steps += _resource_chain(keeper, group, schema, show_secrets)
    return steps


# --- the session's life -----------------------------------------------------------------


def _session_chain(main: SessionKeeper, show_secrets: bool) -> list[Step]:
    plan = main.plan
    if not plan.has_session:
        return []
    # A session of its own (a fresh account when the API can make one): logging out
    # must not end the suite's session, and fuzzing may have changed its account.
    if plan.register is not None:
        identities: tuple[dict[str, str], ...] = ()
    else:
        identities = (main.identity,) if main.identity else plan.identities
    keeper = SessionKeeper(
        main.base_url, replace(plan, identities=identities), main.document, main.gateway
    )
    chain = _Chain(keeper, show_secrets)
    state: dict[str, Any] = {}
    sign_in = plan.register if plan.register is not None else plan.login
    assert sign_in is not None or plan.oauth is not None

    def signed_in() -> None:
        state["access"] = keeper.login()
        tokens = keeper._tokens
        state["refresh"] = tokens.refresh if tokens else None

    def reads_current_user() -> None:
        if plan.current_user is None:
            raise _Skip("no current_user role")
        _expect(keeper.call(plan.current_user, token=state["access"]), (200,), "current user")

    def refreshes() -> None:
        if plan.refresh is None or not state.get("refresh"):
            raise _Skip("no refresh role, or the sign-in answered no refresh token")
        state["first"] = state["refresh"]
        for _ in range(2):
            tokens = keeper._exchange(plan.refresh, "refresh", {"refresh_token": state["refresh"]})
            state["access"], state["refresh"] = tokens.access, tokens.refresh or state["refresh"]
        if plan.current_user is not None:
            answer = keeper.call(plan.current_user, token=state["access"])
            _expect(answer, (200,), "current user with the refreshed token")

    def replay_refused() -> None:
        if plan.refresh is None or "first" not in state:
            raise _Skip("no refresh")
        if state["first"] == state["refresh"]:
            raise _Skip("the refresh token does not rotate")
        body = json.loads(json.dumps(plan.refresh.body).replace("{refresh_token}", state["first"]))
        answer = keeper.call(plan.refresh.operation, json=body)
        if 200 <= answer.status_code < 300:
            raise _Broken(
                "a rotated-out refresh token was accepted again (RFC 9700: rotation invalidates "
                f"the old token): {answer.status_code}",
                answer,
            )

    def logout_ends_the_token() -> None:
        if plan.logout is None:
            raise _Skip("no logout role")
        keeper.login()  # reuse detection may have ended the session: log out a fresh one
        tokens = keeper._tokens
        assert tokens is not None
        _expect(keeper.call(plan.logout, token=tokens.access), _success(plan.logout), "logout")
        if plan.current_user is None:
            return
        answer = keeper.call(plan.current_user, token=tokens.access)
        _expect(answer, (401,), "the current user after logout")

    operation = sign_in.operation.operation_id if sign_in else "oauth2"
    chain.step(operation, "sign in", signed_in)
    current = plan.current_user.operation_id if plan.current_user else "-"
    chain.step(current, "the token reads the current user", reads_current_user)
    refresh_id = plan.refresh.operation.operation_id if plan.refresh else "-"
    chain.step(refresh_id, "refresh twice", refreshes)
    chain.step(refresh_id, "replay a rotated-out refresh token: refused", replay_refused)
    chain.broken = False  # logout stands apart: it signs in afresh
    chain.step(
        plan.logout.operation_id if plan.logout else "-",
        "log out: the token stops working",
        logout_ends_the_token,
    )
    keeper.close()
    return chain.steps


# --- a resource's life ------------------------------------------------------------------


def _bodies(schema: Any, op: Operation, document: Document) -> list[Any]:
    """Valid request bodies for an operation: the document's examples, then generated ones."""
    found: list[Any] = []
    content = (document.resolve(op.raw.get("requestBody") or {}).get("content")) or {}
    for media, spec in content.items():
        if "json" not in media or not isinstance(spec, dict):
            continue
        if "example" in spec:
            found.append(spec["example"])
        for example in (spec.get("examples") or {}).values():
            example = document.resolve(example)
            if isinstance(example, dict) and "value" in example:
                found.append(example["value"])
    if schema is not None:
        from schemathesis import GenerationMode

        try:
            strategy = schema.find_operation_by_path(op.method, op.path).as_strategy(
                generation_mode=GenerationMode.POSITIVE
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found += [strategy.example().body for _ in range(CREATE_TRIES)]
        except Exception:  # a generation failure means fewer tries, not a crash
            pass
    return found


def _resource_chain(
    keeper: SessionKeeper, group: ResourceGroup, schema: Any, show_secrets: bool
) -> list[Step]:
    document = keeper.document
    assert document is not None
    chain = _Chain(keeper, show_secrets)
    state: dict[str, Any] = {}
    if group.create is None or group.parent_params:
        reason = "no create operation" if group.create is None else "nested under a parent"
        return [
            Step(
                group.collection,
                f"{group.name}: lifecycle",
                True,
                f"skipped: {reason}",
                skipped=True,
            )
        ]

    def token(op: Operation) -> str | None:
        return keeper.access_token() if keeper.plan.carries_session(op) else None

    def item(op: Operation) -> requests.Response:
        return keeper.call(op, params={group.id_param: state["id"]}, token=token(op))

    def create() -> None:
        assert group.create is not None
        last: requests.Response | None = None
        for body in _bodies(schema, group.create, document):
            answer = keeper.call(group.create, json=body, token=token(group.create))
            last = answer
            if answer.status_code in _success(group.create):
                state["created"] = answer.json() if answer.content else None
                location = answer.headers.get("Location")
                state["id"] = id_of(state["created"], group.id_param, location)
                if state["id"] is None:
                    raise _Broken(f"the created {group.name} names no {group.id_param}", answer)
                return
            if answer.status_code >= 500:
                raise _Broken(f"create answered {answer.status_code}: {answer.text[:300]}", answer)
        chain.broken = True  # nothing to read, update or delete
        if last is None:
            raise _Skip("no valid body could be made for the create operation")
        raise _Skip(f"no generated body was accepted (last answer {last.status_code})")

    def read() -> None:
        if group.read is None:
            raise _Skip("no read operation")
        answer = item(group.read)
        found = _expect(answer, (200,), f"read the {group.name}")
        _same(state.get("created"), found, "created", "read", answer)

    def update() -> None:
        if group.update is None:
            raise _Skip("no update operation")
        for body in _bodies(schema, group.update, document):
            answer = keeper.call(
                group.update,
                params={group.id_param: state["id"]},
                json=body,
                token=token(group.update),
            )
            if answer.status_code in _success(group.update):
                state["updated"] = answer.json() if answer.content else None
                return
            if answer.status_code >= 500:
                raise _Broken(f"update answered {answer.status_code}: {answer.text[:300]}", answer)
        raise _Skip("no generated body was accepted by the update")

    def read_update() -> None:
        if group.read is None or "updated" not in state:
            raise _Skip("nothing updated")
        answer = item(group.read)
        found = _expect(answer, (200,), f"read the updated {group.name}")
        _same(state.get("updated"), found, "updated", "read", answer)

    def listed() -> None:
        if group.list is None:
            raise _Skip("no list operation")
        if not _find_in_list(keeper, group, state["id"], token(group.list)):
            raise _Broken(f"{group.name} {state['id']} is on none of the first {MAX_PAGES} pages")

    def delete() -> None:
        if group.delete is None:
            raise _Skip("no delete operation")
        _expect(item(group.delete), _success(group.delete), f"delete the {group.name}")
        state["deleted"] = True

    def gone() -> None:
        if group.read is None or not state.get("deleted"):
            raise _Skip("nothing deleted")
        _expect(item(group.read), (404, 410), f"read the deleted {group.name}")

    op_id = group.create.operation_id
    chain.step(op_id, f"{group.name}: create one", create)
    chain.step(_id(group.read), f"{group.name}: read it", read)
    chain.step(_id(group.update), f"{group.name}: update it", update)
    chain.step(_id(group.read), f"{group.name}: read the update", read_update)
    chain.step(_id(group.list), f"{group.name}: find it in the list", listed)
    chain.step(_id(group.delete), f"{group.name}: delete it", delete)
    chain.step(_id(group.read), f"{group.name}: read it again: 404", gone)
    return chain.steps


def _id(op: Operation | None) -> str:
    return op.operation_id if op is not None else "-"


def _same(expected: Any, found: Any, first: str, second: str, response: requests.Response) -> None:
    found_differences = differences(expected, found)
    if found_differences:
        raise _Broken(
            f"the {second} answer differs from the {first} one: "
            + "; ".join(found_differences[:5]),
            response,
        )


def _contains(node: Any, wanted: str, id_param: str) -> bool:
    if isinstance(node, list):
        return any(_contains(item, wanted, id_param) for item in node)
    if isinstance(node, dict):
        if id_of(node, id_param) == wanted and any(k in node for k in (id_param, "id")):
            return True
        return any(
            _contains(v, wanted, id_param) for v in node.values() if isinstance(v, list | dict)
        )
    return False


def _find_in_list(
    keeper: SessionKeeper, group: ResourceGroup, wanted: str, token: str | None
) -> bool:
    assert group.list is not None
    size = next(
        (
            p
            for p in ("page_size", "per_page", "pageSize", "limit", "size")
            if group.list.parameter(p, "query")
        ),
        None,
    )
    params: dict[str, Any] = {}
    if size is not None:
        schema = group.list.parameter(size, "query").schema  # type: ignore[union-attr]
        params[size] = (
            int(schema.get("maximum", 100)) if isinstance(schema.get("maximum", 100), int) else 100
        )
    url: str | None = keeper.base_url + path_of(group.list)
    for _ in range(MAX_PAGES):
        assert url is not None
        answer = keeper.send("GET", url, token=token, params=params)
        body = _expect(answer, (200,), f"list the {group.name}")
        if _contains(body, wanted, group.id_param):
            return True
        url, params = _next_page(answer, body, url, params, group.list)
        if url is None:
            return False
    return False


def _next_page(
    answer: requests.Response, body: Any, url: str, params: dict[str, Any], op: Operation
) -> tuple[str | None, dict[str, Any]]:
    """The next page: a Link rel=next, a cursor member of the body, or page + 1."""
    following = answer.links.get("next", {}).get("url")
    if following:
        return urljoin(url, following), {}
    if isinstance(body, dict):
        for name in ("next_cursor", "nextCursor", "cursor", "next", "next_page_token"):
            cursor = body.get(name)
            param = next(
                (p for p in ("cursor", "page_token", "after", "next") if op.parameter(p, "query")),
                None,
            )
            if isinstance(cursor, str) and cursor and param:
                return url, params | {param: cursor}
    page = op.parameter("page", "query")
    if page is not None and isinstance(body, list) and body:
        return url, params | {"page": int(params.get("page", 1)) + 1}
    return None, params
