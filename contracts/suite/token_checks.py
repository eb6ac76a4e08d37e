"""Forged and stale credentials, none of which may succeed: the session token with
its signature altered, cut short, re-headed `alg: none`, its claims changed
(`forged_tokens.py`); the token of a session that logged out; the token of an
account that was deleted (a throwaway one); an expired token, when one can be
made (the harness mock's control API expires tokens; otherwise a short-lived
token is waited for, up to `contract.security.expiry_wait_s`).

Each is sent to one secured read that answers 2xx with the real token (the
current user, else a resource created by the security run).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from contracts.document import Operation
from contracts.suite.forged_tokens import forged_variants, seconds_left
from contracts.suite.identities import Actor, throwaway_actor
from contracts.suite.session import SessionError

if TYPE_CHECKING:
    from contracts.suite.security import SecurityRun

CONTROL_PREFIX = "/__harness"  # the harness mock's control API (docs/mock.md)
EXPIRY_MARGIN_S = 1.5  # waited past a token's exp: clocks differ, exp is whole seconds


def _target(run: SecurityRun, actor: Actor) -> tuple[Operation, dict[str, str]] | None:
    """A secured read that works with `actor`'s token, and its path parameters."""
    plan = run.keeper.plan
    candidates: list[Operation] = []
    if plan.current_user is not None:
        candidates.append(plan.current_user)
    candidates += [op for op in run.document.operations if op.method == "GET" and op.secured]
    for operation in candidates:
        if operation.method != "GET" or not plan.carries_session(operation):
            continue
        params = run.params_for(operation)
        if params is None or any(p.required for p in operation.parameters if p.location == "query"):
            continue
        answer = run.call(actor, operation, params)
        if 200 <= answer.status_code < 300:
            return operation, params
    return None


def _judge(
    run: SecurityRun,
    operation: Operation,
    params: dict[str, str],
    actor: Actor,
    token: str,
    what: str,
    how: str,
) -> None:
    run.extra_secrets.add(token)
    answer = actor.keeper.call(operation, params=params, token=token)
    if 200 <= answer.status_code < 300:
        run.record(
            operation.operation_id,
            what,
            False,
            f"{how} was accepted: {answer.status_code} (as {actor.label})",
            [(f"{how}, {actor.label}'s", answer)],
        )
    else:
        run.record(operation.operation_id, what, True, f"refused with {answer.status_code}")


def _forged(run: SecurityRun, first: Actor, target: tuple[Operation, dict[str, str]]) -> None:
    token = first.sign_in()
    for how, forged in forged_variants(token):
        _judge(run, *target, first, forged, f"forged token: {how}", how)


def _after_logout(run: SecurityRun, first: Actor, target: tuple[Operation, dict[str, str]]) -> None:
    plan = run.keeper.plan
    what = "stale token: after logout"
    if plan.logout is None:
        run.skip("-", what, "no logout role")
        return
    identity = run.keeper.identity
    if identity is None:
        run.skip(plan.logout.operation_id, what, "no identity to sign in again")
        return
    fresh = Actor(first.label, run.keeper.with_identity(identity))
    try:
        token = fresh.keeper.login()
        run.extra_secrets |= fresh.keeper.secrets()
        answer = fresh.keeper.call(plan.logout, token=token)
        if not 200 <= answer.status_code < 300:
            run.skip(plan.logout.operation_id, what, f"logout answered {answer.status_code}")
            return
        _judge(run, *target, fresh, token, what, "a logged-out session's token")
    finally:
        fresh.keeper.close()


def _after_deletion(run: SecurityRun) -> None:
    plan = run.keeper.plan
    what = "stale token: after the account is deleted"
    current = plan.current_user
    delete = next(
        (op for op in run.document.operations if current and run.keeper.deletes_account(op)), None
    )
    if current is None or delete is None:
        why = "no current_user role" if current is None else f"no DELETE on {current.path}"
        run.skip("-", what, f"the document deletes no current user ({why})")
        return
    try:
        actor = throwaway_actor(run.keeper, "a throwaway account")
    except (SessionError, requests.RequestException) as e:
        run.skip(delete.operation_id, what, f"no throwaway account: {e}")
        return
    if actor is None:
        run.skip(delete.operation_id, what, "needs a register role for a throwaway account")
        return
    run.actors.append(actor)
    token = actor.sign_in()
    if not 200 <= actor.keeper.call(current, token=token).status_code < 300:
        run.skip(current.operation_id, what, "the throwaway account cannot read itself")
        return
    answer = actor.keeper.call(delete, token=token)
    if not 200 <= answer.status_code < 300:
        run.skip(delete.operation_id, what, f"deleting the account answered {answer.status_code}")
        return
    _judge(run, current, {}, actor, token, what, "a deleted account's token")


def _control_url(run: SecurityRun) -> str:
    parts = urlsplit(run.keeper.base_url)
    return f"{parts.scheme}://{parts.netloc}{CONTROL_PREFIX}"


def _is_harness_mock(run: SecurityRun) -> bool:
    try:
        answer = requests.get(_control_url(run) + "/clock", timeout=5.0)
        return answer.status_code == 200 and "offset_s" in answer.json()
    except (requests.RequestException, ValueError):
        return False


def _expired(run: SecurityRun, first: Actor, target: tuple[Operation, dict[str, str]]) -> None:
    what = "stale token: expired"
    identity = run.keeper.identity
    if _is_harness_mock(run):
        token = first.sign_in()
        answer = requests.post(_control_url(run) + "/tokens/expire", json={}, timeout=5.0)
        if answer.status_code != 200:
            run.skip("-", what, f"the mock's control API answered {answer.status_code}")
            return
        _judge(run, *target, first, token, what, "an expired token (the mock's tokens/expire)")
        run.keeper.login()  # every token of the mock just expired, the run's too
        return
    if identity is None:
        run.skip("-", what, "no identity to sign in again")
        return
    fresh = Actor(first.label, run.keeper.with_identity(identity))
    try:
        token = fresh.keeper.login()
        left = seconds_left(token)
        wait = run.settings.expiry_wait_s
        if left is None:
            run.skip("-", what, "the token says nothing of its expiry (no JWT exp)")
            return
        if left > wait:
            run.skip(
                "-",
                what,
                f"the token lives {left:.0f} s, longer than contract.security.expiry_wait_s "
                f"({wait:g} s); set it, with a short-lived token on the server, to check",
            )
            return
        time.sleep(max(0.0, left) + EXPIRY_MARGIN_S)
        _judge(run, *target, fresh, token, what, f"a token expired {EXPIRY_MARGIN_S:g} s ago")
    finally:
        fresh.keeper.close()


def token_checks(run: SecurityRun, first: Actor) -> None:
    try:
        target = _target(run, first)
    except (SessionError, requests.RequestException) as e:
        run.skip("-", "forged and stale tokens", f"cannot sign in: {e}")
        return
    if target is None:
        run.skip(
            "-",
            "forged and stale tokens",
            "no secured read without parameters answers 2xx with the session token",
        )
        return
    _forged(run, first, target)
    _after_logout(run, first, target)
    _after_deletion(run)
    _expired(run, first, target)
