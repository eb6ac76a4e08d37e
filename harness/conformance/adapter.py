"""Driving a client's adapter over the stdio protocol (docs/adapter-protocol.md).

    with Adapter.start(["node", "adapter.mjs"], AdapterEnv(base_url=...)) as client:
        reply = client.call("get_product", {"id": "prd_1"}, timeout=5)
        if not reply.ok: print(reply.error_kind)

Whatever the adapter does, the harness stays in charge:
- it runs in its own process group and session, and `close()` ends it and
  everything it started (processes.py), even children that left its session;
- a line on stdout may be at most `MAX_LINE_BYTES`; a longer one is skipped
  as it streams (never held whole) and the call fails with that reason;
- a reply is due within the call's timeout, and within the run's deadline;
- the first request to a fresh adapter is also watched for plain silence: an
  adapter that writes nothing, uses no CPU and sends nothing to the server
  (`activity`, e.g. the mock's journal) for `SILENT_S` is given up on at once.
Each of these raises `AdapterError` with the tail of the adapter's stderr, so
the harness can say why a client could not be judged instead of hanging.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from harness.conformance import processes
from harness.conformance.processes import MARKER, ProcessTree

REFERENCE_ADAPTER = (sys.executable, "-m", "harness.conformance.reference_adapter")
MAX_LINE_BYTES = 16 * 1024 * 1024
STDERR_TAIL_BYTES = 64 * 1024
# The first request to a fresh adapter: given up on after this long of utter silence
# (nothing on stdout, no CPU used, nothing sent to the server) ...
SILENT_S = 3.0
# ... and after this long whatever the adapter is busy with (a slow start).
FIRST_REPLY_S = 30.0
SHUTDOWN_S = 3.0


class AdapterError(RuntimeError):
    """The adapter broke the protocol, died or went silent."""


class RunTimeUp(AdapterError):
    """The run's overall time bound was reached."""


class NoReply(AdapterError):
    """A reply did not come in time: the adapter is still busy with that call."""


class Silent(NoReply):
    """A fresh adapter never answered its first request."""


@dataclass(frozen=True)
class AdapterEnv:
    base_url: str
    api_key: str | None = None
    signing_secret: str | None = None
    timeout_s: float = 2.0
    retry_base_ms: int = 50
    retry_cap_ms: int = 5000
    deadline_s: float = 30.0
    log_file: Path | None = None
    # What the run tells the adapter about the API (binding.py): HARNESS_PROTOCOL and
    # HARNESS_ROLES, as environment variables.
    api: tuple[tuple[str, str], ...] = ()

    def variables(self) -> dict[str, str]:
        values = {
            **dict(self.api),
            "HARNESS_BASE_URL": self.base_url,
            "HARNESS_TIMEOUT_S": f"{self.timeout_s:g}",
            "HARNESS_RETRY_BASE_MS": str(self.retry_base_ms),
            "HARNESS_RETRY_CAP_MS": str(self.retry_cap_ms),
            "HARNESS_DEADLINE_S": f"{self.deadline_s:g}",
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


@dataclass(frozen=True)
class Watch:
    """What bounds an adapter beyond each call's own timeout."""

    deadline: float | None = None  # time.monotonic() by which the run must end
    activity: Callable[[], int] | None = None  # grows when the client reaches the server
    first_reply_s: float = FIRST_REPLY_S  # a fresh adapter busy this long is given up on
    silent_s: float = SILENT_S  # ... and one plainly silent this long


def parse_command(command: str | Sequence[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


class _Oversized:
    """Stands in the line queue for a line that was too long to keep."""


class Adapter:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        command: Sequence[str] = (),
        env: AdapterEnv | None = None,
        watch: Watch | None = None,
        tree: ProcessTree | None = None,
    ) -> None:
        self.command = tuple(command)
        self.env = env
        self.watch = watch or Watch()
        self._process = process
        self._tree = tree or ProcessTree(process.pid)
        self._next_id = 0
        self._pending: int | None = None  # a request whose reply never came
        self._answered = False  # has it ever replied (the first reply is watched)
        self._closing = threading.Event()
        self._lines: queue.Queue[str | _Oversized | None] = queue.Queue(maxsize=2)
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_lock = threading.Lock()
        self._stderr_closed = threading.Event()  # the pump has read stderr to its end
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    @classmethod
    def start(
        cls, command: str | Sequence[str], env: AdapterEnv, watch: Watch | None = None
    ) -> Adapter:
        argv = parse_command(command)
        token = uuid.uuid4().hex
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                env=os.environ | env.variables() | {MARKER: token},
                start_new_session=True,  # its own session and process group
            )
        except OSError as e:
            raise AdapterError(f"cannot start {shlex.join(argv)}: {e.strerror}") from None
        return cls(process, argv, env, watch, ProcessTree(process.pid, token))

    def relaunch(self, **changes: Any) -> Adapter:
        """Start another instance of this adapter (a fresh client), its environment
        changed, e.g. `base_url` pointing at a front that refuses connections."""
        if self.env is None or not self.command:
            raise AdapterError("this adapter was not started by Adapter.start")
        return Adapter.start(self.command, replace(self.env, **changes), self.watch)

    # --- reading ----------------------------------------------------------------------

    def _pump_stdout(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        fd = stream.fileno()
        buffer = bytearray()
        skipping = False  # inside a line that was too long: drop until its end
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            while chunk:
                end = chunk.find(b"\n")
                if end < 0:
                    if not skipping:
                        buffer += chunk
                        if len(buffer) > MAX_LINE_BYTES:
                            buffer.clear()
                            skipping = True
                            self._put(_Oversized())
                    break
                if not skipping:
                    buffer += chunk[:end]
                    if len(buffer) > MAX_LINE_BYTES:
                        self._put(_Oversized())
                    else:
                        self._put(buffer.decode("utf-8", errors="replace"))
                buffer.clear()
                skipping = False
                chunk = chunk[end + 1 :]
        self._put(None)

    def _put(self, item: str | _Oversized | None) -> None:
        while not self._closing.is_set():
            try:
                self._lines.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _pump_stderr(self) -> None:
        try:
            self._read_stderr()
        finally:
            self._stderr_closed.set()

    def _read_stderr(self) -> None:
        stream = self._process.stderr
        assert stream is not None
        fd, kept = stream.fileno(), 0
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._stderr_lock:
                self._stderr.append(chunk)
                kept += len(chunk)
                while kept - len(self._stderr[0]) >= STDERR_TAIL_BYTES:
                    kept -= len(self._stderr.popleft())

    def stderr_tail(self, lines: int = 15) -> str:
        with self._stderr_lock:
            text = b"".join(self._stderr).decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, what: str, kind: type[AdapterError] = AdapterError) -> AdapterError:
        tail = self.stderr_tail()
        return kind(f"{what}" + (f"\n--- adapter stderr ---\n{tail}" if tail else ""))

    # --- the protocol -----------------------------------------------------------------

    def send(self, op: str, args: dict[str, Any] | None = None, **extra: Any) -> int:
        """Write a request without waiting for its reply; returns its id."""
        self._next_id += 1
        message = {"id": self._next_id, "op": op, "args": args or {}, **extra}
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write((json.dumps(message) + "\n").encode())
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail(f"the adapter exited (code {self._exit_code()})") from None
        return self._next_id

    def receive(self, request_id: int, timeout: float, *, watch_silence: bool = True) -> Reply:
        """The reply to `request_id`, due within `timeout` seconds. The first reply of
        an adapter is also given up on once the adapter is plainly silent."""
        started = time.monotonic()
        first = not self._answered and watch_silence
        # A fresh adapter may be slow to start; plain silence is caught sooner below.
        due = started + (max(timeout, self.watch.first_reply_s) if first else timeout)
        self._pending = request_id
        silence = _Silence(self._tree, self.watch.activity) if first else None
        while True:
            now = time.monotonic()
            limit = due
            if self.watch.deadline is not None:
                limit = min(limit, self.watch.deadline)
            if now >= limit:
                if self.watch.deadline is not None and now >= self.watch.deadline:
                    raise self._fail("the run's time bound was reached", RunTimeUp)
                waited = now - started
                raise self._fail(
                    f"no reply to request {request_id} within {waited:.3g} s",
                    Silent if first else NoReply,
                )
            try:
                line = self._lines.get(timeout=min(0.25, limit - now))
            except queue.Empty:
                if silence is not None and silence.silent_for() >= self.watch.silent_s:
                    raise self._fail(
                        f"no reply to request {request_id}: the adapter has been silent for "
                        f"{self.watch.silent_s:g} s (nothing on stdout, no CPU used, no "
                        "request reached the server)",
                        Silent,
                    ) from None
                continue
            break
        return self._parse(line, request_id)

    def _parse(self, line: str | _Oversized | None, request_id: int) -> Reply:
        if line is None:
            # Its stdout closed: what it wrote to stderr is the reason; let the pump
            # read it to the end (it races the stdout pump).
            self._stderr_closed.wait(1.0)
            raise self._fail(f"the adapter exited (code {self._exit_code()}) before replying")
        if isinstance(line, _Oversized):
            raise self._fail(
                f"a line on stdout longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB "
                f"(waiting for the reply to request {request_id}); replies must be shorter"
            )
        try:
            message = json.loads(line)
        except ValueError:
            raise self._fail(f"not JSON on stdout: {line[:200]!r}") from None
        if not isinstance(message, dict) or message.get("id") != request_id:
            raise self._fail(f"expected the reply to request {request_id}, got {line[:200]!r}")
        self._answered = True
        self._pending = None
        return Reply.parse(message)

    def _exit_code(self) -> int | None:
        """Its exit code, without reaping it: `close()` ends its process group first,
        which is safe only while its process id cannot have been reused."""
        if not processes.supported():
            try:
                return self._process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                return None
        self._tree.wait_exit(1.0)
        return self._tree.exit_code()

    def call(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float = 30.0,
        watch_silence: bool = True,
        **extra: Any,
    ) -> Reply:
        request = self.send(op, args, **extra)
        return self.receive(request, timeout, watch_silence=watch_silence)

    def parallel(
        self, ops: Sequence[tuple[str, dict[str, Any]]], *, timeout: float = 30.0
    ) -> list[Reply]:
        reply = self.call(
            "parallel", {"ops": [{"op": o, "args": a} for o, a in ops]}, timeout=timeout
        )
        if not reply.ok or not isinstance(reply.result, list) or len(reply.result) != len(ops):
            raise self._fail(f"parallel must answer a list of {len(ops)} replies: {reply}")
        return [Reply.parse(item) for item in reply.result]

    # --- the end ----------------------------------------------------------------------

    def close(self, timeout: float = SHUTDOWN_S) -> int:
        """Ask the adapter to shut down, then end it and everything it started,
        whatever it did. Returns its exit code (negative: ended by a signal)."""
        try:
            # An adapter still busy with a call it never answered would not read a
            # shutdown request before finishing that call: end it at once.
            if not self._exited() and self._pending is None:
                with contextlib.suppress(AdapterError):
                    self.call("shutdown", timeout=timeout, watch_silence=False)
                self._wait_exit(timeout)
        finally:
            self._closing.set()
            self._tree.end()
            if self._process.poll() is None:
                self._process.kill()
            code = self._process.wait()
            for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
                _close_quietly(stream)
        return code

    def _exited(self) -> bool:
        if processes.supported():
            return self._tree.exited()
        return self._process.poll() is not None

    def _wait_exit(self, timeout: float) -> None:
        if processes.supported():
            self._tree.wait_exit(timeout)
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=timeout)

    @property
    def pending(self) -> bool:
        """Whether a request went unanswered: the adapter may still be busy with it,
        and replies to later requests cannot be told apart from its late one."""
        return self._pending is not None

    def survivors(self) -> list[int]:
        """Processes of this adapter still alive (after close: none, or a bug)."""
        return [s.pid for s in self._tree.survivors()]

    def __enter__(self) -> Adapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Silence:
    """How long an adapter has shown no sign of life: no CPU used, nothing running,
    no new request at the server."""

    def __init__(self, tree: ProcessTree, activity: Callable[[], int] | None) -> None:
        self._tree = tree
        self._activity = activity
        self._since = time.monotonic()
        self._last: tuple[int, int] | None = None

    def silent_for(self) -> float:
        ticks, busy = self._tree.activity()
        try:
            seen = self._activity() if self._activity is not None else 0
        except Exception:  # the probe is a hint; a failing probe means no sign of life
            seen = -1
        now = time.monotonic()
        if busy or self._last != (ticks, seen):
            self._last = (ticks, seen)
            self._since = now
        return now - self._since


def _close_quietly(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()
