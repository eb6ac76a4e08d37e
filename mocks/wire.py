"""Reading requests and writing responses: JSON bodies and their limits."""

from __future__ import annotations

from mitmproxy import http

from mocks.problems import ProblemError

MAX_BODY_BYTES = 256 * 1024
JSON_TYPE = "application/json"


def json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> http.Response:
    all_headers = {"content-type": JSON_TYPE}
    if headers:
        all_headers.update(headers)
    return http.Response.make(status, body, all_headers)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> http.Response:
    return http.Response.make(status, b"", headers or {})


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_TYPE or (media.startswith("application/") and media.endswith("+json"))


def request_body(flow: http.HTTPFlow) -> bytes:
    body = flow.request.raw_content or b""
    if len(body) > MAX_BODY_BYTES:
        raise ProblemError(
            413, "payload_too_large", f"Request bodies are limited to {MAX_BODY_BYTES} bytes."
        )
    return body


def path_only(flow: http.HTTPFlow) -> str:
    return flow.request.path.split("?", 1)[0]
