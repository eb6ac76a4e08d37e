"""Auth for any document: security enforced as the document declares it, and
the configuration's auth roles served with the mock's token service.

`SpecSecurity` judges every secured operation before faults (the verdict is
enforced after them, by `gate.Enforcement`): with a login or register role
configured, the session scheme's token (in the header, query or cookie the
scheme names, after the configured prefix: `Token`, `Bearer`...) must be a
valid access token of `mocks/tokens.py`; without one, a credential must only
be present (tokens minted through the control API still expire and revoke).

`SpecAuthEndpoints` answers the roles: register creates an account, login
checks the configured identities and registered accounts, refresh rotates
(with reuse detection), logout revokes, current_user answers the account.
The configuration's body templates say where credentials are in a request
(`{"user": {"email": "{email}"}}`) and pointers where tokens go in answers.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from mitmproxy import http

from contracts.config import TokenExchange
from contracts.document import SecurityScheme
from mocks.breakage import anonymous_user, forged_tokens_accepted, parse_flaws
from mocks.notes import RequestNote, note
from mocks.spec_accounts import SECRET_FIELDS, Accounts
from mocks.spec_answers import fit, get_pointer, respond, set_pointer
from mocks.spec_api import OperationPlan, SpecApi
from mocks.spec_routes import BODY_KEY, error_response, plan_of
from mocks.state import MockState
from mocks.tokens import IssuedTokens, TokenState

_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_TOKEN_NAMES = ("token", "access_token", "accessToken", "jwt", "id_token")
_REFRESH_NAMES = ("refresh_token", "refreshToken")
_EXPIRY_NAMES = ("expires_in", "expiresIn")
REALM = "api"  # the protection space named in every challenge (RFC 9110 11.6.1)


def placeholders(template: Any, here: str = "") -> dict[str, str]:
    """{field: JSON pointer} of the `{field}` strings in a body template."""
    found: dict[str, str] = {}
    if isinstance(template, dict):
        for key, value in template.items():
            found |= placeholders(value, f"{here}/{key}")
    elif isinstance(template, str):
        match = _PLACEHOLDER.match(template)
        if match:
            found[match.group(1)] = here
    return found


def _find_key(value: Any, names: tuple[str, ...], here: str = "", depth: int = 0) -> str | None:
    """The pointer of the first property with one of `names`, breadth first."""
    if not isinstance(value, dict) or depth > 4:
        return None
    for name in names:
        if name in value:
            return f"{here}/{name}"
    for key, child in value.items():
        found = _find_key(child, names, f"{here}/{key}", depth + 1)
        if found:
            return found
    return None


class SessionPolicy:
    """Which scheme carries the session token, with which prefix, and how hard it is judged."""

    def __init__(self, api: SpecApi) -> None:
        auth = api.config.auth
        schemes = api.document.security_schemes
        used = [s for s in api.document.schemes_used() if s.carries_token]
        self.scheme: SecurityScheme | None = schemes.get(auth.scheme or "") or (
            used[0] if used else None
        )
        default = "Bearer" if self.scheme is not None and self.scheme.type != "apiKey" else ""
        self.prefix = auth.prefix if auth.prefix is not None else default
        self.sessions = any(r in api.roles_by_name for r in ("login", "register"))

    def token(self, flow: http.HTTPFlow, scheme: SecurityScheme) -> str | None:
        """The credential the scheme carries (without its prefix), or None if absent."""
        raw = _presented(flow, scheme)
        if raw is None:
            return None
        prefix = self.prefix if scheme is self.scheme else _default_prefix(scheme)
        if prefix:
            given, _, rest = raw.partition(" ")
            if given.lower() != prefix.lower() or not rest.strip():
                # Another scheme's credentials, or the prefix alone: this scheme's are
                # missing (RFC 6750 3.1: no error code for a request without them).
                return None
            return rest.strip()
        return raw.strip()

    def challenge(self, state: TokenState | None = None) -> str | None:
        """The `WWW-Authenticate` value a 401 carries, in the session scheme's own
        name (`Bearer realm="api"`); for a bearer token that was presented and
        refused, RFC 6750's `error="invalid_token"` and the reason. None when the
        scheme has no challenge (an API key without a prefix)."""
        if self.scheme is None:
            return None
        name = self.prefix if self.scheme.type == "apiKey" else _default_prefix(self.scheme)
        if not name:
            return None
        value = f'{name} realm="{REALM}"'
        refused = state not in (None, TokenState.MISSING, TokenState.VALID)
        if state is not None and refused and name.lower() == "bearer":
            value += f', error="invalid_token", error_description="{state.value}"'
        return value


def _default_prefix(scheme: SecurityScheme) -> str:
    if scheme.type == "http":
        return (scheme.scheme or "bearer").capitalize()
    return "Bearer" if scheme.type in ("oauth2", "openIdConnect") else ""


def _presented(flow: http.HTTPFlow, scheme: SecurityScheme) -> str | None:
    if scheme.type == "apiKey":
        name = scheme.parameter or ""
        if scheme.location == "query":
            from urllib.parse import parse_qs

            values = parse_qs(flow.request.path.partition("?")[2]).get(name)
            return values[0] if values else None
        if scheme.location == "cookie":
            return flow.request.cookies.get(name)
        return flow.request.headers.get(name)
    if scheme.type == "mutualTLS":
        return "tls"
    return flow.request.headers.get("authorization")


class SpecSecurity:
    def __init__(
        self, api: SpecApi, state: MockState, policy: SessionPolicy, accounts: Accounts
    ) -> None:
        self._api = api
        self._state = state
        self._policy = policy
        self._accounts = accounts
        schemes = api.document.security_schemes
        self._alternatives = {
            op_id: [[schemes[name] for name in alt if name in schemes] for alt in plan.op.security]
            for op_id, plan in api.plans.items()
            if plan.op.secured
        }

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        plan = plan_of(flow)
        if plan is None:
            return
        alternatives = self._alternatives.get(plan.op.operation_id)
        if alternatives is None:
            return
        n = note(flow)
        flaws = parse_flaws(self._state.settings.breakage)  # the broken profile, if asked
        verify = not forged_tokens_accepted(flaws)
        state = TokenState.MISSING
        for alternative in alternatives:
            state = self._judge(flow, n, alternative, verify)
            if state is TokenState.VALID:
                return
        anonymous = self._accounts.first_id() if anonymous_user(flaws) else None
        if state is TokenState.MISSING and anonymous is not None and plan.role != "logout":
            n.user_id = anonymous
            return
        if n.rejection is None:
            n.rejection = _Rejection(self._api, plan, state, self._policy.challenge(state))

    def _judge(
        self,
        flow: http.HTTPFlow,
        n: RequestNote,
        alternative: list[SecurityScheme],
        verify: bool = True,
    ) -> TokenState:
        for scheme in alternative:
            value = self._policy.token(flow, scheme)
            if not value:
                state = TokenState.MISSING if value is None else TokenState.INVALID
                if scheme is self._policy.scheme:  # the journal's evidence, as for a token
                    n.token_state = state.value
                return state
            if scheme is not self._policy.scheme:
                continue
            check = self._state.tokens.check_access(value, verify_signature=verify)
            verdict = check.state
            if verdict is TokenState.VALID and self._accounts.is_closed(check.user_id):
                verdict = TokenState.REVOKED  # the account is closed
            n.token_state, n.token_id = verdict.value, check.token_id
            if verdict is TokenState.VALID:
                n.user_id, n.session_id = check.user_id, check.session_id
            elif self._policy.sessions or verdict is not TokenState.INVALID:
                return verdict
        return TokenState.VALID


class _Rejection:
    """A deferred 401 in the operation's shape (`Enforcement` calls `to_response`)."""

    def __init__(
        self, api: SpecApi, plan: OperationPlan, state: TokenState, challenge: str | None
    ) -> None:
        # A 401 even where the document forgot to declare one: clients act on it.
        self._shape = api.error(plan, (401, 403), nearest=False)
        self.state = state
        self._challenge = challenge

    def to_response(self) -> http.Response:
        reason = {
            TokenState.MISSING: "This operation needs credentials.",
            TokenState.INVALID: "The credentials are malformed or not issued by this server.",
            TokenState.EXPIRED: "The access token has expired.",
            TokenState.REVOKED: "The access token's session has ended.",
        }.get(self.state, "Not authorised.")
        headers = {"WWW-Authenticate": self._challenge} if self._challenge else {}
        return error_response(self._shape, f"token_{self.state.value}", reason, headers)


class SpecAuthEndpoints:
    """The configuration's auth roles, answered with real sessions."""

    def __init__(
        self, api: SpecApi, state: MockState, accounts: Accounts, policy: SessionPolicy
    ) -> None:
        self._api = api
        self._state = state
        self._accounts = accounts
        self._policy = policy
        auth = api.config.auth
        self._exchanges: dict[str, TokenExchange | None] = {
            "login": auth.login,
            "register": auth.register or auth.login,
            "refresh": auth.refresh,
        }
        self._roles: dict[str, str] = {op_id: role for role, op_id in api.roles_by_name.items()}
        # A DELETE on the current user's path closes the account (as the contract
        # suite reads the document): its tokens stop working.
        current = api.plans.get(api.roles_by_name.get("current_user", ""))
        current_path = current.op.path if current is not None else None
        for plan in api.plans.values():
            if (plan.op.method, plan.op.path) == ("DELETE", current_path):
                self._roles.setdefault(plan.op.operation_id, "delete_current_user")

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        plan = plan_of(flow)
        role = self._roles.get(plan.op.operation_id) if plan is not None else None
        if (
            plan is None
            or role is None
            or role
            not in (
                "login",
                "register",
                "refresh",
                "logout",
                "current_user",
                "update_current_user",
                "delete_current_user",
            )
        ):
            return
        n = note(flow)
        body = flow.metadata.get(BODY_KEY)
        flow.response = getattr(self, "_" + role)(
            flow, plan, n, body if isinstance(body, dict) else {}
        )

    def _credentials(self, role: str, body: dict[str, Any]) -> dict[str, Any]:
        exchange = self._exchanges.get(role)
        pointers = placeholders(exchange.body) if exchange is not None and exchange.body else {}
        if pointers:
            return {
                name: get_pointer(body, ptr)
                for name, ptr in pointers.items()
                if get_pointer(body, ptr) is not None
            }
        inner = (
            next((v for v in body.values() if isinstance(v, dict)), None)
            if len(body) == 1
            else None
        )
        return dict(inner or body)

    def _tokens_answer(
        self,
        plan: OperationPlan,
        role: str,
        issued: IssuedTokens,
        account: dict[str, Any],
        n: RequestNote,
    ) -> http.Response:
        n.user_id, n.session_id = account["_id"], issued.session_id
        n.effect = {
            "kind": "session_started",
            "session": issued.session_id,
            "access_token": issued.access_id,
            "refresh_token": issued.refresh_id,
        }
        return respond(
            plan.success,
            self._with_session(plan, role, account, issued.access_token, issued),
            {"cache-control": "no-store"},
        )

    def _with_session(
        self,
        plan: OperationPlan,
        role: str,
        account: dict[str, Any],
        access: str | None,
        issued: IssuedTokens | None,
        *,
        remember: bool = False,
    ) -> Any:
        """The answer with the account's fields and the session's tokens in it;
        `remember`: the account keeps the generated fields it lacked (`created_at`), so
        that every later answer about it shows the same."""
        answer = plan.success
        body = fit(answer.body, {}, answer.schema, None) if answer.body is not None else {}
        if not isinstance(body, dict | list):
            return body
        body = copy.deepcopy(body)
        exchange = self._exchanges.get(role) or self._exchanges.get("login")
        pointers = placeholders(exchange.body) if exchange is not None and exchange.body else {}
        for name, ptr in pointers.items():
            if name not in SECRET_FIELDS and name in account:
                _set_valid(body, ptr, account[name], answer)
                parent = ptr.rsplit("/", 1)[0]
                holder = get_pointer(body, parent) if parent else body
                if remember and isinstance(holder, dict):
                    lacking = {
                        key: value
                        for key, value in holder.items()
                        if key not in account and key not in _TOKEN_NAMES + SECRET_FIELDS
                    }
                    if lacking:
                        self._accounts.keep(account, lacking)
                for key, value in account.items():  # the account's other fields beside it
                    if isinstance(holder, dict) and key in holder and key not in SECRET_FIELDS:
                        _set_valid(body, f"{parent}/{key}", value, answer)
        token_ptr = (exchange.token if exchange else None) or _find_key(body, _TOKEN_NAMES)
        if access is not None and token_ptr:
            _set_valid(body, token_ptr, access, answer)
        if issued is not None:
            refresh_ptr = (exchange.refresh_token if exchange else None) or _find_key(
                body, _REFRESH_NAMES
            )
            if refresh_ptr:
                _set_valid(body, refresh_ptr, issued.refresh_token, answer)
            expiry_ptr = (exchange.expires_in if exchange else None) or _find_key(
                body, _EXPIRY_NAMES
            )
            if expiry_ptr:
                _set_valid(body, expiry_ptr, issued.expires_in, answer)
        return body

    def _refused(
        self, plan: OperationPlan, statuses: tuple[int, ...], code: str, reason: str
    ) -> http.Response:
        shape = self._api.error(plan, statuses)
        challenge = self._policy.challenge() if shape.status == 401 else None
        return error_response(
            shape, code, reason, {"WWW-Authenticate": challenge} if challenge else None
        )

    def _login(
        self, flow: http.HTTPFlow, plan: OperationPlan, n: RequestNote, body: dict[str, Any]
    ) -> http.Response:
        account = self._accounts.check(self._credentials("login", body))
        if account is None:
            return self._refused(
                plan,
                (401, 400, 403, 422),
                "invalid_credentials",
                "The login name or password is wrong.",
            )
        issued = self._state.tokens.start_session(account["_id"])
        return self._tokens_answer(plan, "login", issued, account, n)

    def _register(
        self, flow: http.HTTPFlow, plan: OperationPlan, n: RequestNote, body: dict[str, Any]
    ) -> http.Response:
        fields = self._credentials("register", body)
        if self._accounts.add(fields) is None:  # it names the new account's `_id` in `fields`
            return self._taken(plan, Accounts.login_field(fields))
        issued = self._state.tokens.start_session(fields["_id"])
        return self._tokens_answer(plan, "register", issued, fields, n)

    def _refresh(
        self, flow: http.HTTPFlow, plan: OperationPlan, n: RequestNote, body: dict[str, Any]
    ) -> http.Response:
        fields = self._credentials("refresh", body)
        token = fields.get("refresh_token") or get_pointer(
            body, _find_key(body, _REFRESH_NAMES) or "/-"
        )
        result = self._state.tokens.refresh(str(token or ""))
        if result.issued is None:
            reason = result.failure.value if result.failure else "unknown"
            n.effect = {
                "kind": "refresh_rejected",
                "refresh_token": result.presented_id,
                "reason": reason,
            }
            if result.revoked_session:
                n.effect["revoked_session"] = result.revoked_session
            return self._refused(
                plan, (401, 400, 403), "invalid_grant", f"The refresh token is {reason}."
            )
        issued = result.issued
        user = self._state.tokens.session_user(issued.session_id)
        account = self._accounts.by_id(user) or {"_id": user}
        n.user_id, n.session_id = user, issued.session_id
        n.effect = {
            "kind": "refresh",
            "session": issued.session_id,
            "from_refresh_token": result.presented_id,
            "refresh_token": issued.refresh_id,
            "access_token": issued.access_id,
        }
        return respond(
            plan.success,
            self._with_session(plan, "refresh", account, issued.access_token, issued),
            {"cache-control": "no-store"},
        )

    def _logout(
        self, flow: http.HTTPFlow, plan: OperationPlan, n: RequestNote, body: dict[str, Any]
    ) -> http.Response:
        if n.session_id is not None:
            self._state.tokens.logout(n.session_id)
            n.effect = {"kind": "logout", "session": n.session_id}
        return respond(plan.success)

    def _current_user(
        self, flow: http.HTTPFlow, plan: OperationPlan, n: RequestNote, body: dict[str, Any]
    ) -> http.Response:
        account = self._accounts.by_id(n.user_id)
        if account is None:
            return respond(plan.success)
        presented = self._policy.token(flow, self._policy.scheme) if self._policy.scheme else None
        body = self._with_session(plan, "login", account, presented, None, remember=True)
        return respond(plan.success, body)

    def _update_current_user(
        self, flow: http.HTTPFlow, plan: OperationPlan, n: RequestNote, body: dict[str, Any]
    ) -> http.Response:
        """The signed-in account takes the fields sent (its login name too, unless
        another account has it: 409); the current user's answer shows them after."""
        account = self._accounts.by_id(n.user_id)
        if account is None:
            return respond(plan.success)
        clash = self._accounts.update(account, self._credentials("update_current_user", body))
        if clash is not None:
            return self._taken(plan, clash)
        n.effect = {"kind": "user_updated", "id": account["_id"]}
        return self._current_user(flow, plan, n, body)

    def _delete_current_user(
        self, flow: http.HTTPFlow, plan: OperationPlan, n: RequestNote, body: dict[str, Any]
    ) -> http.Response:
        account = self._accounts.by_id(n.user_id)
        if account is not None:
            self._accounts.delete(account)
            n.effect = {"kind": "user_deleted", "id": account["_id"]}
        return respond(plan.success)

    def _taken(self, plan: OperationPlan, login_field: str | None) -> http.Response:
        code = f"{login_field}_taken" if login_field else "account_exists"
        what = f"the {login_field} " if login_field else "this name "
        return self._refused(plan, (409, 422, 400), code, f"An account with {what}exists already.")


def _set_valid(body: Any, pointer: str, value: Any, answer: Any) -> None:
    """Put `value` where the answer already has a member: never add one the answer
    lacks (a login's e-mail in a token pair, the token in a profile)."""
    before = get_pointer(body, pointer)
    if before is None and not _present(body, pointer):
        return
    if (
        set_pointer(body, pointer, value)
        and answer.schema is not None
        and not answer.schema.is_valid(body)
    ):
        set_pointer(body, pointer, before)


def _present(body: Any, pointer: str) -> bool:
    parent, _, last = pointer.rpartition("/")
    holder = get_pointer(body, parent) if parent else body
    return isinstance(holder, dict) and last.replace("~1", "/").replace("~0", "~") in holder
