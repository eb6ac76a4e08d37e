"""Driving a client's adapter over the stdio protocol (docs/adapter-protocol.md).

    with Adapter.start(["node", "adapter.mjs"], AdapterEnv(base_url=...)) as client:
        reply = client.call("get_product", {"id": "prd_1"})
        if not reply.ok: print(reply.error_kind)

An adapter that exits, writes something that is not a reply, or stays silent
past the timeout raises `AdapterError`, with the tail of its stderr: the
harness must say why a client could not be judged, not hang.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

REFERENCE_ADAPTER = (sys.executable, "-m", "harness.conformance.reference_adapter")


class AdapterError(RuntimeError):
    """The adapter broke the protocol, died or went silent."""


@dataclass(frozen=True)
class AdapterEnv:
    base_url: str
    api_key: str | None = None
    signing_secret: str | None = None
    timeout_s: float = 2.0
    retry_base_ms: int = 50
    log_file: Path | None = None

    def variables(self) -> dict[str, str]:
        values = {
            "HARNESS_BASE_URL": self.base_url,
            "HARNESS_TIMEOUT_S": f"{self.timeout_s:g}",
            "HARNESS_RETRY_BASE_MS": str(self.retry_base_ms),
        }
        if self.api_key:
            values["HARNESS_API_KEY"] = self.api_key
        if self.signing_secret:
            values["HARNESS_SIGNING_SECRET"] = self.signing_secret
        if self.log_file is not None:
            values["HARNESS_LOG_FILE"] = str(self.log_file)
        return values


@dataclass(frozen=True)
class Reply:
    ok: bool
    result: Any = None
    error: dict[str, Any] = field(default_factory=dict)

    @property
    def error_kind(self) -> str | None:
        return None if self.ok else str(self.error.get("kind"))

    @property
    def status(self) -> int | None:
        status = self.error.get("status")
        return status if isinstance(status, int) else None

    @staticmethod
    def parse(message: dict[str, Any]) -> Reply:
        if message.get("ok") is True:
            return Reply(True, message.get("result"))
        if message.get("ok") is False and isinstance(message.get("error"), dict):
            return Reply(False, error=message["error"])
        raise AdapterError(f"not a reply: {json.dumps(message)[:200]}")


def parse_command(command: str | Sequence[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


class Adapter:
    def __init__(
        self,
        process: subprocess.Popen[str],
        stderr: IO[str],
        command: Sequence[str] = (),
        env: AdapterEnv | None = None,
    ) -> None:
        self.command = tuple(command)
        self.env = env
        self._process = process
        self._stderr = stderr
        self._next_id = 0
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    @classmethod
    def start(cls, command: str | Sequence[str], env: AdapterEnv) -> Adapter:
        argv = parse_command(command)
        stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed in close())
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
                env=os.environ | env.variables(),
            )
        except OSError as e:
            stderr.close()
            raise AdapterError(f"cannot start {shlex.join(argv)}: {e.strerror}") from None
        return cls(process, stderr, argv, env)

    def relaunch(self, **changes: Any) -> Adapter:
        """Start another instance of this adapter (a fresh client), its environment
        changed, e.g. `base_url` pointing at a front that refuses connections."""
        if self.env is None or not self.command:
            raise AdapterError("this adapter was not started by Adapter.start")
        return Adapter.start(self.command, replace(self.env, **changes))

    def _pump(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stderr_tail(self, lines: int = 15) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return "".join(self._stderr.readlines()[-lines:])

    def _fail(self, what: str) -> AdapterError:
        tail = self.stderr_tail()
        return AdapterError(f"{what}" + (f"\n--- adapter stderr ---\n{tail}" if tail else ""))

    def send(self, op: str, args: dict[str, Any] | None = None, **extra: Any) -> int:
        """Write a request without waiting for its reply; returns its id."""
        self._next_id += 1
        message = {"id": self._next_id, "op": op, "args": args or {}, **extra}
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail(f"the adapter exited (code {self._process.poll()})") from None
        return self._next_id

    def receive(self, request_id: int, timeout: float) -> Reply:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise self._fail(f"no reply to request {request_id} within {timeout:g} s") from None
        if line is None:
            raise self._fail(f"the adapter exited (code {self._process.wait()}) before replying")
        try:
            message = json.loads(line)
        except ValueError:
            raise self._fail(f"not JSON on stdout: {line[:200]!r}") from None
        if not isinstance(message, dict) or message.get("id") != request_id:
            raise self._fail(f"expected the reply to request {request_id}, got {line[:200]!r}")
        return Reply.parse(message)

    def call(
        self, op: str, args: dict[str, Any] | None = None, *, timeout: float = 30.0, **extra: Any
    ) -> Reply:
        return self.receive(self.send(op, args, **extra), timeout)

    def parallel(
        self, ops: Sequence[tuple[str, dict[str, Any]]], *, timeout: float = 30.0
    ) -> list[Reply]:
        reply = self.call(
            "parallel", {"ops": [{"op": o, "args": a} for o, a in ops]}, timeout=timeout
        )
        if not reply.ok or not isinstance(reply.result, list) or len(reply.result) != len(ops):
            raise self._fail(f"parallel must answer a list of {len(ops)} replies: {reply}")
        return [Reply.parse(item) for item in reply.result]

    def close(self, timeout: float = 10.0) -> int:
        """Ask the adapter to shut down; kill it if it does not. Returns its exit code."""
        try:
            if self._process.poll() is None:
                self.call("shutdown", timeout=timeout)
                return self._process.wait(timeout=timeout)
            return self._process.returncode
        except (AdapterError, subprocess.TimeoutExpired):
            self._process.kill()
            return self._process.wait()
        finally:
            self._stderr.close()

    def __enter__(self) -> Adapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
