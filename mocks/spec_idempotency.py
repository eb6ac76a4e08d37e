"""Idempotency-Key for any document: the demo's key store (mocks/idempotency.py) on
every operation that declares the header (with the `idempotency_keys` behaviour:
on every create, declared or not), refusals in the operation's error shape.

A key reused with another body is refused with the status the operation declares
for it (422 as the IETF draft says, else its 409 or 400), a key still in flight
with 409; both carry the reason where the document's error schema has room."""

from __future__ import annotations

from mitmproxy import http

from mocks.idempotency import HEADER, Idempotency, IdempotencyStore
from mocks.problems import ProblemError
from mocks.spec_api import OperationPlan, SpecApi
from mocks.spec_routes import PLAN_KEY, error_response


def _declares_key(plan: OperationPlan | None) -> bool:
    return plan is not None and plan.op.parameter(HEADER, "header") is not None


def _creates(plan: OperationPlan | None) -> bool:
    if plan is None:
        return False
    binding = plan.resource
    return plan.role == "create" or (binding is not None and binding.action == "create")


def spec_idempotency(api: SpecApi, store: IdempotencyStore) -> Idempotency:
    every_create = "idempotency_keys" in api.behaviours

    def applies(flow: http.HTTPFlow) -> bool:
        plan = flow.metadata.get(PLAN_KEY)
        return _declares_key(plan) or (every_create and _creates(plan))

    def refuse(flow: http.HTTPFlow, problem: ProblemError) -> http.Response:
        plan = flow.metadata.get(PLAN_KEY)
        wanted = (problem.status, 409, 400) if problem.status == 422 else (problem.status,)
        return error_response(api.error(plan, wanted), problem.code, problem.detail)

    return Idempotency(store, applies, refuse)
