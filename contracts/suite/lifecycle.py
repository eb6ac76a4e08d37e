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
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin

import requests

from contracts.document import Document, Operation
from contracts.resources import ResourceGroup, id_of, infer_resources
from contracts.suite.checks import (
    IDEMPOTENCY_HEADER,
    SIZE_PARAMS,
    ContractViolation,
    check_replay,
    differences,
)
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

    def step(
        self, operation: str, what: str, action: Callable[[], None], *, breaks: bool = True
    ) -> bool:
        """Run a step; a failure skips the later steps unless `breaks` is False (a check
        that nothing later depends on)."""
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
            self.broken = breaks
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
    groups = infer_resources(document)
    references = _References(keeper, schema, groups)
    for group in groups:
        steps += _resource_chain(keeper, group, schema, show_secrets, references)
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


def _singular(name: str) -> str:
    return name[:-3] + "y" if name.endswith("ies") else name[:-1] if name.endswith("s") else name


class _References:
    """Items a create body may have to point at (a loan names a book): one spare item
    per resource, made when first needed and kept for the run."""

    def __init__(self, keeper: SessionKeeper, schema: Any, groups: list[ResourceGroup]) -> None:
        self.keeper, self.schema = keeper, schema
        self.groups = {_singular(g.name): g for g in groups if g.create and not g.parent_params}
        self._ids: dict[str, str | None] = {}

    def _target(self, key: str) -> ResourceGroup | None:
        lowered = key.lower()
        for singular, group in self.groups.items():
            names = {
                singular,
                f"{singular}slug",
                f"{singular}_slug",
                f"{singular}id",
                f"{singular}_id",
            }
            if lowered in names:
                return group
        return None

    def spare(self, group: ResourceGroup) -> str | None:
        name = _singular(group.name)
        if name not in self._ids:
            self._ids[name] = None  # no recursion through a cycle of references
            made = _create_one(self.keeper, group, self.schema, None)
            if made is not None:
                answer = made[0]
                created = answer.json() if answer.content else None
                self._ids[name] = id_of(created, group.id_param, answer.headers.get("Location"))
        return self._ids[name]

    def fill(self, body: Any, depth: int = 0) -> tuple[Any, bool]:
        """`body` with string members that name another resource set to a real item."""
        if not isinstance(body, dict) or depth > 2:
            return body, False
        out, changed = dict(body), False
        for key, value in body.items():
            target = self._target(str(key)) if isinstance(value, str) else None
            if target is not None:
                found = self.spare(target)
                if found is not None:
                    out[key], changed = found, True
            elif isinstance(value, dict):
                out[key], sub = self.fill(value, depth + 1)
                changed = changed or sub
        return out, changed


def _create_one(
    keeper: SessionKeeper, group: ResourceGroup, schema: Any, references: _References | None
) -> tuple[requests.Response, Any] | None:
    """A successful create and the valid body it took (references filled when the plain ones fail);
    None when the server accepted none. A 5xx raises."""
    assert group.create is not None
    assert keeper.document is not None
    bodies = _bodies(schema, group.create, keeper.document)
    token = keeper.access_token() if keeper.plan.carries_session(group.create) else None
    tries = [(b, False) for b in bodies]
    if references is not None:
        tries += [(b, True) for b in bodies]
    keyed = group.create.parameter(IDEMPOTENCY_HEADER, "header") is not None
    for body, fill in tries:
        if fill:
            assert references is not None
            body, changed = references.fill(body)
            if not changed:
                continue
        headers = {IDEMPOTENCY_HEADER: f"lifecycle-{uuid.uuid4()}"} if keyed else {}
        answer = keeper.call(group.create, json=body, token=token, headers=headers)
        if answer.status_code in _success(group.create):
            return answer, body
        if answer.status_code >= 500:
            raise _Broken(f"create answered {answer.status_code}: {answer.text[:300]}", answer)
    return None


def _resource_chain(
    keeper: SessionKeeper,
    group: ResourceGroup,
    schema: Any,
    show_secrets: bool,
    references: _References | None = None,
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
        made = _create_one(keeper, group, schema, references)
        if made is None:
            chain.broken = True  # nothing to read, update or delete
            raise _Skip("the server accepted none of the valid bodies tried")
        answer, state["body"] = made
        state["answer"] = answer
        state["created"] = answer.json() if answer.content else None
        state["id"] = id_of(state["created"], group.id_param, answer.headers.get("Location"))
        if state["id"] is None:
            raise _Broken(f"the created {group.name} names no {group.id_param}", answer)

    def replay() -> None:
        assert group.create is not None
        if group.create.parameter(IDEMPOTENCY_HEADER, "header") is None:
            raise _Skip("the create declares no Idempotency-Key")
        create_token = token(group.create)

        def send(method: str, url: str, **kwargs: Any) -> requests.Response:
            return keeper.send(method, url, token=create_token, **kwargs)

        url = keeper.base_url + path_of(group.create)
        body = json.dumps(state["body"]).encode()
        key = state["answer"].request.headers.get(IDEMPOTENCY_HEADER)
        try:
            check_replay(send, group.create, url, key, body, "application/json", state["created"])
        except ContractViolation as e:
            raise _Broken(str(e)) from None

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
        found, problems = _walk_list(keeper, group, state["id"], token(group.list), small=False)
        if problems:
            raise _Broken(f"paging the {group.name}: " + "; ".join(problems))
        if not found:
            raise _Broken(f"{group.name} {state['id']} is on none of the first {MAX_PAGES} pages")

    def small_pages() -> None:
        if group.list is None:
            raise _Skip("no list operation")
        if not any(group.list.parameter(p, "query") for p in SIZE_PARAMS):
            raise _Skip("the list has no page size parameter")
        _, problems = _walk_list(keeper, group, state["id"], token(group.list), small=True)
        if problems:
            raise _Broken(f"paging the {group.name} {SMALL_PAGE} at a time: " + "; ".join(problems))

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
    what = f"{group.name}: replay the create with its Idempotency-Key"
    chain.step(op_id, what, replay, breaks=False)
    chain.step(_id(group.read), f"{group.name}: read it", read)
    chain.step(_id(group.update), f"{group.name}: update it", update)
    chain.step(_id(group.read), f"{group.name}: read the update", read_update)
    chain.step(_id(group.list), f"{group.name}: find it in the list, page by page", listed)
    what = f"{group.name}: small pages neither repeat items nor miscount"
    chain.step(_id(group.list), what, small_pages, breaks=False)
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


COUNT_NAMES = ("count", "total", "total_count", "totalCount")


def _page_items(body: Any) -> list[Any]:
    """The items of a page: the body itself, or its first array of objects (`{"books": [...]}`)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return value
    return []


def _count_of(answer: requests.Response, body: Any) -> int | None:
    """The total the first page announces: X-Total-Count, or a count member of the body."""
    header = answer.headers.get("X-Total-Count", "")
    if header.strip().isdigit():
        return int(header)
    if isinstance(body, dict):
        for key, value in body.items():
            named = key in COUNT_NAMES or key.endswith(("Count", "_count"))
            if named and isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


SMALL_PAGE = 2  # pages this small show repeats and wrong counts with few items


def _walk_list(
    keeper: SessionKeeper, group: ResourceGroup, wanted: str, token: str | None, *, small: bool
) -> tuple[bool, list[str]]:
    """Every page of the list, as a client pages (`small`: the smallest pages the document
    allows, else the largest): is `wanted` on one, does an item come back on a later page,
    and does the total the first page announces match the items seen?"""
    assert group.list is not None
    size = next((p for p in SIZE_PARAMS if group.list.parameter(p, "query")), None)
    params: dict[str, Any] = {}
    if size is not None:
        declared = group.list.parameter(size, "query")
        bounds = declared.schema if declared is not None else {}
        maximum, minimum = bounds.get("maximum"), bounds.get("minimum", 1)
        if small:
            params[size] = max(SMALL_PAGE, minimum) if isinstance(minimum, int) else SMALL_PAGE
        else:
            params[size] = maximum if isinstance(maximum, int) and maximum <= 500 else 100
    url: str | None = keeper.base_url + path_of(group.list)
    found, problems, total = False, [], None
    seen: set[str] = set()
    for page in range(1, MAX_PAGES + 1):
        assert url is not None
        answer = keeper.send("GET", url, token=token, params=params)
        body = _expect(answer, (200,), f"list the {group.name} (page {page})")
        if page == 1:
            total = _count_of(answer, body)
        ids = [id_of(item, group.id_param) for item in _page_items(body)]
        repeated = sorted({i for i in ids if i is not None and i in seen})
        if repeated:
            problems.append(f"page {page} repeats {', '.join(repeated[:5])} from earlier pages")
        seen.update(i for i in ids if i is not None)
        found = found or wanted in ids or _contains(body, wanted, group.id_param)
        if total is not None and len(seen) > total:
            problems.append(f"the first page announces {total} {group.name}; {len(seen)} seen")
            return found, problems
        url, params = _next_page(answer, body, url, params, group.list)
        if url is None:
            if total is not None and total != len(seen):
                problems.append(
                    f"the first page announces {total} {group.name}; the pages hold {len(seen)}"
                )
            return found, problems
    return found, problems  # past MAX_PAGES: no verdict on the total


def _next_page(
    answer: requests.Response, body: Any, url: str, params: dict[str, Any], op: Operation
) -> tuple[str | None, dict[str, Any]]:
    """The next page: a Link rel=next, a cursor member of the body, or page + 1."""
    following = answer.links.get("next", {}).get("url")
    if following:
        return urljoin(url, following), {}
    if answer.links:
        return None, params  # the server pages by Link and names no next page: the end
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
