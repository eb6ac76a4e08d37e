"""The client's errors: the seed's error union as an exception tree.

    ApiError                      kind
    ├── ServerError               serverError          502, 503, 504 and other 5xx
    │   └── InternalServerError   internalServerError  500
    ├── ConnectionTimeout         connectionTimeout    no connection within the connect timeout
    │                                                  (or the attempt's deadline)
    ├── SendTimeout               sendTimeout          writing the request timed out; 408
    ├── ReceiveTimeout            receiveTimeout       no complete response within the read
    │                                                  timeout or the attempt's deadline
    ├── BadRequest                badRequest           400, 422 and other 4xx without a kind
    ├── Unauthorized              unauthorized         401, or the session ended
    ├── Forbidden                 forbidden            403
    ├── NotFound                  notFound             404
    ├── Conflict                  conflict             409
    ├── TooManyRequests           tooManyRequests      429 (the seed's union lacks it)
    ├── NoInternetConnection      noInternetConnection connection refused, reset, DNS failure
    ├── RequestCancelled          requestCancelled     the caller cancelled the call
    └── Unexpected                unexpected           a body that is not what the contract says;
        │                                              a redirect (never followed)
        └── ResponseTooLarge      unexpected           a body over `max_response_bytes`

`ResponseTooLarge` keeps the kind `unexpected` on purpose: the kinds are the
seed's union, which apps switch on and adapters report, and a body larger
than any the contract describes is a response the contract does not allow.
It is never retried (the server would send the same again); Python callers
can still catch it by its class, and it carries the `limit` it broke.

The per-attempt deadline and the call's `deadline_s` add no kind either: they
report the timeout of the phase they cut, `connectionTimeout` while
connecting, `sendTimeout` while sending and `receiveTimeout` while waiting for
or reading the answer (a drip is always the last).

Every error carries a stable `kind` (the seed's names), the HTTP `status` and
the problem `code` when there was a response, a user-facing `message`, and
`attempts`: how many times the call was sent. The error raised is the last
attempt's, never an earlier one's.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    kind: ClassVar[str] = "unexpected"
    user_message: ClassVar[str] = "Something went wrong. Please try again."

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        problem: dict[str, Any] | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code
        self.problem = problem
        self.retry_after = retry_after
        self.attempts = attempts

    @property
    def message(self) -> str:
        """What to show a user."""
        return self.user_message

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "code": self.code,
            "message": self.detail,
            "attempts": self.attempts,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, status={self.status}, {self.detail!r})"


class ServerError(ApiError):
    kind = "serverError"
    user_message = "The service is having trouble. Please try again shortly."


class InternalServerError(ServerError):
    kind = "internalServerError"


class ConnectionTimeout(ApiError):
    kind = "connectionTimeout"
    user_message = "Connection timed out. Please check your internet connection."


class SendTimeout(ApiError):
    kind = "sendTimeout"
    user_message = "Sending took too long. Please try again."


class ReceiveTimeout(ApiError):
    kind = "receiveTimeout"
    user_message = "The service took too long to answer. Please try again."


class BadRequest(ApiError):
    kind = "badRequest"
    user_message = "The request was not accepted."


class Unauthorized(ApiError):
    kind = "unauthorized"
    user_message = "Please sign in again."


class Forbidden(ApiError):
    kind = "forbidden"
    user_message = "You are not allowed to do that."


class NotFound(ApiError):
    kind = "notFound"
    user_message = "Not found."


class Conflict(ApiError):
    kind = "conflict"
    user_message = "That conflicts with the current state. Refresh and try again."


class TooManyRequests(ApiError):
    kind = "tooManyRequests"
    user_message = "Too many requests. Please wait a moment."


class NoInternetConnection(ApiError):
    kind = "noInternetConnection"
    user_message = "No internet connection."


class RequestCancelled(ApiError):
    kind = "requestCancelled"
    user_message = "The request was cancelled."


class Unexpected(ApiError):
    kind = "unexpected"


class ResponseTooLarge(Unexpected):
    """The response (on the wire or inflated) is larger than `max_response_bytes`."""

    def __init__(self, detail: str, *, limit: int, status: int | None = None) -> None:
        super().__init__(detail, status=status)
        self.limit = limit


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    408: SendTimeout,
    409: Conflict,
    429: TooManyRequests,
    500: InternalServerError,
}

ALL_KINDS = tuple(
    cls.kind
    for cls in (
        ServerError,
        ConnectionTimeout,
        SendTimeout,
        ReceiveTimeout,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        InternalServerError,
        NoInternetConnection,
        RequestCancelled,
        Unexpected,
        TooManyRequests,
    )
)


def error_for_status(status: int) -> type[ApiError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    if status >= 400:
        return BadRequest
    return Unexpected
