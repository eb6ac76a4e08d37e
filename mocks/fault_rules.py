"""Fault rules: a match, an action and a selection, validated with a clear reason.

    {"match": {"methods": ["POST"], "path": "/v1/products"},
     "action": {"type": "status", "status": 503, "retry_after": 2},
     "delay": {"type": "lognormal", "median_ms": 80, "sigma": 0.6, "cap_ms": 2000},
     "select": {"times": 3, "probability": 0.5, "seed": 7}}

Rules are tried in order; the first whose match and selection both pass is
applied. A rule whose selection declines lets the next rules try.
"""

from __future__ import annotations

import fnmatch
import math
import random
import re
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.config import ROLES
from mocks.http_fields import check_headers, check_value

MAX_HOLD_S = 3600.0
# RFC 9110 15.3.5, 15.3.6, 15.4.5: these responses end at their headers; a body after them
# would be read as the start of the next response on the connection.
BODILESS_STATUSES = frozenset({204, 205, 304})


def _final_status(status: int) -> int:
    if 100 <= status <= 199:
        raise ValueError(
            f"{status} is a 1xx (interim) status: a fault answers with a final status, 200-599"
        )
    return status


FinalStatus = Annotated[int, Field(ge=100, le=599), AfterValidator(_final_status)]


def _no_body_on(status: int, has_body: bool, what: str) -> None:
    if has_body and status in BODILESS_STATUSES:
        raise ValueError(f"a {status} response has no body, so {what} cannot carry one")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- match ----------------------------------------------------------------------


class Match(_Strict):
    """Which requests a rule applies to. Every given criterion must hold."""

    methods: list[str] | None = Field(
        None, description="HTTP methods, any case; all methods when absent."
    )
    path: str = Field("*", description="Glob over the path without query; `*` also matches `/`.")
    operation: str | None = Field(
        None, description="Operation id, e.g. `createProduct`; `*`: any operation of the API."
    )
    role: str | list[str] | None = Field(
        None, description="What the operation is for (login, refresh, read, create...)."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Request headers that must have exactly these values."
    )

    @field_validator("headers")
    @classmethod
    def _fields(cls, headers: dict[str, str]) -> dict[str, str]:
        return check_headers(headers, framing_allowed=True)

    @field_validator("methods")
    @classmethod
    def _upper(cls, methods: list[str] | None) -> list[str] | None:
        if methods is None:
            return None
        if not methods or any(not re.fullmatch(r"[A-Za-z]+", m) for m in methods):
            raise ValueError("methods must be a non-empty list of HTTP method names")
        return [m.upper() for m in methods]

    @field_validator("role")
    @classmethod
    def _roles(cls, role: str | list[str] | None) -> str | list[str] | None:
        unknown = [r for r in ([role] if isinstance(role, str) else role or []) if r not in ROLES]
        if unknown or role == []:
            raise ValueError(f"unknown role {unknown or role}; roles: {', '.join(ROLES)}")
        return role

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.role,) if isinstance(self.role, str) else tuple(self.role or ())

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path or not (path.startswith("/") or path.startswith("*")):
            raise ValueError("path must start with / (or be a glob starting with *)")
        return path

    def compiled(self) -> re.Pattern[str]:
        return re.compile(fnmatch.translate(self.path))


# --- delays -----------------------------------------------------------------------


class FixedDelay(_Strict):
    type: Literal["fixed"] = "fixed"
    ms: Annotated[float, Field(ge=0, le=MAX_HOLD_S * 1000)]

    def sample(self, rng: random.Random) -> float:
        return self.ms / 1000


class UniformDelay(_Strict):
    type: Literal["uniform"] = "uniform"
    min_ms: Annotated[float, Field(ge=0, le=MAX_HOLD_S * 1000)]
    max_ms: Annotated[float, Field(ge=0, le=MAX_HOLD_S * 1000)]

    @model_validator(mode="after")
    def _ordered(self) -> UniformDelay:
        if self.max_ms < self.min_ms:
            raise ValueError("max_ms must not be below min_ms")
        return self

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.min_ms, self.max_ms) / 1000


class LognormalDelay(_Strict):
    """Long-tailed latency like real services: median `median_ms`, spread `sigma`."""

    type: Literal["lognormal"] = "lognormal"
    median_ms: Annotated[float, Field(gt=0, le=MAX_HOLD_S * 1000)]
    sigma: Annotated[float, Field(ge=0, le=5)] = 0.5
    cap_ms: Annotated[float, Field(gt=0, le=MAX_HOLD_S * 1000)] = 30_000

    def sample(self, rng: random.Random) -> float:
        return min(self.cap_ms, rng.lognormvariate(math.log(self.median_ms), self.sigma)) / 1000


Delay = Annotated[FixedDelay | UniformDelay | LognormalDelay, Field(discriminator="type")]


# --- actions ----------------------------------------------------------------------

RetryAfter = int | str


def _check_retry_after(value: RetryAfter | None) -> RetryAfter | None:
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value < 0:
            raise ValueError("retry_after seconds must not be negative")
        return value
    check_value(value, "retry_after")
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        raise ValueError("retry_after must be whole seconds or an HTTP-date")
    return value


class StatusAction(_Strict):
    """Answer with this status (a problem+json body unless `body` is given)."""

    type: Literal["status"] = "status"
    status: FinalStatus = 503
    body: str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    retry_after: RetryAfter | None = Field(
        None, description="Seconds or an HTTP-date, sent as Retry-After."
    )

    @field_validator("retry_after")
    @classmethod
    def _retry_after(cls, value: RetryAfter | None) -> RetryAfter | None:
        return _check_retry_after(value)

    @field_validator("headers")
    @classmethod
    def _fields(cls, headers: dict[str, str]) -> dict[str, str]:
        return check_headers(headers)

    @model_validator(mode="after")
    def _framed(self) -> StatusAction:
        _no_body_on(self.status, self.body not in (None, ""), "a status rule with a body")
        return self


class DelayAction(_Strict):
    """Only the rule's delay, then the request goes on as usual."""

    type: Literal["delay"] = "delay"


class HangAction(_Strict):
    """Hold the request past any sane client timeout, then close without answering."""

    type: Literal["hang"] = "hang"
    seconds: Annotated[float, Field(gt=0, le=MAX_HOLD_S)] = 120.0


class ResetAction(_Strict):
    """Abort the connection with a TCP RST."""

    type: Literal["reset"] = "reset"


class CloseAction(_Strict):
    """Close the connection without a response (FIN)."""

    type: Literal["close"] = "close"


class EmptyAction(_Strict):
    """200 with an empty body."""

    type: Literal["empty"] = "empty"
    status: Annotated[int, Field(ge=200, le=299)] = 200


class MalformedAction(_Strict):
    """200 with a body that is not valid JSON."""

    type: Literal["malformed"] = "malformed"
    status: FinalStatus = 200
    body: str = '{"id": "prd_1", "name": "trunc'

    @model_validator(mode="after")
    def _framed(self) -> MalformedAction:
        _no_body_on(self.status, True, "a malformed body")
        return self


class ShortBodyAction(_Strict):
    """A Content-Length larger than the body sent: the client waits, then fails."""

    type: Literal["short_body"] = "short_body"
    missing_bytes: Annotated[int, Field(ge=1, le=1_000_000)] = 100


class DripAction(_Strict):
    """Send the real response's body in `chunks` pieces spread over `duration_ms`."""

    type: Literal["drip"] = "drip"
    duration_ms: Annotated[float, Field(gt=0, le=MAX_HOLD_S * 1000)] = 2000
    chunks: Annotated[int, Field(ge=1, le=10_000)] = 10


class ApplyThenFailAction(_Strict):
    """Perform the real effect (e.g. create the product), then answer `status` or hang."""

    type: Literal["apply_then_fail"] = "apply_then_fail"
    then: Literal["status", "hang", "close", "reset"] = "status"
    status: Annotated[int, Field(ge=400, le=599)] = 502
    hang_s: Annotated[float, Field(gt=0, le=MAX_HOLD_S)] = 120.0


Action = Annotated[
    StatusAction
    | DelayAction
    | HangAction
    | ResetAction
    | CloseAction
    | EmptyAction
    | MalformedAction
    | ShortBodyAction
    | DripAction
    | ApplyThenFailAction,
    Field(discriminator="type"),
]
ACTION_TYPES = (
    "status",
    "delay",
    "hang",
    "reset",
    "close",
    "empty",
    "malformed",
    "short_body",
    "drip",
    "apply_then_fail",
)


# --- selection --------------------------------------------------------------------


class Selection(_Strict):
    """Which of the matching requests get the fault. All given criteria must hold."""

    after: Annotated[int, Field(ge=0)] = Field(0, description="Skip the first N matches.")
    times: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Apply to at most N requests, then stop."
    )
    every: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Apply to every Nth match (counted after `after`)."
    )
    probability: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="Apply with this probability."
    )
    seed: int | None = Field(None, description="Seed for `probability`: the same run twice.")
    expires_after_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Stop applying this long (real seconds) after the rule is added."
    )


class FaultRule(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = (
        None
    )
    description: str | None = None
    match: Match = Field(default_factory=Match)
    action: Action = Field(default_factory=DelayAction)
    delay: Delay | None = None
    select: Selection = Field(default_factory=Selection)

    @model_validator(mode="after")
    def _meaningful(self) -> FaultRule:
        if isinstance(self.action, DelayAction) and self.delay is None:
            raise ValueError("a delay action needs a delay")
        return self


def parse_header_fault(value: str) -> FaultRule:
    """`X-Harness-Fault` syntax: `TYPE[;key=value...]`, e.g. `status;status=503;retry_after=2`,
    `delay;ms=250`, `reset`, `drip;duration_ms=1000`. Raises ValueError with the reason."""
    kind, *pairs = [part.strip() for part in value.split(";") if part.strip()] or [""]
    if kind not in ACTION_TYPES:
        raise ValueError(f"unknown fault {kind!r}; one of: {', '.join(ACTION_TYPES)}")
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {pair!r}")
        fields[key.strip()] = _scalar(raw.strip())
    delay_ms = fields.pop("ms", None) if kind == "delay" else fields.pop("delay_ms", None)
    rule: dict[str, Any] = {"action": {"type": kind, **fields}}
    if delay_ms is not None:
        rule["delay"] = {"type": "fixed", "ms": delay_ms}
    return FaultRule.model_validate(rule)


def _scalar(raw: str) -> Any:
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"-?\d+\.\d*", raw):
        return float(raw)
    return raw
