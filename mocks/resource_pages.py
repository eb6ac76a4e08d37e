"""Listings of a resource: which page a request asks for (limit/offset, page
numbers or cursors, as the operation's parameters say), its filters, and the
paging headers the `link_pagination` and `total_count` behaviours add.

    Link: </api/books?limit=20&offset=20>; rel="next", ...   (RFC 8288)
    X-Total-Count: 57
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, urlencode

from mocks.resource_model import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PAGE_CURSOR,
    PAGE_LIMIT,
    PAGE_NUMBER,
    PAGE_OFFSET,
    Resource,
    _norm,
)
from mocks.spec_api import OperationPlan

TOTAL_COUNT_HEADER = "X-Total-Count"


def query_of(path: str) -> dict[str, str]:
    return {_norm(k): v for k, v in parse_qsl(path.partition("?")[2])}


def props(r: Resource) -> dict[str, Any]:
    schema = r.schema.schema
    return schema.get("properties", {}) if isinstance(schema, dict) else {}


def filtered(
    items: list[dict[str, Any]], query: dict[str, str], r: Resource
) -> list[dict[str, Any]]:
    """Items whose scalar field equals each query parameter named after a field."""
    names = {_norm(k): k for k in props(r)}
    paging = set(PAGE_LIMIT + PAGE_OFFSET + PAGE_NUMBER + PAGE_CURSOR)
    for name, value in query.items():
        field = names.get(name)
        if field is None or name in paging:
            continue
        items = [i for i in items if _matches(i.get(field), value)]
    return items


def _matches(found: Any, wanted: str) -> bool:
    """A scalar equal to the query value, or an object (`category: {id, name}`) whose
    id is; lists and other objects never match."""
    if isinstance(found, dict):
        found = next((found[k] for k in ("id", "key", "slug", "code") if k in found), None)
    if found is None or isinstance(found, dict | list):
        return False
    text = ("true" if found else "false") if isinstance(found, bool) else str(found)
    return text.lower() == wanted.lower()


def _declared(plan: OperationPlan) -> dict[str, Any]:
    return {_norm(c.parameter.name): c for c in plan.parameters if c.parameter.location == "query"}


def _schema(check: Any) -> dict[str, Any]:
    schema = check.compiled.schema
    return schema if isinstance(schema, dict) else {}


def window(query: dict[str, str], plan: OperationPlan, total: int) -> tuple[int, int]:
    """(offset, limit) of the page asked for (an offset past `total` is an empty page)."""
    declared = _declared(plan)
    limit = (
        DEFAULT_LIMIT
        if any(n in declared for n in PAGE_LIMIT + PAGE_NUMBER + PAGE_CURSOR)
        else MAX_LIMIT
    )
    for name in PAGE_LIMIT:
        if name in declared:
            default = _schema(declared[name]).get("default")
            limit = _int(query.get(name), default if isinstance(default, int) else limit)
            break
    limit = max(1, min(limit, MAX_LIMIT))
    offset = 0
    for name in PAGE_OFFSET:
        if name in query:
            offset = _int(query[name], 0)
    for name in PAGE_NUMBER:
        if name in query and name in declared:
            first = _schema(declared[name]).get("minimum", 1)
            offset = max(0, (_int(query[name], 1) - int(first == 1)) * limit)
    for name in PAGE_CURSOR:
        if query.get(name):
            offset = from_cursor(query[name])
    return max(0, offset), limit  # past the end: an empty page, which still links back


def paging_headers(
    plan: OperationPlan, path: str, offset: int, limit: int, total: int, behaviours: frozenset[str]
) -> dict[str, str]:
    """X-Total-Count (`total_count`) and the RFC 8288 Link header (`link_pagination`):
    first, prev, next and last in the paging parameters the operation declares."""
    headers: dict[str, str] = {}
    if "total_count" in behaviours:
        headers[TOTAL_COUNT_HEADER] = str(total)
    if "link_pagination" in behaviours:
        links = _links(plan, path, offset, limit, total)
        if links:
            headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links)
    return headers


def _links(
    plan: OperationPlan, path: str, offset: int, limit: int, total: int
) -> list[tuple[str, str]]:
    declared = {_norm(c.parameter.name): c.parameter.name for c in plan.parameters}
    base, _, raw = path.partition("?")
    kept = [(k, v) for k, v in parse_qsl(raw, keep_blank_values=True) if _norm(k) not in _PAGING]
    size_name = next((declared[n] for n in PAGE_LIMIT if n in declared), None)
    page_name = next((declared[n] for n in PAGE_NUMBER if n in declared), None)
    offset_name = next((declared[n] for n in PAGE_OFFSET if n in declared), None)
    cursor_name = next((declared[n] for n in PAGE_CURSOR if n in declared), None)
    last = max(0, (total - 1) // limit * limit)

    def at(start: int) -> str:
        paging: list[tuple[str, str]] = []
        if page_name is not None:
            first = _schema(_declared(plan)[_norm(page_name)]).get("minimum", 1)
            paging.append((page_name, str(start // limit + (1 if first == 1 else 0))))
        elif offset_name is not None:
            paging.append((offset_name, str(start)))
        elif cursor_name is not None and start:
            paging.append((cursor_name, cursor(start)))
        if size_name is not None:
            paging.append((size_name, str(limit)))
        return f"{base}?{urlencode(paging + kept)}" if paging or kept else base

    if page_name is None and offset_name is None:
        if cursor_name is None:
            return []
        # A cursor only walks forward: first and next.
        links = [("first", at(0))]
        if offset + limit < total:
            links.append(("next", at(offset + limit)))
        return links
    links = [("first", at(0))]
    if offset > 0:
        links.append(("prev", at(max(0, min(offset - limit, last)))))
    if offset + limit < total:
        links.append(("next", at(offset + limit)))
    links.append(("last", at(last)))
    return links


_PAGING = frozenset(PAGE_LIMIT + PAGE_OFFSET + PAGE_NUMBER + PAGE_CURSOR)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def from_cursor(text: str) -> int:
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        return int(decoded.removeprefix("o:"))
    except (ValueError, UnicodeDecodeError):
        return 0
