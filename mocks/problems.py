"""RFC 9457 problem responses: the only shape of error the mock emits."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from mitmproxy import http

PROBLEM_TYPE_BASE = "urn:api-harness:problem:"


class ProblemError(Exception):
    """Raised anywhere in request handling; becomes a problem response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def to_response(self, instance: str | None = None) -> http.Response:
        return problem_response(
            self.status,
            self.code,
            self.detail,
            headers=self.headers,
            instance=instance,
            **self.extensions,
        )


def status_phrase(status: int) -> str:
    """The reason phrase, also for codes Python has no name for (499, 520, ...)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return {4: "Client Error", 5: "Server Error"}.get(status // 100, "Status")


def problem_body(
    status: int, code: str, detail: str, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": status_phrase(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> http.Response:
    body = json.dumps(problem_body(status, code, detail, instance, **extensions)).encode()
    all_headers = {"content-type": "application/problem+json", "cache-control": "no-store"}
    all_headers.update(headers or {})
    return http.Response.make(status, body, all_headers)
