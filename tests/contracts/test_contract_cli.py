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


QUICK = (
    *("--max-examples", "3", "--seed", "5", "--phases", "examples,coverage"),
    *("--no-lifecycle", "--no-security"),  # the security checks: test_security.py
)


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


# --- bad input: one line, exit 2, before any case ------------------------------------------


def _demo_config(tmp_path: Path, **auth: object) -> Path:
    """The demo's configuration with its spec made absolute and `auth` changes applied."""
    import yaml

    from contracts.config import DEMO_CONFIG_PATH

    data = yaml.safe_load(DEMO_CONFIG_PATH.read_text())
    data["spec"] = str(DEMO_CONFIG_PATH.with_name(data["spec"]))
    data["auth"] |= auth
    path = tmp_path / "harness.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (
            {"identities": [{"email": "demo@example.com", "password": "wrong"}]},
            "cannot sign in: login (POST /v1/auth/login) answered 401",
        ),
        (
            {
                "identities": [{"email": "demo@example.com", "password": "demo-password"}],
                "login": {
                    "body": {"email": "{email}", "password": "{password}"},
                    "token": "/user/token",
                },
            },
            "auth.login.token: /user/token matches nothing in the login answer",
        ),
    ],
)
def test_a_sign_in_that_fails_exits_2_before_any_case(
    harness_mock: object,
    tmp_path: Path,
    auth: dict[str, object],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base_url = harness_mock.base_url  # type: ignore[attr-defined]
    config = _demo_config(tmp_path, **auth)
    assert contract_cli.run(_args("--config", str(config), "--base-url", base_url, *QUICK)) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "wrong" not in captured.err.replace("is wrong", "")  # no password in the message
    assert "-- examples" not in captured.out  # no phase started


def test_an_invalid_document_an_unknown_setting_and_a_dead_server_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "api.yaml"
    content = "{application/json: {schema: {type: nonsense}}}"
    spec.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a: {get: {responses:\n"
        f"    {{'200': {{description: ok, content: {content}}}}}}}}}\n"
    )
    assert contract_cli.run(_args("--spec", str(spec), "--base-url", "http://127.0.0.1:9")) == 2
    assert "/paths/~1a/get/responses/200" in capsys.readouterr().err
    config = tmp_path / "harness.yaml"
    config.write_text("spec: api.yaml\nauth:\n  sceme: Token\n")
    assert contract_cli.run(_args("--config", str(config), "--base-url", "http://127.0.0.1:9")) == 2
    assert "line 3: auth.sceme: unknown setting (did you mean 'scheme'?)" in capsys.readouterr().err
    good = _demo_config(tmp_path)
    assert contract_cli.run(_args("--config", str(good), "--base-url", "http://127.0.0.1:9")) == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


@pytest.mark.parametrize("show", [False, True])
def test_reproductions_mask_secrets_unless_asked(
    show: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--max-examples", "1", "--seed", "5", "--phases", "examples"]
    argv += ["--mock-breakage", "non_idempotent", *(["--show-secrets"] if show else [])]
    assert contract_cli.run(_args(*argv)) == 1
    out = capsys.readouterr().out
    replay = next(line for line in out.splitlines() if "Reproduce (twice)" in line)
    assert "Idempotency-Key: lifecycle-" in replay  # the curl carries the key it needs
    if show:
        assert "Authorization: Bearer ey" in replay  # a real JWT: the curl replays as is
    else:
        assert "Authorization: Bearer ***" in replay
        assert "Bearer ey" not in out
