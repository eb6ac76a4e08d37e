"""Reading requests and writing responses: JSON bodies, limits, bearer tokens."""

from __future__ import annotations

from typing import Any, TypeVar

from mitmproxy import http
from pydantic import BaseModel, ValidationError

from mocks.problems import ProblemError

MAX_BODY_BYTES = 256 * 1024
JSON_TYPE = "application/json"

ModelT = TypeVar("ModelT", bound=BaseModel)


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


def read_model(flow: http.HTTPFlow, model: type[ModelT]) -> ModelT:
    """The request body validated as `model`, or a 4xx problem explaining why not."""
    body = request_body(flow)
    content_type = flow.request.headers.get("content-type", "")
    if not is_json_media_type(content_type):
        raise ProblemError(
            415,
            "unsupported_media_type",
            f"Send the body as {JSON_TYPE}, not {content_type or 'no content type'}.",
        )
    if flow.request.headers.get("content-encoding", "identity").lower() != "identity":
        raise ProblemError(415, "unsupported_media_type", "Compressed bodies are not accepted.")
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise _problem_from(e) from None


def _problem_from(error: ValidationError) -> ProblemError:
    details = error.errors(include_url=False, include_context=False, include_input=False)
    if any(d["type"] == "json_invalid" for d in details):
        return ProblemError(400, "malformed_json", "The body is not valid JSON.")
    errors: list[dict[str, Any]] = [
        {"field": ".".join(str(part) for part in d["loc"]) or "(body)", "message": d["msg"]}
        for d in details
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return ProblemError(422, "validation_failed", f"Invalid body: {summary}.", errors=errors)


def bearer_token(flow: http.HTTPFlow) -> str | None:
    header: str | None = flow.request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def path_only(flow: http.HTTPFlow) -> str:
    return flow.request.path.split("?", 1)[0]
