"""Who may call what, on real ids: every secured operation sent without any
credential (whatever its scheme type: apiKey, http, oauth2, openIdConnect) must
not succeed; operations the configuration or the document's scopes reserve
for a privileged identity must refuse the others.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from contracts.document import Operation
from contracts.suite.identities import Actor, privileged_actor
from contracts.suite.session import Gateway, SessionKeeper, path_of

if TYPE_CHECKING:
    from contracts.suite.security import SecurityRun


def _ok(status: int) -> bool:
    return 200 <= status < 300


# --- unauthenticated access -------------------------------------------------------------


def _anonymous(run: SecurityRun, operation: Operation) -> SessionKeeper:
    """A session-less keeper that sends none of the credentials `operation`'s schemes use."""
    keeper = run.keeper
    schemes = run.document.security_schemes
    names = {n for alt in operation.security for n in alt if n in schemes}
    headers = {(schemes[n].header or "").lower() for n in names} - {""}
    gateway = keeper.gateway
    anonymous = Gateway(
        None if "x-api-key" in headers else gateway.api_key,
        gateway.signing_secret,
        tuple((k, v) for k, v in gateway.headers if k.lower() not in headers),
    )
    plan = replace(keeper.plan, static={}, identities=(), login=None, register=None, oauth=None)
    return SessionKeeper(keeper.base_url, plan, run.document, anonymous)


def _generated(run: SecurityRun, operation: Operation) -> Any:
    from schemathesis import GenerationMode

    try:
        strategy = run.schema.find_operation_by_path(operation.method, operation.path).as_strategy(
            generation_mode=GenerationMode.POSITIVE
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return strategy.example()
    except Exception:  # no case can be made: the probe uses what is known
        return None


_ORDER = {"GET": 0, "HEAD": 0, "OPTIONS": 0, "POST": 1, "PUT": 2, "PATCH": 2, "DELETE": 3}


def anonymous_checks(run: SecurityRun) -> None:
    used = {s.type for s in run.document.schemes_used()}
    if not used:
        run.skip("-", "unauthenticated access", "the document secures no operation")
        return
    secured = [op for op in run.document.operations if op.secured]
    for operation in sorted(secured, key=lambda op: _ORDER.get(op.method, 1)):
        types = ", ".join(
            sorted(
                {
                    f"{n} ({run.document.security_schemes[n].type})"
                    for alt in operation.security
                    for n in alt
                    if n in run.document.security_schemes
                }
            )
        )
        what = f"without credentials ({types})"
        plan = run.keeper.plan
        if run.keeper.deletes_account(operation) or operation == plan.update_current_user:
            run.skip(
                operation.operation_id,
                what,
                "it would close or change whichever account a broken server picks "
                "(the current user's read is probed instead)",
            )
            continue
        case = _generated(run, operation)
        params = dict(getattr(case, "path_parameters", None) or {})
        known = run.params_for(operation)
        real = known is not None
        params |= known or {}
        if any(
            f"{{{p}}}" in operation.path and p not in params
            for p in re.findall(r"\{([^}]+)\}", operation.path)
        ):
            run.skip(operation.operation_id, what, "no value for its path parameters")
            continue
        body = getattr(case, "body", None) if operation.request_media_types else None
        if operation.request_media_types and body is not None:
            body = run._referenced(body)
        query = dict(getattr(case, "query", None) or {})
        keeper = _anonymous(run, operation)
        try:
            kwargs: dict[str, Any] = {"params": query}
            if operation.request_media_types and not isinstance(body, type(None)):
                kwargs["json"] = body
            answer = keeper.send(operation.method, path_of(operation, params), **kwargs)
        finally:
            keeper.close()
        if _ok(answer.status_code):
            run.record(
                operation.operation_id,
                what,
                False,
                f"answered {answer.status_code} to a request with no credentials at all "
                f"(its security requires {types})",
                [("with no credentials", answer)],
            )
        else:
            ids = ""
            if "{" in operation.path:
                ids = " (on a real id)" if real else " (on generated ids)"
            run.record(
                operation.operation_id, what, True, f"refused with {answer.status_code}{ids}"
            )


# --- privilege --------------------------------------------------------------------------


def _reserved(run: SecurityRun) -> list[Operation]:
    scopes = set(run.settings.privileged_scopes)
    found = []
    for operation in run.document.operations:
        by_scope = (
            bool(scopes)
            and bool(operation.security)
            and all(
                any(scopes & set(granted) for granted in alt.values()) for alt in operation.security
            )
        )
        if operation.operation_id in run.settings.privileged_operations or by_scope:
            found.append(operation)
    return found


def privilege_checks(run: SecurityRun, low: list[Actor]) -> None:
    reserved = _reserved(run)
    if not reserved:
        run.skip(
            "-",
            "privileged operations",
            "none named (contract.security.privileged_operations or privileged_scopes)",
        )
        return
    high = privileged_actor(run.keeper, run.settings)
    if high is not None:
        run.actors.append(high)
    for operation in reserved:
        params = run.params_for(operation)
        if params is None:
            case = _generated(run, operation)
            params = {k: str(v) for k, v in (getattr(case, "path_parameters", None) or {}).items()}
        body = run.bodies(operation)[0]
        kwargs = {"json": body} if body is not None else {}
        for actor in low:
            if high is not None and actor.label == high.label:
                continue
            what = f"{actor.label} calls an operation reserved for the privileged identity"
            answer = run.call(actor, operation, params, **kwargs)
            if _ok(answer.status_code):
                run.record(
                    operation.operation_id,
                    what,
                    False,
                    f"{actor.label} was allowed: {answer.status_code}",
                    [(f"as {actor.label}", answer)],
                )
            else:
                run.record(operation.operation_id, what, True, f"refused with {answer.status_code}")
