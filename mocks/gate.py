"""The gateway: API key and request-signature checks, and enforcement.

The checks (`Gate` here, `Authentication` in auth.py) run before faults and
only record their verdict, so that every attempt is journaled with its key,
signature and token state, faulted or not. `Enforcement` runs after faults
and answers with the first rejection: a fault applies whether or not the
request would have passed, as a quick `curl` expects.

Gate failures answer 403 (not 401) on purpose: they are not about the bearer
token, and a client must not answer them by refreshing its session.
"""

from __future__ import annotations

import hmac

from mitmproxy import http

from contracts.signing import API_KEY_HEADER
from mocks import signing
from mocks.notes import note
from mocks.problems import ProblemError
from mocks.state import MockState
from mocks.wire import request_body

_SIGNATURE_DETAILS = {
    signing.SignatureState.MISSING: "X-App-Timestamp, X-App-Nonce and X-App-Signature "
    "are required.",
    signing.SignatureState.MALFORMED: "X-App-Timestamp must be Unix time; nonces are at most "
    f"{signing.MAX_NONCE_LENGTH} characters.",
    signing.SignatureState.STALE: "X-App-Timestamp is too far from the server's clock.",
    signing.SignatureState.INVALID: "X-App-Signature does not match the request.",
    signing.SignatureState.REPLAYED: "X-App-Nonce was used before; every request needs a new one.",
}


class Gate:
    def __init__(self, state: MockState) -> None:
        self._state = state

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or note(flow).operation is None:
            return
        try:
            self._check_api_key(flow)
            self._check_signature(flow)
        except ProblemError as problem:
            note(flow).rejection = problem

    def _check_api_key(self, flow: http.HTTPFlow) -> None:
        expected = self._state.settings.api_key
        if expected is None:
            return
        n = note(flow)
        presented = flow.request.headers.get(API_KEY_HEADER)
        if presented is None:
            n.api_key = "missing"
            raise ProblemError(403, "missing_api_key", f"The {API_KEY_HEADER} header is required.")
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            n.api_key = "invalid"
            raise ProblemError(403, "invalid_api_key", f"The {API_KEY_HEADER} is not valid.")
        n.api_key = "valid"

    def _check_signature(self, flow: http.HTTPFlow) -> None:
        settings = self._state.settings
        if not settings.signing:
            return
        n = note(flow)
        headers = flow.request.headers
        result = signing.verify(
            secret=settings.signing_secret,
            skew_s=settings.signature_skew_s,
            nonces=self._state.nonces,
            method=flow.request.method,
            path=flow.request.path,
            body=request_body(flow),
            timestamp=headers.get(signing.TIMESTAMP_HEADER),
            nonce=headers.get(signing.NONCE_HEADER),
            signature=headers.get(signing.SIGNATURE_HEADER),
        )
        n.signature = result.value
        if result is not signing.SignatureState.VALID:
            raise ProblemError(403, f"signature_{result.value}", _SIGNATURE_DETAILS[result])


class Enforcement:
    """After faults: a request a check rejected gets that rejection."""

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        rejection = note(flow).rejection
        if rejection is not None:
            flow.response = rejection.to_response()
