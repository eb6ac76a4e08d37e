"""The pytest plugin's fault support, run in an inner pytest session (pytester): the
`harness_faults` marker installs rules for one test only, and the `harness_faults`
fixture adds, lists and clears rules, all removed after the test."""

from __future__ import annotations

import pytest

MARKER_AND_FIXTURE = """
import httpx
import pytest

PRODUCTS = "/v1/products"


@pytest.mark.harness_faults("status;status=503;retry_after=1", path=PRODUCTS)
def test_1_the_marker_installs_its_rule(harness_mock, harness_control):
    response = httpx.get(harness_mock.base_url + PRODUCTS)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert httpx.get(harness_mock.base_url + PRODUCTS + "/p1").status_code == 401
    (rule,) = harness_control.faults()
    assert rule["rule"]["match"]["path"] == PRODUCTS
    assert rule["hits"] == 1


def test_2_the_next_test_has_no_rules(harness_mock, harness_control):
    assert harness_control.faults() == []
    assert httpx.get(harness_mock.base_url + PRODUCTS).status_code == 401


@pytest.mark.harness_faults(
    "reset",
    {"action": {"type": "status", "status": 418}, "match": {"path": "/v1/users/*"}},
    times=1,
)
def test_3_several_rules_strings_and_dicts_with_a_selection(harness_mock, harness_control):
    rules = harness_control.faults()
    assert [r["rule"]["action"]["type"] for r in rules] == ["reset", "status"]
    assert all(r["rule"]["select"]["times"] == 1 for r in rules)
    with pytest.raises(httpx.ReadError):
        httpx.get(harness_mock.base_url + PRODUCTS)
    profile = harness_mock.base_url + "/v1/users/profile"
    assert [httpx.get(profile).status_code for _ in range(2)] == [418, 401]


@pytest.mark.harness_faults("status;status=500")
class TestAClassMarker:
    def test_4_applies_to_its_methods(self, harness_mock):
        assert httpx.get(harness_mock.base_url + PRODUCTS).status_code == 500


def test_5_the_fixture_adds_lists_and_clears(harness_mock, harness_faults):
    once = harness_faults.add("close", path=PRODUCTS, times=1, rule_id="once")
    assert once == "once"
    teapot = harness_faults.add(
        {"action": {"type": "status", "status": 418}}, methods=["POST"], operation="createProduct"
    )
    assert [r["id"] for r in harness_faults.list()] == ["once", teapot]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(harness_mock.base_url + PRODUCTS)
    assert httpx.get(harness_mock.base_url + PRODUCTS).status_code == 401
    assert httpx.post(harness_mock.base_url + PRODUCTS, json={}).status_code == 418
    hits = {r["id"]: (r["matches"], r["hits"]) for r in harness_faults.list()}
    assert hits == {"once": (3, 1), teapot: (1, 1)}
    harness_faults.clear("once")
    assert [r["id"] for r in harness_faults.list()] == [teapot]
    harness_faults.clear()
    assert harness_faults.list() == []
    harness_faults.add("status;status=502;delay_ms=5", path="/v1/*", every=2)
    assert len(harness_faults.list()) == 1  # left for the fixture to remove


def test_6_the_fixture_removed_them(harness_mock_session):
    # No reset here: only the fixture's own teardown can have removed the rule.
    faults = httpx.get(harness_mock_session.control_url + "/faults").json()
    assert faults == {"faults": []}


def test_7_bad_narrowing_says_why(harness_faults):
    with pytest.raises(ValueError, match="unknown selection often"):
        harness_faults.add("reset", often=3)
    with pytest.raises(ValueError, match="less than or equal to 599"):
        harness_faults.add("status;status=600")
    assert harness_faults.list() == []
"""

BAD_MARKER = """
import pytest


@pytest.mark.harness_faults("explode")
def test_never_runs(harness_mock):
    raise AssertionError("the bad rule should have stopped the setup")
"""


def test_marker_and_fixture_install_rules_for_one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=MARKER_AND_FIXTURE)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=7)


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.harness_faults(*rules): fault rules*"])


def test_a_bad_marker_rule_is_a_setup_error_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=BAD_MARKER)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ValueError: unknown fault 'explode'*"])


FIRST_SESSION = """
def test_a_request_through_httpx(harness_control):
    assert harness_control.faults() == []
"""

SECOND_SESSION = """
import httpx
import pytest


@pytest.mark.harness_faults("reset", path="/v1/products")
def test_the_reset_is_an_httpx_error(harness_mock):
    with pytest.raises(httpx.ReadError):
        httpx.get(harness_mock.base_url + "/v1/products")
"""


def test_httpx_errors_stay_httpx_errors_in_a_later_inner_session(
    pytester: pytest.Pytester,
) -> None:
    # The first inner session makes httpx's first requests of this process (when run
    # alone); the second one then needs httpx to still map httpcore's errors.
    pytester.makepyfile(test_first=FIRST_SESSION)
    pytester.runpytest("-p", "no:cacheprovider", "test_first.py").assert_outcomes(passed=1)
    pytester.makepyfile(test_second=SECOND_SESSION)
    result = pytester.runpytest("-p", "no:cacheprovider", "test_second.py")
    result.assert_outcomes(passed=1)
