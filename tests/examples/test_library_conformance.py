"""The library's Node client judged by `harness verify` through its protocol v2 adapter
(examples/library/client-node/adapter.mjs), against the mock of the library's own
document: every rule its roles allow passes; the defective variant, which retries
POSTs without an Idempotency-Key, fails exactly R6 and R8; one that keeps numbers
in cents fails R17, whose awkward values come from the document's schema, and
one that rounds them to cents in what it sends fails exactly R17's create half
(what the mock stored, read back outside the client); one
that logs in again on every 401 of a call fails exactly R4 (the API's only
renewal is logging in again)."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None, reason="node (Node.js 20) is not on PATH: the library's client is a Node client"
)
LIBRARY = Path(__file__).resolve().parents[2] / "examples" / "library"
ADAPTER = LIBRARY / "client-node" / "adapter.mjs"
CONFIG = LIBRARY / "harness.yaml"

# What the API's roles allow: it has no refresh role; signing and the demo's round
# trip are the demo's. The rest is judged.
NO_REFRESH = ("R1", "R2", "R3", "R5")
DEMO_ONLY = ("R13", "R19")
# The client never retries a POST (R8), nor a GET answered 503 without Retry-After
# (R10, R12): nothing to judge there.
NEVER_PROVOKED = ("R8", "R10", "R12")
JUDGED = ("R4", "R6", "R7", "R9", "R11", "R14", "R15", "R16", "R17", "R18", "R20")


def verify(
    tmp_path: Path, *adapter_args: str, rules: tuple[str, ...] = ()
) -> tuple[int, dict[str, dict[str, Any]]]:
    command = shlex.join([NODE or "node", str(ADAPTER), *adapter_args])
    report = tmp_path / "verdicts.json"
    only = [part for rule in rules for part in ("--scenario", rule)]
    argv = ["verify", "--config", str(CONFIG), "--adapter", command, "--json", str(report)]
    code = main([*argv, *only])
    rules = json.loads(report.read_text(encoding="utf-8"))["rules"]
    return code, {r["rule"]: r for r in rules}


def outcomes(verdicts: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {rule: v["outcome"] for rule, v in verdicts.items()}


def test_the_library_client_passes_every_rule_its_roles_allow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, verdicts = verify(tmp_path)
    out = capsys.readouterr().out
    assert "adapter protocol v2" in out
    expected = {r: "pass" for r in JUDGED} | {
        r: "not-applicable" for r in (*NO_REFRESH, *DEMO_ONLY, *NEVER_PROVOKED)
    }
    assert outcomes(verdicts) == expected, out
    assert code == 0
    for rule in NO_REFRESH:
        assert "the API has no refresh role" in verdicts[rule]["summary"]
    assert "1 login again, 2 attempts, then unauthorized" in verdicts["R4"]["summary"]
    assert "Not applicable to Lending Library API" in verdicts["R19"]["summary"]
    assert "signs requests" in verdicts["R19"]["summary"]
    served = " ".join(verdicts["R17"]["evidence"])
    for awkward in (
        "replacementCost = 3.14159265358979",
        "createdAt = 2026-03-01T12:00:00.250+05:30",
    ):
        assert awkward in served
    assert (
        "An item created with 7 awkward values was stored as sent (9 fields compared)"
        in (verdicts["R17"]["summary"])
    )
    assert "POST /api/books -> 201" in served


def test_the_defective_library_client_fails_exactly_the_rules_it_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, verdicts = verify(tmp_path, "--defect", "retry-post-without-key")
    out = capsys.readouterr().out
    assert code == 1
    failed = sorted(r for r, outcome in outcomes(verdicts).items() if outcome == "fail")
    assert failed == ["R6", "R8"], out
    assert "retried without an Idempotency-Key: 2 items exist" in verdicts["R6"]["summary"]
    assert "4 of the 4 attempts carried no key" in verdicts["R8"]["summary"]
    assert "POST /api/books -> 502" in " ".join(verdicts["R6"]["evidence"])
    # The rest is as the correct client's.
    assert all(verdicts[r]["outcome"] == "pass" for r in JUDGED if r != "R6")


def test_a_library_client_that_keeps_cents_fails_the_round_trip(tmp_path: Path) -> None:
    code, verdicts = verify(tmp_path, "--defect", "cents", rules=("R17", "R15"))
    assert code == 1
    assert outcomes(verdicts) == {"R17": "fail", "R15": "pass"}
    summary = verdicts["R17"]["summary"]
    assert "answer.book.replacementCost was 3.14159265358979, reported 3.14" in summary


def test_a_library_client_that_logs_in_again_on_every_401_fails_exactly_r4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, verdicts = verify(tmp_path, "--defect", "relogin-every-401")
    out = capsys.readouterr().out
    assert code == 1
    failed = sorted(r for r, outcome in outcomes(verdicts).items() if outcome == "fail")
    assert failed == ["R4"], out
    assert "5 logins again and 6 attempts" in verdicts["R4"]["summary"]
    assert all(verdicts[r]["outcome"] == "pass" for r in JUDGED if r != "R4")


def test_a_library_client_that_sends_cents_fails_exactly_the_create_half_of_r17(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, verdicts = verify(tmp_path, "--defect", "cents-in")
    out = capsys.readouterr().out
    assert code == 1
    failed = sorted(r for r, outcome in outcomes(verdicts).items() if outcome == "fail")
    assert failed == ["R17"], out
    summary = verdicts["R17"]["summary"]
    assert "1 values did not survive" in summary  # the served half held
    assert "sent.replacementCost was 3.14159265358979, stored 3.14" in summary
