"""The reference mocks the benchmarks put beside ours: Prism and WireMock.

    python -m bench.references install   # both from npm, into .bench-tools/
    python -m bench.references           # where each is found, or why not

Both are found on PATH first, then in `.bench-tools/` at the project root
(ignored by git). Prism (the OpenAPI mock) needs Node.js; WireMock comes from
npm's `wiremock` package, the standalone JAR behind a small Node wrapper, and
needs a Java runtime (11 or later) on PATH as well. The versions are pinned
so that two machines compare the same programs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.servers import HOST, PORT, Launch

TOOLS = Path(__file__).resolve().parent.parent / ".bench-tools"
PACKAGES = {"prism": "@stoplight/prism-cli@5.14.2", "wiremock": "wiremock@3.13.2"}
INSTALL_TIMEOUT_S = 600


def find(name: str) -> str | None:
    """The executable `name` (a key of PACKAGES): on PATH, else installed here."""
    found = shutil.which(name)
    if found:
        return found
    local = TOOLS / "node_modules" / ".bin" / name
    return str(local) if local.exists() else None


def missing_reason(name: str) -> str | None:
    """Why `name` cannot run here, or None if it can."""
    if find(name) is None:
        return f"not installed (python -m bench.references install, or {name} on PATH)"
    if name == "wiremock" and shutil.which("java") is None:
        return "needs a Java runtime (11 or later) on PATH"
    if name == "wiremock" and wiremock_jar() is None:
        return "its standalone JAR is not beside it (npm's wiremock package)"
    return None


def wiremock_launch(root: Path, url_pattern: str, body: bytes) -> Launch | None:
    """WireMock answering GET `url_pattern` with a bearer token by `body` (JSON), from a
    stub written under `root`; None if WireMock cannot run here. No request journal:
    WireMock would keep every request in memory."""
    jar = wiremock_jar()
    java = shutil.which("java")
    if jar is None or java is None:
        return None
    mappings = root / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    stub = {
        "request": {
            "method": "GET",
            "urlPathPattern": url_pattern,
            "headers": {"Authorization": {"matches": "Bearer .+"}},
        },
        "response": {
            "status": 200,
            # Else Jetty sends it chunked (the built-in load generator reads lengths).
            "headers": {"Content-Type": "application/json", "Content-Length": str(len(body))},
            "body": body.decode(),
        },
    }
    (mappings / "read.json").write_text(json.dumps(stub))
    argv = (java, "-jar", str(jar), "--bind-address", HOST, "--port", PORT)
    return Launch((*argv, "--root-dir", str(root), "--disable-banner", "--no-request-journal"))


def wiremock_jar() -> Path | None:
    """The standalone JAR inside npm's `wiremock` package: run by java itself, so that
    stopping the server stops the JVM (the package's Node wrapper would leave it)."""
    wiremock = find("wiremock")
    if wiremock is None:
        return None
    package = Path(wiremock).resolve().parent  # .bin/wiremock -> the package's index.js
    return next(iter(sorted(package.glob("build/wiremock-standalone-*.jar"))), None)


def install() -> int:
    npm = shutil.which("npm")
    if npm is None:
        print("bench.references: npm is not on PATH: install Node.js 18 or later", file=sys.stderr)
        return 1
    TOOLS.mkdir(exist_ok=True)
    command = [npm, "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund"]
    print(f"installing {', '.join(PACKAGES.values())} into {TOOLS.name}/", flush=True)
    try:
        subprocess.run([*command, *PACKAGES.values()], check=True, timeout=INSTALL_TIMEOUT_S)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        print(f"bench.references: npm install failed: {e}", file=sys.stderr)
        return 1
    return report()


def report() -> int:
    for name in PACKAGES:
        reason = missing_reason(name)
        print(f"{name:<9} {find(name) if reason is None else reason}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.references", description=__doc__)
    parser.add_argument("action", nargs="?", choices=["install", "show"], default="show")
    args = parser.parse_args(argv)
    return install() if args.action == "install" else report()


if __name__ == "__main__":
    sys.exit(main())
