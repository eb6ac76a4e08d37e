"""Runtime settings of the mock, and the addon that keeps them.

Every setting is a mitmproxy option (`--set harness_access_ttl=60`), so the
CLI, `mitmdump -s`, and the control API (`PUT /__harness/config`) all change
the same thing. The addon parses the options once per change into an
immutable `MockSettings` that the other addons read on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from mitmproxy import addonmanager, exceptions
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mocks.breakage import parse_flaws

OPTION_PREFIX = "harness_"

# Whole seconds: mitmproxy options have no float type. The virtual clock makes
# sub-second lifetimes unnecessary in tests.
Seconds = Annotated[int, Field(gt=0, le=10 * 365 * 86400)]


class MockSettings(BaseModel):
    """What can be changed while the mock runs (`GET`/`PUT /__harness/config`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    access_ttl_s: Seconds = Field(300, description="Lifetime of access tokens, in seconds.")
    refresh_ttl_s: Seconds = Field(
        30 * 86400, description="Lifetime of refresh tokens, in seconds."
    )
    rotate_refresh_tokens: bool = Field(
        True, description="Issue a new refresh token on every refresh and retire the old one."
    )
    reuse_detection: bool = Field(
        True,
        description="Presenting a retired refresh token revokes the whole login session "
        "(RFC 9700).",
    )
    api_key: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        None, description="When set, every API request needs this X-API-Key header."
    )
    signing: bool = Field(False, description="Require X-App-* request signatures.")
    signing_secret: Annotated[str, Field(min_length=1, max_length=256)] = Field(
        "harness-signing-secret", description="Shared HMAC-SHA256 secret for request signing."
    )
    fault_header: bool = Field(
        False, description="Let requests ask for a fault with an X-Harness-Fault header."
    )
    signature_skew_s: Seconds = Field(
        300, description="Largest accepted distance of X-App-Timestamp from the real clock."
    )
    breakage: Annotated[str, Field(max_length=512)] | None = Field(
        None,
        description="Deliberate contract violations, comma-separated (see mocks/breakage.py): "
        "the proof that the contract suite can fail. Off by default.",
    )

    @field_validator("breakage")
    @classmethod
    def _known_flaws(cls, value: str | None) -> str | None:
        parse_flaws(value)
        return value

    def merged(self, changes: dict[str, Any]) -> MockSettings:
        """A copy with `changes` applied and validated; raises ValidationError."""
        return MockSettings.model_validate(self.model_dump() | changes)

    def public(self) -> dict[str, Any]:
        """What the control API shows: every setting, but of each secret only whether
        it is set (`api_key_set`), never its value."""
        shown = self.model_dump(exclude=set(SECRET_FIELDS))
        for name in SECRET_FIELDS:
            shown[f"{name}_set"] = getattr(self, name) is not None
        return shown


# Settings whose values never leave the mock: not in GET /__harness/config, the banner or logs.
SECRET_FIELDS = ("api_key", "signing_secret")


def option_name(field: str) -> str:
    return OPTION_PREFIX + field


def _option_type(annotation: Any) -> type | Any:
    # mitmproxy options accept bool, int, str and Optional[str].
    if annotation in (bool, int):
        return annotation
    if annotation == str | None or "None" in str(annotation):
        return str | None
    return str


class Settings:
    """Registers the `harness_*` options and publishes them as `MockSettings`."""

    def __init__(self, on_change: Callable[[MockSettings], None]) -> None:
        self.current = MockSettings()
        self._on_change = on_change
        self._options: Any = None

    def load(self, loader: addonmanager.Loader) -> None:
        self._options = loader.master.options
        for name, info in MockSettings.model_fields.items():
            loader.add_option(
                option_name(name),
                _option_type(info.annotation),
                info.default,
                info.description or name,
            )

    def configure(self, updated: Iterable[str]) -> None:
        if not any(name.startswith(OPTION_PREFIX) for name in updated):
            return
        values = {
            name: getattr(self._options, option_name(name)) for name in MockSettings.model_fields
        }
        try:
            self.current = MockSettings.model_validate(values)
        except ValidationError as e:
            raise exceptions.OptionsError(str(e)) from e
        self._on_change(self.current)

    def apply(self, settings: MockSettings) -> None:
        """Change the settings through the options, so every reader sees one truth."""
        self._options.update(
            **{option_name(name): value for name, value in settings.model_dump().items()}
        )
