"""One logical call as locust's statistics count it, for every kind of load user."""

from __future__ import annotations

from locust.env import Environment


def report_call(
    environment: Environment,
    *,
    method: str,
    operation: str,
    elapsed_ms: float,
    user: str,
    error: BaseException | None,
) -> None:
    """Fire locust's request event: named by operationId, so its table reads per
    operation whatever the path's parameters were; the user's tag travels as context."""
    environment.events.request.fire(
        request_type=method,
        name=operation,
        response_time=elapsed_ms,
        response_length=0,
        response=None,
        context={"user": user},
        exception=error,
        url=None,
    )
