"""`harness contract` (harness/contract_cli.py) on the embedded mock: a summary
table, JUnit XML and the exit status CI reads."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import contract_cli


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="harness")
    contract_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["contract", *argv])


QUICK = ("--max-examples", "3", "--seed", "5", "--phases", "examples,coverage", "--no-lifecycle")


def test_the_embedded_mock_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "out" / "contract.xml"
    assert contract_cli.run(_args(*QUICK, "--junit", str(junit))) == 0
    out = capsys.readouterr().out
    assert "Embedded mock at http://127.0.0.1:" in out
    assert "contract PASSED" in out
    assert "GET /v1/products/{id}     getProduct" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0"


def test_a_broken_server_fails_with_the_operation_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "contract.xml"
    code = contract_cli.run(_args(*QUICK, "--mock-breakage", "lying_total", "--junit", str(junit)))
    out = capsys.readouterr().out
    assert code == 1
    assert "contract FAILED" in out
    assert "FAIL GET /v1/products [pagination_headers]" in out
    failed = [
        case.get("name")
        for case in ET.parse(junit).iter("testcase")
        if case.find("failure") is not None
    ]
    assert failed == ["GET /v1/products (listProducts)"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--phases", "nope"), "unknown phases"),
        (("--email", "a@example.com"), "both an email and a password"),
        (("--mock-breakage", "melting"), "unknown flaws"),
        (("--base-url", "http://127.0.0.1:9", "--mock-breakage", "all"), "needs the embedded mock"),
    ],
)
def test_usage_errors_exit_2(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert contract_cli.run(_args(*argv)) == 2
    assert message in capsys.readouterr().err
