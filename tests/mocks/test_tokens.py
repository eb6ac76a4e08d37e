"""TokenService on its own, on a virtual clock: no HTTP, no sleeping."""

from __future__ import annotations

import jwt
import pytest

from mocks.clock import VirtualClock
from mocks.settings import MockSettings
from mocks.tokens import RefreshFailure, TokenService, TokenState


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def tokens(clock: VirtualClock) -> TokenService:
    return TokenService(clock)


def test_a_new_session_has_a_valid_access_token(tokens: TokenService) -> None:
    issued = tokens.start_session("usr_1")
    check = tokens.check_access(issued.access_token)
    assert check.state is TokenState.VALID
    assert (check.user_id, check.session_id, check.token_id) == (
        "usr_1",
        issued.session_id,
        issued.access_id,
    )
    assert issued.expires_in == 300
    assert issued.refresh_token.startswith(issued.refresh_id + ".")
    assert tokens.session_user(issued.session_id) == "usr_1"


def test_ids_count_up_per_session_and_token(tokens: TokenService) -> None:
    first, second = tokens.start_session("a"), tokens.start_session("b")
    assert (first.session_id, second.session_id) == ("s-1", "s-2")
    assert (first.access_id, second.access_id) == ("at-1", "at-2")
    assert (first.refresh_id, second.refresh_id) == ("rt-1", "rt-2")


def test_the_access_token_carries_its_claims(tokens: TokenService, clock: VirtualClock) -> None:
    issued = tokens.start_session("usr_1")
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert (claims["sub"], claims["sid"], claims["jti"]) == ("usr_1", "s-1", "at-1")
    assert claims["exp"] == pytest.approx(clock.now() + 300, abs=1)


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_missing(tokens: TokenService, token: str | None) -> None:
    assert tokens.check_access(token).state is TokenState.MISSING


def test_foreign_and_broken_tokens_are_invalid(tokens: TokenService, clock: VirtualClock) -> None:
    foreign = TokenService(clock).start_session("usr_1").access_token
    assert tokens.check_access(foreign).state is TokenState.INVALID
    assert tokens.check_access("not.a.jwt").state is TokenState.INVALID
    issued = tokens.start_session("usr_1")
    assert tokens.check_access(issued.access_token[:-2]).state is TokenState.INVALID


def test_access_tokens_expire_on_the_virtual_clock(
    tokens: TokenService, clock: VirtualClock
) -> None:
    issued = tokens.start_session("usr_1")
    clock.advance(299)
    assert tokens.check_access(issued.access_token).state is TokenState.VALID
    clock.advance(1)
    check = tokens.check_access(issued.access_token)
    assert check.state is TokenState.EXPIRED
    assert check.token_id == issued.access_id


def test_the_ttl_is_read_when_the_token_is_issued(clock: VirtualClock) -> None:
    tokens = TokenService(clock, MockSettings(access_ttl_s=10))
    issued = tokens.start_session("usr_1")
    assert issued.expires_in == 10
    tokens.settings = MockSettings(access_ttl_s=1000)
    clock.advance(10)
    assert tokens.check_access(issued.access_token).state is TokenState.EXPIRED


def test_expire_all_covers_tokens_issued_so_far(tokens: TokenService) -> None:
    old = tokens.start_session("usr_1")
    assert tokens.expire_all() == 1
    new = tokens.start_session("usr_1")
    assert tokens.check_access(old.access_token).state is TokenState.EXPIRED
    assert tokens.check_access(new.access_token).state is TokenState.VALID


def test_refresh_rotates(tokens: TokenService) -> None:
    issued = tokens.start_session("usr_1")
    result = tokens.refresh(issued.refresh_token)
    assert result.issued is not None
    assert result.presented_id == issued.refresh_id
    assert result.issued.session_id == issued.session_id
    assert result.issued.refresh_token != issued.refresh_token
    assert tokens.check_access(result.issued.access_token).state is TokenState.VALID


def test_reuse_revokes_the_session(tokens: TokenService) -> None:
    issued = tokens.start_session("usr_1")
    successor = tokens.refresh(issued.refresh_token).issued
    assert successor is not None
    reuse = tokens.refresh(issued.refresh_token)
    assert (reuse.failure, reuse.revoked_session) == (RefreshFailure.REUSED, issued.session_id)
    assert tokens.check_access(successor.access_token).state is TokenState.REVOKED
    assert tokens.refresh(successor.refresh_token).failure is RefreshFailure.REVOKED


def test_reuse_without_detection_keeps_the_session(clock: VirtualClock) -> None:
    tokens = TokenService(clock, MockSettings(reuse_detection=False))
    issued = tokens.start_session("usr_1")
    successor = tokens.refresh(issued.refresh_token).issued
    assert successor is not None
    reuse = tokens.refresh(issued.refresh_token)
    assert (reuse.failure, reuse.revoked_session) == (RefreshFailure.REUSED, None)
    assert tokens.check_access(successor.access_token).state is TokenState.VALID
    assert tokens.refresh(successor.refresh_token).issued is not None


def test_without_rotation_the_refresh_token_is_kept(clock: VirtualClock) -> None:
    tokens = TokenService(clock, MockSettings(rotate_refresh_tokens=False))
    issued = tokens.start_session("usr_1")
    for _ in range(3):
        again = tokens.refresh(issued.refresh_token).issued
        assert again is not None
        assert (again.refresh_token, again.refresh_id) == (issued.refresh_token, issued.refresh_id)


def test_refresh_tokens_expire(tokens: TokenService, clock: VirtualClock) -> None:
    issued = tokens.start_session("usr_1")
    clock.advance(tokens.settings.refresh_ttl_s)
    result = tokens.refresh(issued.refresh_token)
    assert (result.failure, result.presented_id) == (RefreshFailure.EXPIRED, issued.refresh_id)


def test_an_unknown_refresh_token(tokens: TokenService) -> None:
    result = tokens.refresh("rt-1.nope")
    assert (result.failure, result.presented_id, result.issued) == (
        RefreshFailure.UNKNOWN,
        None,
        None,
    )


def test_logout_revokes_one_session(tokens: TokenService) -> None:
    mine, other = tokens.start_session("usr_1"), tokens.start_session("usr_1")
    tokens.logout(mine.session_id)
    assert tokens.check_access(mine.access_token).state is TokenState.REVOKED
    assert tokens.refresh(mine.refresh_token).failure is RefreshFailure.REVOKED
    assert tokens.check_access(other.access_token).state is TokenState.VALID
    tokens.logout("s-unknown")  # harmless


def test_revoked_wins_over_expired(tokens: TokenService, clock: VirtualClock) -> None:
    issued = tokens.start_session("usr_1")
    tokens.logout(issued.session_id)
    clock.advance(10_000)
    assert tokens.check_access(issued.access_token).state is TokenState.REVOKED


def test_reset_invalidates_everything(tokens: TokenService) -> None:
    issued = tokens.start_session("usr_1")
    tokens.reset()
    assert tokens.check_access(issued.access_token).state is TokenState.INVALID
    assert tokens.refresh(issued.refresh_token).failure is RefreshFailure.UNKNOWN
    assert tokens.start_session("usr_1").session_id == "s-1"
