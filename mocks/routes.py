"""Names each API request's operation; answers 404, 405, and 400 for query
parameters the operation does not define (a typo like `pagesize` should fail
loudly in a contract mock, not be ignored)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from mitmproxy import http

from contracts.config import DEMO_CONFIG_PATH, load_config
from contracts.operations import API_PREFIX, BY_ID, OPERATIONS
from mocks.notes import note
from mocks.problems import ProblemError
from mocks.routing import Router

ROUTER = Router((op.method, API_PREFIX + op.path, op.operation_id) for op in OPERATIONS)
QUERY_NAMES = {op.operation_id: frozenset(q.name for q in op.query) for op in OPERATIONS}
# What each operation is for, from the demo's configuration (fault rules match by role).
ROLES = {op_id: role for role, op_id in load_config(DEMO_CONFIG_PATH, env={}).roles.items()}


class Routing:
    """`strict`: answer what the contract does not define (mock mode). Otherwise
    only name the operation, and let everything through (proxy mode)."""

    def __init__(self, *, strict: bool = True) -> None:
        self._strict = strict

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        path, _, query = flow.request.path.partition("?")
        try:
            match = ROUTER.match(flow.request.method, path)
            n = note(flow)
            n.operation = match.name
            n.role = ROLES.get(match.name)
            n.params = match.params
            _check_query_names(match.name, query)
        except ProblemError as problem:
            if self._strict:
                flow.response = problem.to_response()


def _check_query_names(operation: str, query: str) -> None:
    if not query:
        return
    allowed = QUERY_NAMES[operation]
    for name, _ in parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ProblemError(
                400,
                "invalid_parameter",
                f"Unknown query parameter {name!r} for {BY_ID[operation].operation_id}; "
                f"known: {known}.",
            )
