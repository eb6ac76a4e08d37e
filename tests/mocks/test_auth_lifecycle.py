"""Tokens across calls, on the virtual clock: expiry, rotation, reuse detection,
logout, and what reset does to tokens. No test sleeps; the control API moves time."""

from __future__ import annotations

import jwt
import pytest
from mock_testkit import PROFILE, ApiClient, Tokens, assert_problem, bearer, tokens_from

from harness.control import ControlClient

REALM = 'Bearer realm="api"'  # every 401's challenge names the demo's realm


def _assert_rejected(api: ApiClient, auth: Tokens, state: str) -> None:
    """The access token is refused with token_<state> and a matching Bearer challenge."""
    response = api.get(PROFILE, auth)
    assert_problem(response, 401, f"token_{state}")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(REALM + ", ")
    assert 'error="invalid_token"' in challenge
    assert f'error_description="{state}"' in challenge


def _assert_invalid_grant(api: ApiClient, refresh_token: str, reason: str) -> None:
    """The refresh token is refused, for `reason` as the journal records it."""
    response = api.refresh(refresh_token)
    assert_problem(response, 401, "invalid_grant")
    assert response.headers["WWW-Authenticate"] == REALM
    effect = api.get("/__harness/journal").json()["entries"][-1]["effect"]
    assert (effect["kind"], effect["reason"]) == ("refresh_rejected", reason)


# --- access token expiry --------------------------------------------------------------


def test_access_token_expires_when_the_clock_passes_its_ttl(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    harness_control.advance_clock(demo.expires_in - 30)
    assert api.profile_status(demo) == 200
    harness_control.advance_clock(31)
    _assert_rejected(api, demo, "expired")


def test_a_shorter_configured_ttl_expires_sooner(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.configure(access_ttl_s=10)
    tokens = api.login()
    harness_control.advance_clock(11)
    _assert_rejected(api, tokens, "expired")


def test_expire_tokens_expires_existing_tokens_only(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    other_user = api.register("other@example.com")
    harness_control.expire_tokens()
    _assert_rejected(api, demo, "expired")
    _assert_rejected(api, other_user, "expired")
    fresh = api.login()
    assert api.profile_status(fresh) == 200


def test_an_expired_access_token_can_be_refreshed(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    harness_control.expire_tokens()
    refreshed = tokens_from(api.refresh(demo.refresh_token))
    assert api.profile_status(refreshed) == 200
    _assert_rejected(api, demo, "expired")


# --- refresh rotation and reuse --------------------------------------------------------


def test_refresh_rotates_and_retires_the_old_refresh_token(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.configure(reuse_detection=False)  # look at the rejection alone
    first = api.login()
    second = tokens_from(api.refresh(first.refresh_token))
    assert second.refresh_token != first.refresh_token
    _assert_invalid_grant(api, first.refresh_token, "reused")
    third = tokens_from(api.refresh(second.refresh_token))
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(
    api: ApiClient, demo: Tokens
) -> None:
    successor = tokens_from(api.refresh(demo.refresh_token))
    _assert_invalid_grant(api, demo.refresh_token, "reused")  # reuse
    _assert_rejected(api, successor, "revoked")
    _assert_rejected(api, demo, "revoked")
    _assert_invalid_grant(api, successor.refresh_token, "revoked")


def test_reuse_revokes_only_that_session(api: ApiClient, demo: Tokens) -> None:
    other = api.login()
    tokens_from(api.refresh(demo.refresh_token))
    _assert_invalid_grant(api, demo.refresh_token, "reused")
    assert api.profile_status(other) == 200
    tokens_from(api.refresh(other.refresh_token))


def test_without_reuse_detection_reuse_fails_but_the_session_survives(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.configure(reuse_detection=False)
    tokens = api.login()
    successor = tokens_from(api.refresh(tokens.refresh_token))
    _assert_invalid_grant(api, tokens.refresh_token, "reused")
    assert api.profile_status(successor) == 200
    assert api.profile_status(tokens) == 200
    tokens_from(api.refresh(successor.refresh_token))


def test_without_rotation_the_same_refresh_token_keeps_working(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.configure(rotate_refresh_tokens=False)
    tokens = api.login()
    for _ in range(3):
        again = tokens_from(api.refresh(tokens.refresh_token))
        assert again.refresh_token == tokens.refresh_token
        assert again.access_token != tokens.access_token
        assert api.profile_status(again) == 200


def test_refresh_token_expires_after_its_ttl(
    api: ApiClient, harness_control: ControlClient
) -> None:
    ttl = harness_control.config()["refresh_ttl_s"]
    tokens = api.login()
    harness_control.advance_clock(ttl - 60)
    still = tokens_from(api.refresh(tokens.refresh_token))  # rotates; the new one lives on
    harness_control.advance_clock(ttl - 30)
    tokens_from(api.refresh(still.refresh_token))
    unused = api.login()
    harness_control.advance_clock(ttl + 1)
    _assert_invalid_grant(api, unused.refresh_token, "expired")


def test_a_configured_refresh_ttl_applies_to_new_tokens(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.configure(refresh_ttl_s=100, rotate_refresh_tokens=False)
    tokens = api.login()
    harness_control.advance_clock(99)
    tokens_from(api.refresh(tokens.refresh_token))
    harness_control.advance_clock(2)
    _assert_invalid_grant(api, tokens.refresh_token, "expired")


# --- logout ---------------------------------------------------------------------------


def test_logout_revokes_that_session_only(api: ApiClient, demo: Tokens) -> None:
    other = api.login()
    assert api.post("/v1/auth/logout", demo).status_code == 204
    _assert_rejected(api, demo, "revoked")
    _assert_invalid_grant(api, demo.refresh_token, "revoked")
    assert api.profile_status(other) == 200
    tokens_from(api.refresh(other.refresh_token))


def test_logout_twice_is_refused_the_second_time(api: ApiClient, demo: Tokens) -> None:
    assert api.post("/v1/auth/logout", demo).status_code == 204
    assert_problem(api.post("/v1/auth/logout", demo), 401, "token_revoked")


def test_logout_revokes_access_tokens_issued_by_refresh(api: ApiClient, demo: Tokens) -> None:
    refreshed = tokens_from(api.refresh(demo.refresh_token))
    assert api.post("/v1/auth/logout", demo).status_code == 204
    _assert_rejected(api, refreshed, "revoked")
    _assert_invalid_grant(api, refreshed.refresh_token, "revoked")


# --- malformed and foreign tokens --------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic ZGVtbzpkZW1v"}, {"Authorization": "Bearer"}]
)
def test_a_missing_bearer_token_gets_a_plain_challenge(
    api: ApiClient, headers: dict[str, str]
) -> None:
    response = api.get(PROFILE, headers=headers)
    assert_problem(response, 401, "token_missing")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_bearer_scheme_is_case_insensitive(api: ApiClient, demo: Tokens) -> None:
    response = api.get(PROFILE, headers={"Authorization": f"bearer {demo.access_token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"])
def test_a_garbage_token_is_invalid(api: ApiClient, token: str) -> None:
    response = api.get(PROFILE, headers=bearer(token))
    assert_problem(response, 401, "token_invalid")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_signed_with_another_key_is_invalid(api: ApiClient, demo: Tokens) -> None:
    claims = jwt.decode(demo.access_token, options={"verify_signature": False})
    forged = jwt.encode(claims | {"exp": claims["exp"] + 3600}, "not-the-key" * 4, "HS256")
    _assert_rejected(api, Tokens(forged, "", 0), "invalid")
    unsigned = jwt.encode(claims, None, algorithm="none")
    _assert_rejected(api, Tokens(unsigned, "", 0), "invalid")


def test_tokens_from_before_a_reset_are_invalid_after_it(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    harness_control.reset()
    _assert_rejected(api, demo, "invalid")
    _assert_invalid_grant(api, demo.refresh_token, "unknown")
    assert api.profile_status(api.login()) == 200
