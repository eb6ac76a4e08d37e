"""Auth, as two addons: the bearer check in front of every secured operation
(`Authentication`), and the /v1/auth endpoints (`AuthEndpoints`).

They are apart because faults sit between them: a backend's auth gateway
judges the token before the backend fails, and a fault may still hit the
refresh endpoint. The token rules themselves (rotation, reuse detection,
expiry on the virtual clock) live in `mocks/tokens.py`.
"""

from __future__ import annotations

from mitmproxy import http

from contracts import models
from contracts.operations import BY_ID
from mocks.breakage import anonymous_user, forged_tokens_accepted, parse_flaws
from mocks.handlers import OperationHandlers
from mocks.notes import RequestNote, note
from mocks.problems import ProblemError
from mocks.state import MockState
from mocks.store import EmailTaken
from mocks.tokens import IssuedTokens, TokenState
from mocks.wire import bearer_token, empty_response, json_response, read_model

REALM = 'Bearer realm="api"'
_TOKEN_DETAILS = {
    TokenState.MISSING: "This operation needs an Authorization: Bearer access token.",
    TokenState.INVALID: "The access token is malformed or not signed by this server.",
    TokenState.EXPIRED: "The access token has expired; refresh it.",
    TokenState.REVOKED: "The access token's session has ended; log in again.",
}
_REFRESH_DETAILS = {
    "unknown": "The refresh token is not known.",
    "expired": "The refresh token has expired; log in again.",
    "reused": "The refresh token was already used; the session is revoked.",
    "revoked": "The refresh token's session has ended; log in again.",
}


def _token_body(issued: IssuedTokens) -> bytes:
    return (
        models.TokenResponse(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_in=issued.expires_in,
        )
        .model_dump_json()
        .encode()
    )


class Authentication:
    """Every secured operation needs a valid access token; records which it carried."""

    def __init__(self, state: MockState) -> None:
        self._state = state

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        n = note(flow)
        if n.operation is None or not BY_ID[n.operation].secured:
            return
        try:
            self._authenticate(flow, n)
        except ProblemError as problem:
            if n.rejection is None:  # the gate's verdict comes first
                n.rejection = problem

    def _authenticate(self, flow: http.HTTPFlow, n: RequestNote) -> None:
        flaws = parse_flaws(self._state.settings.breakage)
        check = self._state.tokens.check_access(
            bearer_token(flow), verify_signature=not forged_tokens_accepted(flaws)
        )
        n.token_state = check.state.value
        anonymous = anonymous_user(flaws) if n.operation != "logout" else None
        if check.state is TokenState.MISSING and anonymous is not None:
            n.user_id = anonymous
            return
        n.token_id = check.token_id
        if check.state is not TokenState.VALID:
            challenge = REALM
            if check.state is not TokenState.MISSING:
                challenge += f', error="invalid_token", error_description="{check.state.value}"'
            raise ProblemError(
                401,
                f"token_{check.state.value}",
                _TOKEN_DETAILS[check.state],
                headers={"WWW-Authenticate": challenge},
            )
        n.user_id = check.user_id
        n.session_id = check.session_id


class AuthEndpoints(OperationHandlers):
    """register, login, refresh and logout."""

    def __init__(self, state: MockState) -> None:
        self._state = state
        super().__init__(
            {
                "register": self._register,
                "login": self._login,
                "refresh": self._refresh,
                "logout": self._logout,
            }
        )

    def _started(self, n: RequestNote, issued: IssuedTokens, status: int) -> http.Response:
        n.user_id = self._state.tokens.session_user(issued.session_id)
        n.session_id = issued.session_id
        n.effect = {
            "kind": "session_started",
            "session": issued.session_id,
            "access_token": issued.access_id,
            "refresh_token": issued.refresh_id,
        }
        return json_response(status, _token_body(issued), {"cache-control": "no-store"})

    def _register(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        body = read_model(flow, models.RegisterRequest)
        try:
            user = self._state.store.create_user(
                body.email, body.password, body.name, self._state.clock.now_datetime()
            )
        except EmailTaken:
            raise ProblemError(
                409, "email_taken", "An account with this email already exists."
            ) from None
        return self._started(n, self._state.tokens.start_session(user.id), 201)

    def _login(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        body = read_model(flow, models.LoginRequest)
        user = self._state.store.authenticate(body.email, body.password)
        if user is None:
            raise ProblemError(
                401,
                "invalid_credentials",
                "The email or password is wrong.",
                headers={"WWW-Authenticate": REALM},
            )
        return self._started(n, self._state.tokens.start_session(user.id), 200)

    def _refresh(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        body = read_model(flow, models.RefreshRequest)
        result = self._state.tokens.refresh(body.refresh_token)
        if result.issued is None:
            reason = result.failure.value if result.failure else "unknown"
            n.effect = {
                "kind": "refresh_rejected",
                "refresh_token": result.presented_id,
                "reason": reason,
            }
            if result.revoked_session:
                n.effect["revoked_session"] = result.revoked_session
            raise ProblemError(
                401,
                "invalid_grant",
                _REFRESH_DETAILS[reason],
                headers={"WWW-Authenticate": REALM},
            )
        issued = result.issued
        n.session_id = issued.session_id
        n.user_id = self._state.tokens.session_user(issued.session_id)
        n.effect = {
            "kind": "refresh",
            "session": issued.session_id,
            "from_refresh_token": result.presented_id,
            "refresh_token": issued.refresh_id,
            "access_token": issued.access_id,
        }
        return json_response(200, _token_body(issued), {"cache-control": "no-store"})

    def _logout(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        assert n.session_id is not None  # set by _authenticate
        self._state.tokens.logout(n.session_id)
        n.effect = {"kind": "logout", "session": n.session_id}
        return empty_response(204)
