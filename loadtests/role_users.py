"""Locust users for any API, driven by the configuration's roles (no locust file to write).

`harness load --spec FILE --config harness.yaml` runs `roles_locustfile.py`,
whose users are these: each signs in (register role, else login), then
lists, reads, creates, updates and deletes the API's items by the roles the
configuration maps (`list`, `read`, `create`, `update`, `delete`), in the
demo's task mix. A role the API lacks is a task skipped.

The run is judged from the mock's journal (`loadtests/journal_invariants.py`),
as a team's own locust file is: the users report each logical call to
locust's statistics (name = the operationId) and nothing else.

The document and configuration reach the users in the environment
(HARNESS_LOAD_SPEC, HARNESS_LOAD_CONFIG), set by `loadtests/runner.py`.
Import this only under locust: `import locust` monkey-patches with gevent.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from typing import Any, ClassVar

import gevent  # type: ignore[import-untyped]
from locust import User, events, task
from locust.env import Environment

from loadtests.locust_stats import report_call
from loadtests.profiles import get_profile
from loadtests.role_api import RoleApi, cached
from loadtests.role_client import Outcome, RoleClient, SessionLost

log = logging.getLogger("harness.load")

SIGN_IN_TRIES = 3
ENV_SPEC = "HARNESS_LOAD_SPEC"
ENV_CONFIG = "HARNESS_LOAD_CONFIG"


def role_api() -> RoleApi:
    config = os.environ.get(ENV_CONFIG)
    if not config:
        raise RuntimeError(f"the role users need {ENV_CONFIG} (harness load --config FILE)")
    return cached(os.environ.get(ENV_SPEC) or None, config)


def _init(**_: Any) -> None:
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    role_api()  # compile the document before any user starts, not in the first task


events.init.add_listener(_init)


class RoleUser(User):
    """One app install of a client of any API: its own account and `RoleClient`."""

    abstract = True
    retry_everything: ClassVar[bool] = False

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.roles = role_api()
        self.profile = get_profile(os.environ.get("HARNESS_LOAD_PROFILE", "steady"))
        self.tag = uuid.uuid4().hex[:10]
        self.serial = 0
        self.seen: list[str] = []  # item ids from listings
        self.owned: list[str] = []  # items this user created
        self.client = RoleClient(
            (self.host or "").rstrip("/"), self.roles, retry_everything=self.retry_everything
        )

    def wait_time(self) -> float:
        low, high = self.profile.wait_s
        return random.uniform(low, high)

    def on_start(self) -> None:
        if self._sign_in():
            for _ in range(2):  # two items of its own to update and delete later
                self.create()

    def on_stop(self) -> None:
        self.client.close()

    def _sign_in(self) -> bool:
        for _ in range(SIGN_IN_TRIES):
            try:
                self.client.sign_in()
                return True
            except (SessionLost, OSError, ValueError) as e:
                log.warning("sign-in failed: %s", e)
                gevent.sleep(0.5)
        return False

    def _ready(self, role: str) -> bool:
        return self.roles.has(role) and (self.client.signed_in or self._sign_in())

    def measure(self, role: str, *, item_id: str | None = None, body: Any = None) -> Outcome:
        request = self.roles.request(role, item_id=item_id, body=body)
        t0 = time.perf_counter()
        outcome = self.client.call(request)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        error = None if outcome.ok else RuntimeError(f"{outcome.kind} {outcome.status}")
        report_call(
            self.environment,
            method=request.method,
            operation=request.operation,
            elapsed_ms=elapsed_ms,
            user=self.tag,
            error=error,
        )
        return outcome

    def _body(self, role: str) -> Any:
        self.serial += 1
        return self.roles.body(role, self.tag, self.serial)

    @task(12)
    def browse(self) -> None:
        if not self._ready("list"):
            return
        outcome = self.measure("list")
        if outcome.ok:
            self.seen = (self.seen + self.roles.item_ids(outcome.body))[-200:]

    @task(8)
    def detail(self) -> None:
        if not self.seen:
            return self.browse()
        if self._ready("read"):
            self.measure("read", item_id=random.choice(self.seen))

    @task(2)
    def create(self) -> None:
        if not self._ready("create"):
            return
        outcome = self.measure("create", body=self._body("create"))
        created = self.roles.created_id(outcome.body) if outcome.ok else None
        if created:
            self.owned.append(created)

    @task(2)
    def update(self) -> None:
        if not self.owned:
            return self.create()
        if self._ready("update"):
            self.measure("update", item_id=random.choice(self.owned), body=self._body("update"))

    @task(1)
    def delete(self) -> None:
        if self.owned and self._ready("delete"):
            self.measure("delete", item_id=self.owned.pop())
