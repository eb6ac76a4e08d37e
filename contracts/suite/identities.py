"""The accounts the security checks act as: the suite's own (the first identity), a
second one (the configuration's `auth.identities[1]`, else a throwaway account when
the API can register one), and a privileged one when the configuration names it.

`check_identities(keeper, security)` runs before any case: a second identity that
cannot sign in, or that signs in as the same user as the first, is an
`IdentityError` (the setup turns it into exit 2).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Any

import requests

from contracts.config import Security
from contracts.document import Document
from contracts.suite.forged_tokens import subject
from contracts.suite.session import SessionError, SessionKeeper

_ID_NAMES = ("id", "user_id", "userId", "uid", "sub", "email", "username")


class IdentityError(ValueError):
    """An identity the security checks need cannot be used; the message says which."""


@dataclass
class Actor:
    """One account and its session: `label` says who it is in every finding."""

    label: str
    keeper: SessionKeeper
    token: str | None = None

    def sign_in(self) -> str:
        token = self.keeper.access_token()
        if token is None:
            raise SessionError(f"{self.label}: no session")
        self.token = token
        return token


def _describe(number: int, identity: dict[str, str] | None, what: str = "identity") -> str:
    name = next((identity[k] for k in ("email", "username") if identity and identity.get(k)), "")
    return f"{what} {number} ({name})" if name else f"{what} {number}"


def first_actor(keeper: SessionKeeper) -> Actor:
    return Actor(_describe(1, keeper.identity), keeper)


def _throwaway(keeper: SessionKeeper) -> SessionKeeper:
    plan = replace(keeper.plan, identities=())
    return SessionKeeper(keeper.base_url, plan, keeper.document, keeper.gateway)


def second_actor(keeper: SessionKeeper) -> tuple[Actor | None, str]:
    """The second account, signed in (None and why not when there is none)."""
    plan = keeper.plan
    if keeper.static_token() is not None:
        return None, "the session is a static token: name a second identity's token instead"
    if len(plan.identities) > 1 and plan.login is not None:
        other = keeper.with_identity(plan.identities[1])
        actor = Actor(_describe(2, plan.identities[1]), other)
    elif plan.register is not None:
        other = _throwaway(keeper)
        actor = Actor("a throwaway account", other)
    else:
        return None, "no second identity: add one to auth.identities (or a register role)"
    actor.sign_in()
    if actor.label == "a throwaway account":
        actor.label = _throwaway_label(other)
    return actor, ""


def _throwaway_label(keeper: SessionKeeper, what: str = "a throwaway account") -> str:
    email = (keeper.identity or {}).get("email")
    return f"{what} ({email})" if email else what


def throwaway_actor(keeper: SessionKeeper, what: str) -> Actor | None:
    """A fresh account of its own (None: the API cannot register one)."""
    if keeper.plan.register is None:
        return None
    other = _throwaway(keeper)
    actor = Actor(what, other)
    actor.sign_in()
    actor.label = _throwaway_label(other, what)
    return actor


def privileged_actor(keeper: SessionKeeper, security: Security) -> Actor | None:
    index = security.privileged_identity
    if index is None:
        return None
    identity = keeper.plan.identities[index]
    actor = Actor(
        _describe(index + 1, identity, "privileged identity"), keeper.with_identity(identity)
    )
    actor.sign_in()
    return actor


def who(keeper: SessionKeeper, token: str) -> dict[str, str]:
    """What identifies the user a token acts as: the current user's id-like members, the
    token's subject, the token itself."""
    found: dict[str, str] = {}
    current = keeper.plan.current_user
    if current is not None:
        answer = keeper.call(current, token=token)
        if answer.status_code == 200:
            with contextlib.suppress(ValueError):
                found |= _ids(answer.json())
    sub = subject(token)
    if sub is not None:
        found["token sub"] = sub
    return found


def _ids(body: Any) -> dict[str, str]:
    nodes = [body] + (
        [v for v in body.values() if isinstance(v, dict)] if isinstance(body, dict) else []
    )
    for node in nodes:
        if isinstance(node, dict):
            ids = {
                k: str(node[k]).casefold() for k in _ID_NAMES if isinstance(node.get(k), str | int)
            }
            if ids:
                return ids
    return {}


def check_identities(keeper: SessionKeeper, security: Security, document: Document) -> None:
    """Before any case: the second (and privileged) identities sign in, as other users."""
    for setting in ("shared_operations", "owner_only", "privileged_operations"):
        for operation_id in getattr(security, setting):
            if operation_id not in document.by_id:
                raise IdentityError(
                    f"contract.security.{setting}: the document has no operation {operation_id!r}"
                )
    identities = keeper.plan.identities
    index = security.privileged_identity
    if index is not None and index >= len(identities):
        raise IdentityError(
            f"contract.security.privileged_identity: {index} names no identity "
            f"(auth.identities has {len(identities)})"
        )
    wanted = sorted({i for i in (1, index) if i is not None and i < len(identities)})
    if not wanted or keeper.plan.login is None or keeper.static_token() is not None:
        return
    first_token = keeper.access_token()
    if first_token is None:
        return
    mine = who(keeper, first_token)
    for number in wanted:
        other = keeper.with_identity(identities[number])
        try:
            token = other.login()
        except (SessionError, requests.RequestException) as e:
            raise IdentityError(f"auth.identities.{number} cannot sign in: {e}") from None
        finally:
            other.close()
        theirs = who(keeper, token)
        same = sorted(k for k in mine.keys() & theirs.keys() if mine[k] == theirs[k])
        if token == first_token or same:
            because = f"same {', '.join(same)}" if same else "the same token"
            raise IdentityError(
                f"auth.identities.{number} signs in as the same user as auth.identities.0 "
                f"({because}); the security checks need another account"
            )
