"""What a backend's auth promises, checked with more than one account, for any document.

`run_security(keeper, document, settings)` returns `Step`s (like the lifecycle's),
in this order:

- **ownership**: each resource with a create is created as the first identity,
  then read, changed and deleted as a second one; each must be refused (the
  document's 403/404) and the resource read back unchanged as the first;
- **unauthenticated access** and **privilege** (`access_checks.py`): every
  secured operation without any credential, on real ids, and operations
  reserved for a privileged identity as the others, must not succeed;
- **forged and stale tokens** (`token_checks.py`).

Every finding says who did what, with a curl per identity; secrets are masked
unless `show_secrets`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from contracts.config import Security
from contracts.document import Document, Operation
from contracts.resources import ResourceGroup, id_of, infer_resources
from contracts.suite.checks import differences
from contracts.suite.identities import Actor, first_actor, second_actor
from contracts.suite.lifecycle import Step, curl_of
from contracts.suite.redact import redact
from contracts.suite.session import SessionError, SessionKeeper

BODY_TRIES = 5
_INVALID = (400, 409, 415, 422)  # the body, not the caller, was refused: try another


@dataclass
class SecurityRun:
    """What the checks share: the sessions, what was created, the findings so far."""

    keeper: SessionKeeper
    document: Document
    settings: Security
    schema: Any
    show_secrets: bool = False
    on_step: Callable[[Step], None] | None = None
    steps: list[Step] = field(default_factory=list)
    extra_secrets: set[str] = field(default_factory=set)
    actors: list[Actor] = field(default_factory=list)
    created: dict[str, str] = field(default_factory=dict)  # item path template -> id
    snapshots: dict[str, Any] = field(default_factory=dict)  # item path template -> body
    create_bodies: dict[str, Any] = field(default_factory=dict)  # item template -> body sent
    cleanup: list[tuple[Operation, dict[str, str]]] = field(default_factory=list)

    # --- reporting ------------------------------------------------------------------

    def secrets(self) -> set[str]:
        if self.show_secrets:
            return set()
        found = self.keeper.secrets() | self.extra_secrets
        for actor in self.actors:
            found |= actor.keeper.secrets()
        return {s for s in found if len(s) >= 4}

    def record(
        self,
        operation: str,
        what: str,
        passed: bool,
        detail: str = "",
        exchanges: list[tuple[str, requests.Response | None]] | None = None,
        *,
        skipped: bool = False,
    ) -> Step:
        secrets = self.secrets()
        reproduce = ""
        if not passed and exchanges:
            reproduce = "\n".join(
                f"# {who}\n{curl_of(response)}" for who, response in exchanges if response
            )
        step = Step(
            operation,
            what,
            passed,
            redact(detail, secrets),
            redact(reproduce, secrets),
            skipped=skipped,
        )
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        return step

    def skip(self, operation: str, what: str, why: str) -> None:
        self.record(operation, what, True, f"skipped: {why}", skipped=True)

    # --- requests ---------------------------------------------------------------------

    def call(
        self,
        actor: Actor,
        operation: Operation,
        params: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """`operation` as `actor` (its token where the document puts one; renewed once on 401)."""
        if not actor.keeper.plan.carries_session(operation):
            return actor.keeper.call(operation, params=params, **kwargs)
        token = actor.sign_in()
        answer = actor.keeper.call(operation, params=params, token=token, **kwargs)
        if answer.status_code == 401:
            actor.token = actor.keeper.renew(token)
            answer = actor.keeper.call(operation, params=params, token=actor.token, **kwargs)
        return answer

    def bodies(self, operation: Operation) -> list[Any]:
        """Valid bodies: the document's examples, then generated ones; references to
        resources created here (`book`, `bookId`, ...) point at them."""
        if not operation.request_media_types:
            return [None]
        from contracts.suite.lifecycle import _bodies

        found = _bodies(self.schema, operation, self.document)[:BODY_TRIES] or [None]
        return [self._referenced(body) for body in found]

    def _referenced(self, body: Any) -> Any:
        names = {}
        for item, value in self.created.items():
            collection = item.rsplit("/", 1)[0].rsplit("/", 1)[-1]
            names[_singular(collection).lower()] = value
        return _fill(body, names)

    def params_for(self, operation: Operation) -> dict[str, str] | None:
        """Path parameters from created resources (None: some cannot be filled)."""
        params: dict[str, str] = {}
        for found in re.finditer(r"\{([^}]+)\}", operation.path):
            prefix = operation.path[: found.end()]
            value = self.created.get(prefix)
            if value is None:
                return None
            params[found.group(1)] = value
        return params


def _singular(name: str) -> str:
    for plural, single in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("s", "")):
        if name.endswith(plural) and len(name) > len(plural):
            return name[: -len(plural)] + single
    return name


def _reference_name(key: str) -> str:
    return re.sub(r"[_-]?(id|slug|uuid|key)$", "", key, flags=re.IGNORECASE).lower()


def _fill(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_fill(v, names) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[Any, Any] = {}
    for key, value in node.items():
        wanted = names.get(_reference_name(str(key))) if isinstance(key, str) else None
        if wanted is not None and isinstance(value, str):
            out[key] = wanted
        elif wanted is not None and isinstance(value, int) and wanted.isdigit():
            out[key] = int(wanted)
        else:
            out[key] = _fill(value, names)
    return out


_FREE_TEXT = ("title", "name", "description", "body", "summary", "text", "comment", "note")


def _retitled(body: Any) -> Any:
    """`body` with its free-text members changed, so an applied change shows on read-back."""
    if isinstance(body, dict):
        return {
            k: f"{v} (changed)" if k in _FREE_TEXT and isinstance(v, str) else _retitled(v)
            for k, v in body.items()
        }
    return body


def _ok(response: requests.Response) -> bool:
    return 200 <= response.status_code < 300


def _json(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def _declared_refusals(operation: Operation) -> tuple[int, ...]:
    declared = tuple(s for s in (403, 404) if any(r.status == str(s) for r in operation.responses))
    return declared or (403, 404)


# --- ownership --------------------------------------------------------------------------


def _create(run: SecurityRun, actor: Actor, group: ResourceGroup) -> tuple[str, str]:
    """Create one as `actor`: ("", why not) or (id, "")."""
    assert group.create is not None
    params = run.params_for(group.create)
    if params is None:
        return "", "its parent resource was not created"
    last: requests.Response | None = None
    for body in run.bodies(group.create):
        last = run.call(actor, group.create, params, json=body)
        if last.status_code in (group.create.success_statuses() or (200, 201)):
            found = id_of(_json(last), group.id_param, last.headers.get("Location"))
            if found is None:
                return "", f"the created {group.name} names no {group.id_param}"
            run.created[group.item] = found
            run.create_bodies[group.item] = body
            if group.delete is not None:
                run.cleanup.append((group.delete, {**params, group.id_param: found}))
            return found, ""
    status = last.status_code if last is not None else "none"
    return "", f"no body was accepted by {group.create.operation_id} (last answer {status})"


def _probe_reason(run: SecurityRun, operation: Operation, kind: str) -> str:
    """Why `operation` is not probed ("" when it is)."""
    if operation.operation_id in run.settings.shared_operations:
        return "shared (contract.security.shared_operations)"
    if not operation.secured:
        return "public: its security allows anonymous callers"
    private = operation.operation_id in run.settings.owner_only
    if kind == "read" and not private and not any(r.status == "403" for r in operation.responses):
        return (
            "a read may be shared: the document declares no 403 for it "
            "(name it in contract.security.owner_only to probe it)"
        )
    return ""


def _created_params(run: SecurityRun, group: ResourceGroup) -> dict[str, str] | None:
    assert group.create is not None
    found = run.created.get(group.item)
    parents = run.params_for(group.create)
    return None if found is None or parents is None else {**parents, group.id_param: found}


def _ownership_creates(run: SecurityRun, first: Actor, group: ResourceGroup) -> None:
    """Create one as the first identity and keep what it reads as."""
    if group.create is None:
        run.skip(group.collection, f"{group.name}: another identity's", "no create operation")
        return
    found, why = _create(run, first, group)
    if not found:
        run.skip(group.create.operation_id, f"{group.name}: another identity's", why)
        return
    params = _created_params(run, group)
    if group.read is not None and params is not None:
        answer = run.call(first, group.read, params)
        run.snapshots[group.item] = _json(answer) if answer.status_code == 200 else None


def _ownership_probes(
    run: SecurityRun, first: Actor, second: Actor, group: ResourceGroup, kinds: tuple[str, ...]
) -> None:
    if group.create is None:
        return
    params = _created_params(run, group)
    if params is None:
        return
    found = params[group.id_param]
    by_kind = {"read": group.read, "change": group.update, "delete": group.delete}
    for kind in kinds:
        operation = by_kind[kind]
        if operation is None:
            continue
        what = (
            f"{group.name}: {second.label} tries to {kind} {first.label}'s "
            f"{_singular(group.name)} {found}"
        )
        reason = _probe_reason(run, operation, kind)
        if reason:
            run.skip(operation.operation_id, what, reason)
            continue
        before = None
        if group.read is not None and kind != "read":
            answer = run.call(first, group.read, params)  # just before: others change it too
            before = _json(answer) if answer.status_code == 200 else None
        _probe(run, first, second, group, operation, kind, params, before, what)


def _still_there(run: SecurityRun, first: Actor, groups: list[ResourceGroup]) -> None:
    """Create again what a probe that should have been refused deleted (real ids below)."""
    for group in groups:
        params = _created_params(run, group) if group.create is not None else None
        if params is None or group.read is None:
            continue
        if run.call(first, group.read, params).status_code != 200:
            run.created.pop(group.item, None)
            _create(run, first, group)


def _probe(
    run: SecurityRun,
    first: Actor,
    second: Actor,
    group: ResourceGroup,
    operation: Operation,
    kind: str,
    params: dict[str, str],
    before: Any,
    what: str,
) -> None:
    answer: requests.Response | None = None
    # A change is tried with the create's body first (readable in a curl), then others.
    bodies = [_retitled(run.create_bodies.get(group.item)), *run.bodies(operation)]
    for body in [b for b in bodies if b is not None] if kind == "change" else [None]:
        kwargs = {"json": body} if body is not None else {}
        answer = run.call(second, operation, params, **kwargs)
        if answer.status_code not in _INVALID:
            break
    assert answer is not None
    exchanges: list[tuple[str, requests.Response | None]] = [(f"as {second.label}", answer)]
    expected = _declared_refusals(operation)
    refusal = " or ".join(map(str, expected))
    op_id = operation.operation_id
    if _ok(answer):
        run.record(
            op_id,
            what,
            False,
            f"{second.label} was allowed to {kind} {first.label}'s {_singular(group.name)} "
            f"{params[group.id_param]}: "
            f"{answer.status_code} (the document declares {refusal} for someone else's)",
            exchanges,
        )
        return
    if answer.status_code >= 500:
        run.record(
            op_id, what, False, f"answered {answer.status_code}: {answer.text[:200]}", exchanges
        )
        return
    if answer.status_code in _INVALID:
        run.skip(op_id, what, f"no body got past validation (last answer {answer.status_code})")
        return
    if kind != "read" and group.read is not None and before is not None:
        after = run.call(first, group.read, params)
        exchanges.append((f"then as {first.label}", after))
        changes = (
            differences(before, _json(after))
            if after.status_code == 200 and kind == "change"
            else []
        )
        if after.status_code != 200 or changes:
            change = "; ".join(changes[:3]) or f"read answered {after.status_code}"
            run.record(
                op_id,
                what,
                False,
                f"refused with {answer.status_code}, yet the {group.name} changed: {change}",
                exchanges,
            )
            return
    note = "" if answer.status_code in expected else f" (the document declares {refusal})"
    run.record(op_id, what, True, f"refused with {answer.status_code}{note}")


# --- the whole run ----------------------------------------------------------------------


def _clean_up(run: SecurityRun, first: Actor) -> None:
    for operation, params in reversed(run.cleanup):
        with contextlib.suppress(requests.RequestException, SessionError):
            run.call(first, operation, params)


def run_security(
    keeper: SessionKeeper,
    document: Document,
    settings: Security | None = None,
    *,
    schema: Any = None,
    show_secrets: bool = False,
    on_step: Callable[[Step], None] | None = None,
) -> list[Step]:
    """Every security check against the server `keeper` talks to; one Step per probe."""
    from contracts.suite.access_checks import anonymous_checks, privilege_checks
    from contracts.suite.token_checks import token_checks

    if schema is None:
        import schemathesis

        schema = schemathesis.openapi.from_dict(document.raw)
    run = SecurityRun(keeper, document, settings or Security(), schema, show_secrets, on_step)
    first = first_actor(keeper)
    try:
        if keeper.plan.has_session and keeper.static_token() is None:
            keeper.login()  # a fresh token: the run's may be near its end
        run.actors.append(first)
        second, why = second_actor(keeper)
    except (SessionError, requests.RequestException) as e:
        run.skip("-", "security checks", f"cannot sign in: {e}")
        return run.steps
    try:
        groups = sorted(infer_resources(document), key=lambda g: g.collection.count("/"))
        if second is None:
            run.skip("-", "ownership: another identity's resources", why)
        else:
            run.actors.append(second)
        for group in groups:
            _ownership_creates(run, first, group)
        if second is not None:
            for group in groups:
                _ownership_probes(run, first, second, group, ("read", "change"))
            for group in reversed(groups):
                _ownership_probes(run, first, second, group, ("delete",))
            _still_there(run, first, groups)
        low = [a for a in (first, second) if a is not None]
        for name, check in (
            ("unauthenticated access", lambda: anonymous_checks(run)),
            ("privileged operations", lambda: privilege_checks(run, low)),
            ("forged and stale tokens", lambda: token_checks(run, first)),
        ):
            try:
                check()
            except (SessionError, requests.RequestException) as e:
                run.record("-", name, False, f"the checks could not go on: {e}")
        _clean_up(run, first)
    finally:
        for actor in run.actors[1:]:
            actor.keeper.close()
    return run.steps
