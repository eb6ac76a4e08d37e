"""Load profiles: how many users, for how long, against which faults, judged how.

A profile's `scenario()` is an inline mock scenario (config + fault rules,
the same vocabulary as `mocks/scenarios/*.yaml`) loaded into the mock before
the run. Its thresholds are the defaults `harness load` judges with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtests.invariants import Thresholds

API = "/v1/*"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    users: int = 20
    spawn_rate: float = 10.0
    run_time_s: float = 60.0
    access_ttl_s: int = 300  # seconds, as the mock takes it
    wait_s: tuple[float, float] = (0.2, 1.0)  # think time between a user's tasks
    faults: tuple[dict[str, Any], ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    spike: bool = False  # users follow SpikeShape (loadtests/spike_shape.py)

    def scenario(self) -> dict[str, Any]:
        return {
            "name": f"load-{self.name}",
            "description": self.description,
            "config": {"access_ttl_s": self.access_ttl_s},
            "faults": [dict(rule) for rule in self.faults],
        }


FAULT_MIX: tuple[dict[str, Any], ...] = (
    {
        "id": "mix-503",
        "match": {"path": API},
        "action": {"type": "status", "status": 503, "retry_after": 1},
        "select": {"probability": 0.03, "seed": 21},
    },
    {
        "id": "mix-429",
        "match": {"path": API},
        "action": {"type": "status", "status": 429, "retry_after": 1},
        "select": {"probability": 0.02, "seed": 22},
    },
    {
        "id": "mix-timeout",
        "match": {"methods": ["GET"], "path": API},
        "action": {"type": "hang", "seconds": 4},
        "select": {"probability": 0.01, "seed": 23},
    },
    {
        "id": "mix-reset",
        "match": {"path": API},
        "action": {"type": "reset"},
        "select": {"probability": 0.01, "seed": 24},
    },
    {
        "id": "mix-applied-502",
        "match": {"methods": ["POST"], "path": "/v1/products"},
        "action": {"type": "apply_then_fail", "then": "status", "status": 502},
        "select": {"probability": 0.05, "seed": 25},
    },
)

DUPLICATE_PROBE: tuple[dict[str, Any], ...] = (
    {
        "id": "probe-applied-502",
        "match": {"methods": ["POST"], "path": "/v1/products"},
        "action": {"type": "apply_then_fail", "then": "status", "status": 502},
        "select": {"every": 2},
    },
)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "steady",
            "A steady crowd browsing, reading, creating and editing; no faults.",
            thresholds=Thresholds(max_attempts_per_call=1.01, max_error_rate=0.005),
        ),
        Profile(
            "token-churn",
            "Access tokens live 5 s: every user refreshes every few seconds, many at once.",
            access_ttl_s=5,
            thresholds=Thresholds(max_attempts_per_call=1.01, max_error_rate=0.005),
        ),
        Profile(
            "fault-mix",
            "A few per cent of 503 and 429 with Retry-After, hanging reads (timeouts), "
            "TCP resets, and creations applied then answered 502; 60 s access tokens.",
            access_ttl_s=60,
            faults=FAULT_MIX,
            thresholds=Thresholds(
                max_attempts_per_call=1.25, max_error_rate=0.05, max_p95_ms=2500.0
            ),
        ),
        Profile(
            "spike",
            "A fifth of the users for the first third, all of them (spawned within a "
            "second) for the middle third, then back.",
            spike=True,
            thresholds=Thresholds(max_attempts_per_call=1.01, max_p95_ms=1500.0),
        ),
        Profile(
            "duplicate-probe",
            "Every 2nd creation is applied, then answered 502: retried POSTs without "
            "idempotency keys duplicate here.",
            faults=DUPLICATE_PROBE,
            thresholds=Thresholds(max_attempts_per_call=1.5, max_error_rate=0.05),
        ),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None


# --- the same profiles for any API: faults by role and operationId, not by /v1 path ---

ANY = {"operation": "*"}
CREATE = {"role": "create"}
READS = {"role": ["read", "list"]}

ANY_API_FAULTS: dict[str, tuple[dict[str, Any], ...]] = {
    "fault-mix": (
        {**FAULT_MIX[0], "match": ANY},
        {**FAULT_MIX[1], "match": ANY},
        {**FAULT_MIX[2], "match": READS},
        {**FAULT_MIX[3], "match": ANY},
        {**FAULT_MIX[4], "match": CREATE},
    ),
    "duplicate-probe": ({**DUPLICATE_PROBE[0], "match": CREATE},),
}


def any_api_scenario(
    profile: Profile, roles: frozenset[str] = frozenset(), *, named_operations: bool = True
) -> dict[str, Any]:
    """The profile's scenario for any API: its rules match by role and operationId.

    A rule for a role the API's configuration does not name falls back to the
    methods that role stands for (create: POST; read and list: GET), so it still
    fires on an API without roles; behind the proxy without a document (no
    operation names), "any operation" becomes any path."""
    rules = []
    for rule in ANY_API_FAULTS.get(profile.name, ()):
        match = dict(rule["match"])
        if match.get("operation") == "*" and not named_operations:
            match = {"path": "/*"}
        wanted = match.get("role")
        if wanted is not None:
            names = {wanted} if isinstance(wanted, str) else set(wanted)
            if not names & roles:
                match = {"methods": ["POST"] if "create" in names else ["GET"]}
        rules.append({**rule, "match": match})
    return {**profile.scenario(), "faults": rules}
