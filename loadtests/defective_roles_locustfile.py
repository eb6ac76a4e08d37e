"""A DEFECTIVE client of any API on purpose, to show the journal's invariants catch it.

`DefectiveResendingUser` resends every failed call, POSTs without an
Idempotency-Key included (a naive "retry every 502" client). Against
creations that are applied and then answered 502 (`--profile
duplicate-probe`), each resend creates the item again:

    harness load --spec openapi.yaml --config harness.yaml --profile duplicate-probe \
        --locustfile loadtests/defective_roles_locustfile.py

must fail duplicate_creations. Never use it as an example of how to write a client.
"""

from __future__ import annotations

from loadtests.role_users import RoleUser


class DefectiveResendingUser(RoleUser):
    """DEFECTIVE: every failed call resent, keyed or not."""

    retry_everything = True
