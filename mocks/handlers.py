"""The shape of an addon that answers some of the contract's operations."""

from __future__ import annotations

from collections.abc import Callable

from mitmproxy import http

from mocks.notes import RequestNote, note
from mocks.problems import ProblemError

Handler = Callable[[http.HTTPFlow, RequestNote], http.Response]


class OperationHandlers:
    """Answers a request whose operation it has a handler for; a handler raises
    ProblemError for a problem response."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self._handlers = handlers

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        n = note(flow)
        handler = self._handlers.get(n.operation or "")
        if handler is None:
            return
        try:
            flow.response = handler(flow, n)
        except ProblemError as problem:
            flow.response = problem.to_response()
