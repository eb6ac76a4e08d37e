"""The checks this contract implies beyond schema conformance.

Each is a plain schemathesis check `(ctx, response, case)` that returns None
or raises `ContractViolation` (an AssertionError) saying what the contract
asks and what the server did. They apply to any server; the two that send
requests of their own (Location, Idempotency-Key) do so through the running
suite's session and do nothing outside a suite run.

- `problem_details`: every 4xx/5xx is RFC 9457 `application/problem+json` with
  `type`, `title`, `status`, `detail` and a machine `code`;
- `retry_after`: 429 and 503 carry `Retry-After`, delay-seconds or an HTTP-date;
- `pagination_headers`: listProducts' `X-Total-Count`, page length and `Link` agree;
- `location_readable`: createProduct's 201 names a `Location` that reads the same product;
- `idempotent_replay`: the same `Idempotency-Key` and body replay the same product,
  the key with another body gets 422.

"No 5xx for any generated input" is schemathesis's own `not_a_server_error`,
which the suite always enables.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
import schemathesis
from schemathesis.checks import CHECKS as REGISTRY

from contracts.suite.active import active
from contracts.suite.session import bearer_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "code")
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
DEFAULT_PAGE, DEFAULT_PAGE_SIZE = 1, 20
IDEMPOTENCY_HEADER = "Idempotency-Key"
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([a-z]+)"?')
_DELTA_SECONDS = re.compile(r"^[0-9]+$")


class ContractViolation(AssertionError):
    """A response breaks a rule of the contract; the message says which and how."""


def operation_id(case: Any) -> str | None:
    raw = getattr(case.operation.definition, "raw", None)
    found = raw.get("operationId") if isinstance(raw, dict) else None
    return found if isinstance(found, str) else None


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
    """Every 4xx/5xx is an RFC 9457 problem with a machine `code`."""
    status = response.status_code
    if status < 400:
        return
    content_type = header(response, "Content-Type") or ""
    if content_type.split(";")[0].strip().lower() != PROBLEM_MEDIA_TYPE:
        raise ContractViolation(
            f"{status} answered as {content_type or 'no content type'!r}, "
            f"not {PROBLEM_MEDIA_TYPE} (RFC 9457)"
        )
    body = _json(response, f"the {status} problem body")
    if not isinstance(body, dict):
        raise ContractViolation(f"the {status} problem body is not a JSON object: {body!r}")
    missing = [m for m in PROBLEM_MEMBERS if m not in body]
    if missing:
        raise ContractViolation(f"the {status} problem lacks {', '.join(missing)}: {body}")
    if body["status"] != status:
        raise ContractViolation(
            f"the problem says status {body['status']!r}, the response {status}"
        )
    if not isinstance(body["code"], str) or not CODE_PATTERN.match(body["code"]):
        raise ContractViolation(f"the problem's code {body['code']!r} is not a machine code")


def retry_after(ctx: Any, response: Any, case: Any) -> None:
    """429 and 503 say when to come back: `Retry-After` as delay-seconds or an HTTP-date."""
    status = response.status_code
    if status not in (429, 503):
        return
    value = header(response, "Retry-After")
    if value is None:
        raise ContractViolation(f"{status} without Retry-After")
    value = value.strip()
    if _DELTA_SECONDS.match(value):
        return
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise ContractViolation(
            f"{status} with Retry-After {value!r}: neither delay-seconds nor an HTTP-date"
        ) from None


def _query(case: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (case.query or {}).items()}


def _links(value: str) -> dict[str, dict[str, str]]:
    links: dict[str, dict[str, str]] = {}
    for target, rel in _LINK.findall(value):
        links[rel] = dict(parse_qsl(urlsplit(target).query))
    return links


def pagination_headers(ctx: Any, response: Any, case: Any) -> None:
    """A product page agrees with its X-Total-Count and its Link header."""
    if operation_id(case) != "listProducts" or response.status_code != 200:
        return
    query = _query(case)
    try:
        page = int(query.get("page", DEFAULT_PAGE))
        size = int(query.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        return  # a 200 for a malformed page is negative_data_rejection's business
    raw_total = header(response, "X-Total-Count")
    if raw_total is None or not raw_total.strip().isdigit():
        raise ContractViolation(f"X-Total-Count {raw_total!r} is not a count")
    total = int(raw_total)
    items = _json(response, "the product page")
    if not isinstance(items, list):
        raise ContractViolation("the product page is not a JSON array")
    last = max(1, -(-total // size))
    if page < last:
        expected = size
    elif page == last:
        expected = total - (last - 1) * size
    else:
        expected = 0
    if len(items) != expected:
        raise ContractViolation(
            f"page {page} of size {size} holds {len(items)} products, but X-Total-Count "
            f"{total} means it should hold {expected}"
        )
    links = _links(header(response, "Link") or "")
    wanted = {"first": 1, "last": last} | ({"next": page + 1} if page < last else {})
    for rel, target in wanted.items():
        shown = links.get(rel, {}).get("page")
        if shown != str(target):
            raise ContractViolation(
                f"Link rel={rel} points at page {shown}, but X-Total-Count {total} with "
                f"page_size {size} puts it at page {target}"
            )
    if page < last and "next" not in links:
        raise ContractViolation(f"page {page} of {last} has no Link rel=next")
    if page >= last and "next" in links:
        raise ContractViolation(f"page {page} of {last} has a Link rel=next")
    if (page > 1) != ("prev" in links):
        raise ContractViolation(f"page {page}: Link rel=prev must be there exactly when page > 1")
    for rel, params in links.items():
        if params.get("page_size", str(size)) != str(size):
            raise ContractViolation(f"Link rel={rel} changes page_size to {params['page_size']}")


# --- checks that ask the server again -------------------------------------------------


def _created(case: Any, response: Any) -> dict[str, Any] | None:
    if operation_id(case) != "createProduct" or response.status_code != 201:
        return None
    body = _json(response, "the created product")
    return body if isinstance(body, dict) else None


Send = Callable[..., requests.Response]


def _sender(response: Any) -> Send | None:
    """Sends as the suite's session: the bearer the case used, renewed once on a 401."""
    keeper = active()
    if keeper is None:
        return None

    def send(method: str, path: str, **kwargs: Any) -> requests.Response:
        token = bearer_of(response.request.headers) or keeper.access_token()
        answer = keeper.send(method, path, bearer=token, **kwargs)
        if answer.status_code == 401:
            answer = keeper.send(method, path, bearer=keeper.renew(token), **kwargs)
        return answer

    return send


def location_readable(ctx: Any, response: Any, case: Any) -> None:
    """A created product can be read at its Location, and reads the same."""
    created = _created(case, response)
    send = _sender(response)
    if created is None or send is None:
        return
    location = header(response, "Location")
    if not location:
        raise ContractViolation("201 Created without a Location")
    url = urljoin(str(response.request.url), location)
    found = send("GET", url)
    if found.status_code != 200:
        raise ContractViolation(
            f"GET {location} (the Location of the 201) answered {found.status_code}"
        )
    if found.json() != created:
        raise ContractViolation(
            f"GET {location} reads another product than the 201 created:\n"
            f"created: {created}\nread:    {found.json()}"
        )


def _post(send: Send, url: str, key: str, body: bytes, content_type: str) -> requests.Response:
    headers = {IDEMPOTENCY_HEADER: key, "Content-Type": content_type}
    return send("POST", url, data=body, headers=headers)


def idempotent_replay(ctx: Any, response: Any, case: Any) -> None:
    """The same Idempotency-Key and body replay the product; another body gets 422."""
    created = _created(case, response)
    send = _sender(response)
    if created is None or send is None:
        return
    request = response.request
    raw = request.body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    content_type = request.headers.get("Content-Type", "application/json")
    url = str(request.url)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:  # the case sent none: try a key of our own, twice
        key = f"contract-{uuid.uuid4()}"
        first = _post(send, url, key, body, content_type)
        if first.status_code != 201:
            raise ContractViolation(
                f"POST with a new {IDEMPOTENCY_HEADER} answered {first.status_code}"
            )
        created = first.json()
    replay = _post(send, url, key, body, content_type)
    if replay.status_code not in (200, 201) or replay.json().get("id") != created.get("id"):
        shown = replay.json().get("id") if replay.status_code < 300 else replay.text[:200]
        raise ContractViolation(
            f"replaying {IDEMPOTENCY_HEADER} {key!r} with the same body answered "
            f"{replay.status_code} with product {shown!r}, not product {created.get('id')!r} again"
        )
    other = json.loads(body) | {"name": f"another {uuid.uuid4().hex[:12]}"}
    reused = _post(send, url, key, json.dumps(other).encode(), content_type)
    if reused.status_code != 422:
        raise ContractViolation(
            f"{IDEMPOTENCY_HEADER} {key!r} reused with another body answered "
            f"{reused.status_code}, not 422"
        )


CHECKS = (problem_details, retry_after, pagination_headers, location_readable, idempotent_replay)
CHECK_NAMES = tuple(check.__name__ for check in CHECKS)


@contextmanager
def registered() -> Iterator[None]:
    """The checks in schemathesis's (process-wide) registry for the duration of a run."""
    for check in CHECKS:
        schemathesis.check(check)
    try:
        yield
    finally:
        for name in CHECK_NAMES:
            if name in REGISTRY.get_all_names():
                REGISTRY.unregister(name)
