"""Everything a suite run needs, decided and checked before the first case.

`prepare(options)` loads and validates the document, binds the configuration
to it (`plan_auth`), works out the base URL (keeping the document's base path),
checks the server answers at all and signs in once. Any problem is a
`SetupError` with one line saying which: the CLI exits 2 on it, before a
single generated case is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import requests

from contracts.auth_plan import AuthPlan, plan_auth
from contracts.config import DEMO_CONFIG_PATH, ConfigError, HarnessConfig, load_config
from contracts.document import Document, DocumentError, load_document
from contracts.suite.session import Credentials, Gateway, SessionError, SessionKeeper


class SetupError(RuntimeError):
    """The suite cannot start: bad document, bad configuration, unreachable server, no login."""


def demo_config() -> HarnessConfig:
    """The demo API's configuration, without the environment (for tests and defaults)."""
    return load_config(DEMO_CONFIG_PATH, env={})


def effective_base_url(base_url: str, config: HarnessConfig, document: Document) -> str:
    """`base_url`, with the document's base path (or the configured one) when it has no path.

    `http://host:8000` with `servers: [{url: https://api.example.com/api}]` tests
    `http://host:8000/api`; a base URL that has a path is taken as it is."""
    base = base_url.rstrip("/")
    if urlsplit(base).path not in ("", "/"):
        return base
    base_path = config.base_path if config.base_path is not None else document.base_path
    return base + ("/" + base_path.strip("/") if base_path.strip("/") else "")


@dataclass(frozen=True)
class Prepared:
    document: Document
    spec: str
    base_url: str
    plan: AuthPlan
    keeper: SessionKeeper


def prepare(
    config: HarnessConfig,
    base_url: str,
    *,
    spec: Path | str | None = None,
    credentials: Credentials | None = None,
    gateway: Gateway | None = None,
    check_server: bool = True,
    security: bool = False,
) -> Prepared:
    location = str(spec) if spec is not None else config.spec_location
    if location is None:
        raise SetupError("no OpenAPI document: give --spec or `spec:` in harness.yaml")
    try:
        document = load_document(location)
        plan = plan_auth(config, document)
    except (DocumentError, ConfigError) as e:
        raise SetupError(str(e)) from None
    if credentials is not None:
        plan = replace(plan, identities=(credentials.identity(), *plan.identities[1:]))
    if gateway is not None:
        plan = replace(
            plan,
            api_key=gateway.api_key or plan.api_key,
            signing_secret=gateway.signing_secret or plan.signing_secret,
        )
    url = effective_base_url(base_url, config, document)
    merged = Gateway(
        plan.api_key,
        plan.signing_secret,
        tuple(config.headers.items()) + (gateway.headers if gateway else ()),
    )
    keeper = SessionKeeper(url, plan, document, merged)
    if check_server:
        _reachable(url)
        if plan.has_session and keeper.static_token() is None:
            try:
                keeper.login()
            except (SessionError, requests.RequestException) as e:
                keeper.close()
                raise SetupError(f"cannot sign in: {e}") from None
        if security:
            from contracts.suite.identities import IdentityError, check_identities

            try:
                check_identities(keeper, config.contract.security, document)
            except (IdentityError, requests.RequestException) as e:
                keeper.close()
                raise SetupError(str(e)) from None
    return Prepared(document, location, url, plan, keeper)


def _reachable(url: str) -> None:
    try:
        requests.get(url, timeout=10.0, allow_redirects=False)
    except requests.RequestException as e:
        reason = type(e).__name__
        raise SetupError(f"cannot reach {url}: {reason}; is the server running?") from None
