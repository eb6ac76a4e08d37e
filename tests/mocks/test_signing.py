"""mocks/signing.py on its own: the signing string, verify(), NonceCache, parse_timestamp."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocks.signing import (
    MAX_NONCE_LENGTH,
    NonceCache,
    SignatureState,
    parse_timestamp,
    sign,
    signing_string,
    verify,
)

NOW = 1_750_000_000.0
SECRET = "secret"
SKEW = 300.0
BODY = b'{"name": "kettle"}'
PATH = "/v1/products?page=2"


def _verify(
    nonces: NonceCache | None = None,
    *,
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
    timestamp: str | None = str(int(NOW)),
    nonce: str | None = "n-1",
    signature: str | None = None,
    signed: tuple[str, str, bytes] | None = None,
) -> SignatureState:
    """verify() of a request signed as `signed` (method, path, body; default: as sent)."""
    s_method, s_path, s_body = signed or (method, path, body)
    if signature is None and timestamp is not None and nonce is not None:
        signature = sign(SECRET, timestamp, nonce, s_method, s_path, s_body)
    return verify(
        secret=SECRET,
        skew_s=SKEW,
        nonces=nonces if nonces is not None else NonceCache(),
        method=method,
        path=path,
        body=body,
        timestamp=timestamp,
        nonce=nonce,
        signature=signature,
        now=NOW,
    )


# --- the signing string -----------------------------------------------------------


def test_signing_string_covers_method_path_with_query_and_body_hash() -> None:
    text = signing_string("1750000000000", "abc", "post", PATH, BODY)
    digest = hashlib.sha256(BODY).hexdigest()
    assert text == f"1750000000000:abc:POST:{PATH}:{digest}"


def test_sign_is_hex_hmac_sha256_of_the_signing_string() -> None:
    expected = hmac.new(
        SECRET.encode(),
        signing_string("1", "n", "GET", "/v1/products", b"").encode(),
        hashlib.sha256,
    ).hexdigest()
    assert sign(SECRET, "1", "n", "GET", "/v1/products", b"") == expected
    assert len(expected) == 64


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=st.text(min_size=1, max_size=40),
    body=st.binary(max_size=64),
    other=st.sampled_from(["method", "path", "body", "nonce", "timestamp", "secret"]),
)
def test_changing_any_signed_part_changes_the_signature(
    method: str, path: str, body: bytes, other: str
) -> None:
    parts = {"secret": SECRET, "timestamp": "1", "nonce": "n", "method": method}
    parts |= {"path": path, "body": body}
    changed = dict(parts)
    if other == "method":
        changed["method"] = "PATCH"
    elif other == "body":
        changed["body"] = body + b"\x00"
    else:
        changed[other] = f"{parts[other]}x"
    assert sign(**parts) != sign(**changed)  # type: ignore[arg-type]


# --- verify ---------------------------------------------------------------------------


def test_a_correct_signature_is_valid() -> None:
    assert _verify() is SignatureState.VALID


def test_the_signature_is_accepted_in_upper_case() -> None:
    stamp = str(int(NOW))
    signature = sign(SECRET, stamp, "n-1", "POST", PATH, BODY).upper()
    assert _verify(signature=signature) is SignatureState.VALID


def test_milliseconds_and_seconds_are_both_accepted() -> None:
    assert _verify(timestamp=str(int(NOW * 1000))) is SignatureState.VALID
    assert _verify(timestamp=str(int(NOW))) is SignatureState.VALID


@pytest.mark.parametrize(
    "signed",
    [
        ("PUT", PATH, BODY),
        ("POST", "/v1/products?page=3", BODY),
        ("POST", "/v1/products", BODY),
        ("POST", PATH, BODY + b" "),
    ],
)
def test_a_signature_for_another_request_is_invalid(signed: tuple[str, str, bytes]) -> None:
    assert _verify(signed=signed) is SignatureState.INVALID


def test_garbage_signature_is_invalid() -> None:
    assert _verify(signature="zz" * 32) is SignatureState.INVALID
    assert _verify(signature="\u00e9") is SignatureState.INVALID


@pytest.mark.parametrize(
    "missing", [{"timestamp": None}, {"nonce": None}, {"signature": ""}, {"nonce": ""}]
)
def test_missing_parts_are_missing(missing: dict[str, str | None]) -> None:
    assert _verify(**missing) is SignatureState.MISSING  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timestamp": "1750000000.5"},
        {"timestamp": "-1750000000"},
        {"timestamp": "1" * 17},
        {"nonce": "n" * (MAX_NONCE_LENGTH + 1)},
    ],
)
def test_malformed_timestamps_and_nonces(kwargs: dict[str, str]) -> None:
    assert _verify(**kwargs) is SignatureState.MALFORMED  # type: ignore[arg-type]


def test_a_nonce_of_the_longest_length_is_fine() -> None:
    assert _verify(nonce="n" * MAX_NONCE_LENGTH) is SignatureState.VALID


@pytest.mark.parametrize("offset", [SKEW + 1, -SKEW - 1, 600, -600])
def test_timestamps_beyond_the_skew_are_stale(offset: float) -> None:
    assert _verify(timestamp=str(int(NOW + offset))) is SignatureState.STALE


@pytest.mark.parametrize("offset", [SKEW, -SKEW])
def test_timestamps_at_the_skew_are_fine(offset: float) -> None:
    assert _verify(timestamp=str(int(NOW + offset))) is SignatureState.VALID


def test_a_nonce_is_accepted_once() -> None:
    nonces = NonceCache()
    assert _verify(nonces) is SignatureState.VALID
    assert _verify(nonces) is SignatureState.REPLAYED
    assert _verify(nonces, method="GET", body=b"") is SignatureState.REPLAYED


def test_invalid_and_stale_requests_do_not_consume_the_nonce() -> None:
    nonces = NonceCache()
    assert _verify(nonces, signature="00" * 32) is SignatureState.INVALID
    assert _verify(nonces, timestamp=str(int(NOW - 3600))) is SignatureState.STALE
    assert len(nonces) == 0
    assert _verify(nonces) is SignatureState.VALID


# --- NonceCache ---------------------------------------------------------------------


def test_nonce_cache_remembers_within_twice_the_window() -> None:
    cache = NonceCache()
    assert cache.seen_before("a", 1000.0, 10.0) is False
    assert cache.seen_before("a", 1020.0, 10.0) is True
    assert cache.seen_before("b", 1020.0, 10.0) is False
    assert len(cache) == 2


def test_nonce_cache_forgets_nonces_older_than_twice_the_window() -> None:
    cache = NonceCache()
    cache.seen_before("a", 1000.0, 10.0)
    cache.seen_before("b", 1015.0, 10.0)
    assert cache.seen_before("a", 1020.5, 10.0) is False  # "a" fell out, "b" stays
    assert len(cache) == 2
    assert cache.seen_before("b", 1020.5, 10.0) is True


def test_nonce_cache_clear() -> None:
    cache = NonceCache()
    cache.seen_before("a", 1000.0, 10.0)
    cache.clear()
    assert len(cache) == 0
    assert cache.seen_before("a", 1000.0, 10.0) is False


# --- parse_timestamp -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1750000000", 1_750_000_000.0),
        ("1750000000123", 1_750_000_000.123),
        ("0", 0.0),
        ("100000000000", 100_000_000_000.0),
        ("100000000001", 100_000_000.001),
    ],
)
def test_parse_timestamp_examples(text: str, seconds: float) -> None:
    assert parse_timestamp(text) == pytest.approx(seconds)


@given(st.integers(min_value=0, max_value=100_000_000_000))
def test_parse_timestamp_reads_seconds(number: int) -> None:
    assert parse_timestamp(str(number)) == float(number)


@given(st.integers(min_value=100_000_000_001, max_value=10**16 - 1))
def test_parse_timestamp_reads_milliseconds(number: int) -> None:
    assert parse_timestamp(str(number)) == number / 1000


@given(st.text(max_size=20))
def test_parse_timestamp_accepts_only_short_ascii_digit_strings(text: str) -> None:
    plain = text.isascii() and text.isdigit() and len(text) <= 16
    result = parse_timestamp(text)
    assert (result is not None) == plain
    if result is not None:
        assert result >= 0
