"""A DEFECTIVE client on purpose, to show the invariants catch what they claim to.

`DefectiveDuplicatingUser` sends POSTs without Idempotency-Key and retries
them on 5xx anyway (a naive "retry every 502" client). Against creations that
are applied and then answered 502 (`--profile duplicate-probe`), each retry
creates the product again: `harness load --locustfile loadtests/defective_locustfile.py
--profile duplicate-probe` must fail the duplicate_creations invariant.
Never use it as an example of how to write a client.
"""

from __future__ import annotations

from dataclasses import replace

from harness.client import RetryPolicy
from harness.client.retry import Attempt
from loadtests.users import LOAD_RETRY, ClientUser


class RetryEveryPostPolicy(RetryPolicy):
    """DEFECTIVE: treats every request as safe to retry, keyed or not."""

    def is_retryable(self, attempt: Attempt) -> str | None:
        return super().is_retryable(replace(attempt, has_idempotency_key=True))


class DefectiveDuplicatingUser(ClientUser):
    """DEFECTIVE: no idempotency keys, and POSTs retried on 502 regardless."""

    auto_idempotency_keys = False

    def retry_policy(self) -> RetryPolicy:
        return RetryEveryPostPolicy(
            max_attempts=LOAD_RETRY.max_attempts,
            base_delay_s=LOAD_RETRY.base_delay_s,
            deadline_s=LOAD_RETRY.deadline_s,
            max_retry_after_s=LOAD_RETRY.max_retry_after_s,
        )

    def on_start(self) -> None:
        super().on_start()
        for _ in range(2):  # two creations up front: the probe answers every 2nd with 502
            self.create()
