"""Checks beyond schema conformance, each applied where the document declares
what it checks, for any API.

Each is a plain schemathesis check `(ctx, response, case)` that returns None
or raises `ContractViolation` (an AssertionError) saying what the document
promises and what the server did. The ones that send requests of their own
(Location, Idempotency-Key) do so through the running suite's session and do
nothing outside a suite run.

- `problem_details`: where the document declares `application/problem+json`
  for an error status, the answer is an RFC 9457 problem whose `status` agrees;
- `retry_after`: where a 429/503 declares `Retry-After`, it is there, as
  delay-seconds or an HTTP-date;
- `pagination_headers`: where a page declares `X-Total-Count` and `Link`, the
  count, the page's length and the links agree;
- `location_readable`: where a 201 declares `Location`, it reads what was created;
- `idempotent_replay`: where an operation declares an `Idempotency-Key` header,
  the same key and body replay the first answer, the key with another body gets 422.

"No 5xx for any generated input" is schemathesis's own `not_a_server_error`,
which the suite enables with every other built-in check.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import requests
import schemathesis
from schemathesis.checks import CHECKS as REGISTRY

from contracts.document import PROBLEM_MEDIA_TYPE, Document, Operation
from contracts.suite.active import active
from contracts.suite.session import token_in

PROBLEM_MEMBERS = {"type": str, "title": str, "detail": str, "instance": str}
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAGE_PARAMS = ("page",)
SIZE_PARAMS = ("page_size", "per_page", "pageSize", "size", "limit")
_DELTA_SECONDS = re.compile(r"^[0-9]+$")


class ContractViolation(AssertionError):
    """A response breaks a promise of the document; the message says which and how."""


def operation_id(case: Any) -> str | None:
    raw = getattr(case.operation.definition, "raw", None)
    found = raw.get("operationId") if isinstance(raw, dict) else None
    return found if isinstance(found, str) else None


def document_operation(case: Any) -> Operation | None:
    """The running suite's view of the case's operation."""
    keeper = active()
    if keeper is None or keeper.document is None:
        return None
    return _operations(keeper.document).get((case.operation.method.upper(), case.operation.path))


_INDEX: dict[int, dict[tuple[str, str], Operation]] = {}


def _operations(document: Document) -> dict[tuple[str, str], Operation]:
    index = _INDEX.get(id(document))
    if index is None:
        index = _INDEX[id(document)] = {(op.method, op.path): op for op in document.operations}
    return index


def header(response: Any, name: str) -> str | None:
    """A response header's first value, whatever the container's case and shape."""
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            if isinstance(value, list):
                return str(value[0]) if value else None
            return str(value)
    return None


def _json(response: Any, what: str) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise ContractViolation(f"{what} is not JSON: {response.content[:200]!r}") from None


# --- checks on one response ---------------------------------------------------------


def problem_details(ctx: Any, response: Any, case: Any) -> None:
    """Where the document declares problem+json for an error, the answer is a problem."""
    status = response.status_code
    op = document_operation(case)
    declared = op.response(status) if op is not None and status >= 400 else None
    if declared is None or PROBLEM_MEDIA_TYPE not in declared.media_types:
        return
    content_type = header(response, "Content-Type") or ""
    if content_type.split(";")[0].strip().lower() != PROBLEM_MEDIA_TYPE:
        raise ContractViolation(
            f"{status} answered as {content_type or 'no content type'!r}; the document declares "
            f"{PROBLEM_MEDIA_TYPE} (RFC 9457)"
        )
    body = _json(response, f"the {status} problem body")
    if not isinstance(body, dict):
        raise ContractViolation(f"the {status} problem body is not a JSON object: {body!r}")
    if "status" in body and body["status"] != status:
        raise ContractViolation(
            f"the problem says status {body['status']!r}, the response {status}"
        )
    for member, kind in PROBLEM_MEMBERS.items():
        if member in body and not isinstance(body[member], kind):
            raise ContractViolation(f"the problem's {member} is not a string: {body[member]!r}")


def retry_after(ctx: Any, response: Any, case: Any) -> None:
    """Where a 429/503 declares `Retry-After`: it is there, delay-seconds or an HTTP-date."""
    status = response.status_code
    op = document_operation(case)
    if status not in (429, 503) or op is None:
        return
    if not op.declares_response_header("Retry-After", (status,)):
        return
    value = header(response, "Retry-After")
    if value is None:
        raise ContractViolation(f"{status} without Retry-After, which the document declares")
    value = value.strip()
    if _DELTA_SECONDS.match(value):
        return
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise ContractViolation(
            f"{status} with Retry-After {value!r}: neither delay-seconds nor an HTTP-date"
        ) from None


def _page_params(op: Operation) -> tuple[str, str, int | None] | None:
    page = next((p for p in PAGE_PARAMS if op.parameter(p, "query")), None)
    size = next((p for p in SIZE_PARAMS if op.parameter(p, "query")), None)
    if page is None or size is None:
        return None
    declared = op.parameter(size, "query")
    default = declared.schema.get("default") if declared is not None else None
    return page, size, default if isinstance(default, int) else None


def _links(value: str) -> dict[str, dict[str, str]]:
    links: dict[str, dict[str, str]] = {}
    for link in httpx.Response(200, headers={"Link": value}).links.values():
        rel, url = link.get("rel"), link.get("url", "")
        if rel:
            links[rel] = dict(httpx.URL(url).params.multi_items()) if url else {}
    return links


def pagination_headers(ctx: Any, response: Any, case: Any) -> None:
    """Where a page declares X-Total-Count and Link: count, length and links agree."""
    op = document_operation(case)
    if op is None or response.status_code != 200:
        return
    if not (
        op.declares_response_header("X-Total-Count", (200,))
        and op.declares_response_header("Link", (200,))
    ):
        return
    names = _page_params(op)
    if names is None:
        return
    page_name, size_name, default_size = names
    query = {str(k): str(v) for k, v in (case.query or {}).items()}
    try:
        page = int(query.get(page_name, 1))
        size = int(query[size_name]) if size_name in query else default_size
    except ValueError:
        return  # a 200 for a malformed page is negative_data_rejection's business
    if size is None or size < 1 or page < 1:
        return
    raw_total = header(response, "X-Total-Count")
    if raw_total is None or not raw_total.strip().isdigit():
        raise ContractViolation(f"X-Total-Count {raw_total!r} is not a count")
    total = int(raw_total)
    items = _json(response, "the page")
    if not isinstance(items, list):
        return  # a wrapped page: the count is the schema's business
    last = max(1, -(-total // size))
    expected = size if page < last else total - (last - 1) * size if page == last else 0
    if len(items) != expected:
        raise ContractViolation(
            f"page {page} of size {size} holds {len(items)} items, but X-Total-Count "
            f"{total} means it should hold {expected}"
        )
    links = _links(header(response, "Link") or "")
    wanted = {"first": 1, "last": last} | ({"next": page + 1} if page < last else {})
    for rel, target in wanted.items():
        shown = links.get(rel, {}).get(page_name)
        if shown != str(target):
            raise ContractViolation(
                f"Link rel={rel} points at page {shown}, but X-Total-Count {total} with "
                f"{size_name} {size} puts it at page {target}"
            )
    if page >= last and "next" in links:
        raise ContractViolation(f"page {page} of {last} has a Link rel=next")
    if (page > 1) != ("prev" in links):
        raise ContractViolation(f"page {page}: Link rel=prev must be there exactly when page > 1")
    for rel, params in links.items():
        if params.get(size_name, str(size)) != str(size):
            raise ContractViolation(f"Link rel={rel} changes {size_name} to {params[size_name]}")


# --- checks that ask the server again -------------------------------------------------


Send = Callable[..., requests.Response]


def _sender(response: Any) -> Send | None:
    """Sends as the suite's session: the token the case used, renewed once on a 401."""
    keeper = active()
    if keeper is None:
        return None

    def send(method: str, path: str, **kwargs: Any) -> requests.Response:
        token = token_in(response.request.headers, keeper.plan) or keeper.access_token()
        answer = keeper.send(method, path, token=token, **kwargs)
        if answer.status_code == 401 and token is not None:
            answer = keeper.send(method, path, token=keeper.renew(token), **kwargs)
        return answer

    return send


def _created_body(response: Any) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def location_readable(ctx: Any, response: Any, case: Any) -> None:
    """Where a 201 declares Location: it names what was created, readable the same."""
    op = document_operation(case)
    send = _sender(response)
    keeper = active()
    if op is None or send is None or keeper is None or response.status_code != 201:
        return
    if not op.declares_response_header("Location", (201,)):
        return
    location = header(response, "Location")
    if not location:
        raise ContractViolation("201 Created without the Location the document declares")
    url = urljoin(str(response.request.url), location)
    reader = keeper.document.find("GET", urlsplit(url).path) if keeper.document else None
    if reader is None:
        return  # nothing in the document reads that path; schema checks cover the header
    found = send("GET", url)
    if found.status_code != 200:
        raise ContractViolation(
            f"GET {location} (the Location of the 201) answered {found.status_code}"
        )
    created, read = _created_body(response), _created_body(found)
    changed = differences(created, read)
    if changed:
        raise ContractViolation(
            f"GET {location} reads another resource than the 201 created: " + "; ".join(changed[:5])
        )


def differences(created: Any, read: Any, where: str = "", depth: int = 0) -> list[str]:
    """Scalar members both answers have whose values differ, in the resource itself and in
    the one wrapper object it may sit in (`{"book": {...}}`). Nested objects are other
    resources (an owner, a category) that may change meanwhile; computed extras are allowed."""
    if isinstance(created, dict) and isinstance(read, dict):
        if depth > 1:
            return []
        wrapper = len(created) == 1 and isinstance(next(iter(created.values())), dict)
        out: list[str] = []
        for key in created.keys() & read.keys():
            nested = isinstance(created[key], dict)
            if nested and not (wrapper and depth == 0):
                continue
            out += differences(created[key], read[key], f"{where}/{key}", depth + 1)
        return out
    if created != read and not (isinstance(created, list) or isinstance(read, list)):
        return [f"{where or '/'}: created {created!r}, read {read!r}"]
    return []


def _post(send: Send, url: str, key: str, body: bytes, content_type: str) -> requests.Response:
    headers = {IDEMPOTENCY_HEADER: key, "Content-Type": content_type}
    return send("POST", url, data=body, headers=headers)


def _other_body(body: bytes) -> bytes | None:
    """The same JSON body with one free-text string changed (None: nothing to change)."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    tag = f"another {uuid.uuid4().hex[:8]}"

    def change(node: Any, depth: int = 0) -> bool:
        if isinstance(node, dict) and depth < 3:
            for key in ("name", "title", "description", "body", "text", "comment", *node):
                if key in node and isinstance(node[key], str) and "@" not in node[key]:
                    node[key] = tag
                    return True
            return any(change(v, depth + 1) for v in node.values())
        return False

    return json.dumps(value).encode() if change(value) else None


def idempotent_replay(ctx: Any, response: Any, case: Any) -> None:
    """Where an Idempotency-Key is declared: the same key and body replay the first answer;
    the key with another body is refused (IETF httpapi Idempotency-Key draft)."""
    op = document_operation(case)
    send = _sender(response)
    if op is None or send is None or op.method != "POST" or not 200 <= response.status_code < 300:
        return
    if op.parameter(IDEMPOTENCY_HEADER, "header") is None:
        return
    request = response.request
    raw = request.body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    content_type = request.headers.get("Content-Type", "application/json")
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return  # replaying without a key would create again; the lifecycle's create has one
    check_replay(send, op, str(request.url), key, body, content_type, _created_body(response))


def reuse_refusals(op: Operation) -> tuple[int, ...]:
    """How the document says a key reused with another body is refused: the draft's 422,
    or the 409/400 it declares instead."""
    declared = tuple(s for s in (422, 409, 400) if any(r.status == str(s) for r in op.responses))
    return declared or (422,)


def check_replay(
    send: Send,
    op: Operation,
    url: str,
    key: str,
    body: bytes,
    content_type: str,
    first: Any,
) -> None:
    """The replay half of `idempotent_replay`: `body` was POSTed with `key` and answered
    `first`; the same again must answer the same, another body with the key is refused."""
    replay = _post(send, url, key, body, content_type)
    again = _created_body(replay) if replay.status_code < 300 else None
    if replay.status_code >= 300 or differences(first, again):
        shown = differences(first, again)[:3] if replay.status_code < 300 else replay.text[:200]
        raise ContractViolation(
            f"replaying {IDEMPOTENCY_HEADER} {key!r} with the same body answered "
            f"{replay.status_code}, not the first answer again: {shown}"
            + _curl("POST", url, key, body, content_type)
        )
    other = _other_body(body)
    if other is None:
        return
    reused = _post(send, url, key, other, content_type)
    refusals = reuse_refusals(op)
    if reused.status_code not in refusals:
        raise ContractViolation(
            f"{IDEMPOTENCY_HEADER} {key!r} reused with another body answered "
            f"{reused.status_code}, not {' or '.join(map(str, refusals))}"
            + _curl("POST", url, key, other, content_type)
        )


def _curl(method: str, url: str, key: str, body: bytes, content_type: str) -> str:
    """A reproduction that carries the key (the case's own curl lacks it) and the session's
    credential (masked in the report unless --show-secrets)."""
    quoted = body.decode("utf-8", "replace").replace("'", "'\\''")
    keeper = active()
    token = keeper.access_token() if keeper is not None else None
    placement = keeper.plan.placement if keeper is not None else None
    auth = ""
    if token and placement is not None and placement.location == "header":
        auth = f" -H '{placement.name}: {placement.value(token)}'"
    return (
        f"\nReproduce (twice) with: curl -X {method} '{url}' -H '{IDEMPOTENCY_HEADER}: {key}' "
        f"-H 'Content-Type: {content_type}'{auth} -d '{quoted}'"
    )


CHECKS = (problem_details, retry_after, pagination_headers, location_readable, idempotent_replay)
CHECK_NAMES = tuple(check.__name__ for check in CHECKS)


def enabled_checks(
    only: tuple[str, ...] | None, exclude: tuple[str, ...] = ()
) -> tuple[Callable[..., None], ...]:
    return tuple(
        c for c in CHECKS if (only is None or c.__name__ in only) and c.__name__ not in exclude
    )


def _declares(document: Document) -> dict[str, tuple[bool, str]]:
    ops = document.operations
    return {
        "problem_details": (
            any(op.declares_media_type(PROBLEM_MEDIA_TYPE) for op in ops),
            "no error response is declared as application/problem+json",
        ),
        "retry_after": (
            any(op.declares_response_header("Retry-After", (429, 503)) for op in ops),
            "no 429 or 503 response declares Retry-After",
        ),
        "pagination_headers": (
            any(
                op.declares_response_header("X-Total-Count", (200,))
                and op.declares_response_header("Link", (200,))
                and _page_params(op)
                for op in ops
            ),
            "no page declares X-Total-Count and Link with page and size parameters",
        ),
        "location_readable": (
            any(op.declares_response_header("Location", (201,)) for op in ops),
            "no 201 response declares Location",
        ),
        "idempotent_replay": (
            any(op.method == "POST" and op.parameter(IDEMPOTENCY_HEADER, "header") for op in ops),
            "no POST declares an Idempotency-Key header",
        ),
    }


def undeclared(document: Document, enabled: tuple[Callable[..., None], ...]) -> dict[str, str]:
    """The enabled checks the document gives nothing to judge, with why."""
    declares = _declares(document)
    return {c.__name__: declares[c.__name__][1] for c in enabled if not declares[c.__name__][0]}


def all_check_names() -> list[str]:
    """Every check the suite can run: schemathesis's built-ins and ours."""
    return sorted(set(REGISTRY.get_all_names()) | set(CHECK_NAMES))


@contextmanager
def registered(enabled: tuple[Callable[..., None], ...] = CHECKS, *_: Any) -> Iterator[None]:
    """The checks in schemathesis's (process-wide) registry for the duration of a run."""
    for check in enabled:
        schemathesis.check(check)
    try:
        yield
    finally:
        for check in enabled:
            if check.__name__ in REGISTRY.get_all_names():
                REGISTRY.unregister(check.__name__)
