"""Names each API request's operation, and answers 404/405 for the rest."""

from __future__ import annotations

from mitmproxy import http

from contracts.operations import API_PREFIX, OPERATIONS
from mocks.notes import note
from mocks.problems import ProblemError
from mocks.routing import Router
from mocks.wire import path_only

ROUTER = Router((op.method, API_PREFIX + op.path, op.operation_id) for op in OPERATIONS)


class Routing:
    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        try:
            match = ROUTER.match(flow.request.method, path_only(flow))
        except ProblemError as problem:
            flow.response = problem.to_response()
            return
        n = note(flow)
        n.operation = match.name
        n.params = match.params
