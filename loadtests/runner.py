"""One load run, end to end: mock, scenario, locust, journal, verdicts, report.

1. Start the embedded mock in a child process (`harness mock --port 0` with a
   large journal), unless a base URL is given.
2. Load the profile's scenario through the control API (when there is one)
   and note where the journal stands.
3. Run locust headless in a child process: `--run-time` always set, a wall
   clock limit on top, `--processes` passed through. Its output is echoed
   (progress lines every few seconds) and kept in `locust.log`.
4. Read the run's journal with `?since=` paging, read the client's records,
   judge every invariant, write the summary, and exit 1 naming any breach.

This process never imports locust: gevent's monkey-patching belongs to
locust's own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

import loadtests
from harness.control import ControlClient, ControlError
from harness.mock_process import START_TIMEOUT_S, MockProcess, MockProcessError
from loadtests.invariants import Entry, Thresholds, Verdict, breaches, judge, percentile
from loadtests.journal_invariants import judge_journal, logical_calls, operations_table
from loadtests.profiles import Profile, any_api_scenario
from loadtests.records import CallRecord, read_records

PACKAGE = Path(loadtests.__file__).resolve().parent
LOCUSTFILE = PACKAGE / "locustfile.py"
# The demo's users keep call records; every other locust file is judged from the journal.
RECORDING_LOCUSTFILES = frozenset({LOCUSTFILE, PACKAGE / "defective_locustfile.py"})
# Users for any API from its configuration's roles (loadtests/role_users.py).
ROLES_LOCUSTFILE = PACKAGE / "roles_locustfile.py"
SPIKE_SHAPE = PACKAGE / "spike_shape.py"
RUN_CLOCK = PACKAGE / "run_clock.py"
JOURNAL_PAGE = 5000
# Beyond --run-time: locust's start-up, its stop, and slack for a slow machine.
WALL_SLACK_S = 90.0
# Compiling a document can take seconds, many more on a busy machine.
SPEC_MOCK_START_S = 180.0

# How long locust may take to write its reports after an interruption.
INTERRUPT_GRACE_S = 30.0

EXIT_BREACH = 1
EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


@dataclass(frozen=True)
class LoadPlan:
    profile: Profile
    users: int
    spawn_rate: float
    run_time_s: float
    report_dir: Path
    thresholds: Thresholds
    base_url: str | None = None
    processes: int | None = None
    locustfile: Path = LOCUSTFILE
    journal_size: int = 500_000
    progress_s: float = 5.0
    spec: str | None = None  # serve (or, with upstream, name the operations of) this document
    config: str | None = None  # the harness configuration (roles, auth, mock settings)
    upstream: str | None = None  # their server, behind the fault proxy
    out: TextIO = field(default=sys.stdout, compare=False)

    @property
    def ours(self) -> bool:
        """The demo's users, which keep call records; any other is judged by the journal."""
        return self.locustfile.resolve() in RECORDING_LOCUSTFILES

    @property
    def role_users(self) -> bool:
        """Users from the configuration's roles (loadtests/role_users.py)."""
        text = self.locustfile.read_text(encoding="utf-8") if self.locustfile.is_file() else ""
        return "loadtests.role_users" in text

    @property
    def any_api(self) -> bool:
        return bool(self.spec or self.config or self.upstream)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def server_root(url: str) -> str:
    """The server's root from what a user may paste (`.../v1` is the API's prefix)."""
    return url.rstrip("/").removesuffix("/v1")


def locust_command(plan: LoadPlan, base_url: str) -> list[str]:
    files = [str(plan.locustfile)] + ([str(SPIKE_SHAPE)] if plan.profile.spike else [])
    if not plan.ours:
        files.append(str(RUN_CLOCK))
    report = plan.report_dir
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        ",".join(files),
        "--headless",
        "--users",
        str(plan.users),
        "--spawn-rate",
        f"{plan.spawn_rate:g}",
        "--run-time",
        f"{max(1, round(plan.run_time_s))}s",
        "--host",
        base_url,
        "--csv",
        str(report / "locust"),
        "--html",
        str(report / "locust.html"),
        "--only-summary",
        "--exit-code-on-error",
        "0",  # failed calls are judged by the invariants, not by locust
    ]
    if plan.processes:
        command += ["--processes", str(plan.processes)]
    return command


def locust_env(plan: LoadPlan) -> dict[str, str]:
    """Our options for our users, in the environment: never on locust's command line,
    where a team's own locust file (whose parser does not know them) would reject them."""
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "HARNESS_LOAD_PROFILE": plan.profile.name,
        "HARNESS_LOAD_RECORDS": str(plan.report_dir / "records.jsonl"),
        "HARNESS_LOAD_PROGRESS_S": f"{plan.progress_s:g}",
        # for the role users (loadtests/role_users.py); a team's own file ignores them
        "HARNESS_LOAD_SPEC": plan.spec or "",
        "HARNESS_LOAD_CONFIG": plan.config or "",
    }


class LocustfileError(ValueError):
    """The locust file does not load; the message names the cause."""


LIST_TIMEOUT_S = 60.0


def check_locustfile(plan: LoadPlan) -> list[str]:
    """The user classes the locust file defines (`locust --list`), before any user starts.

    Raises LocustfileError with locust's own reason: a missing file, an import or
    syntax error in it, or no User class."""
    path = plan.locustfile
    if not path.is_file():
        raise LocustfileError(f"the locust file {path} does not exist")
    command = [sys.executable, "-m", "locust", "-f", str(path), "--list"]
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=locust_env(plan),
            timeout=LIST_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise LocustfileError(
            f"the locust file {path} did not load in {LIST_TIMEOUT_S:g} s"
        ) from None
    output = (done.stdout + done.stderr).strip().splitlines()
    if done.returncode != 0:
        cause = next((line.strip() for line in reversed(output) if line.strip()), "no output")
        raise LocustfileError(f"the locust file {path} does not load: {cause}")
    return [line.strip() for line in done.stdout.splitlines()[1:] if line.strip()]


def check_roles(plan: LoadPlan) -> str | None:
    """Why the role users cannot run on this configuration, or None (before any user starts)."""
    if not plan.config:
        return "the role users need the configuration's roles: give --config harness.yaml"
    from contracts.config import ConfigError
    from contracts.document import DocumentError
    from loadtests.role_api import RoleApi, RoleApiError

    try:
        api = RoleApi.load(plan.spec, plan.config)
    except (ConfigError, DocumentError, RoleApiError) as e:
        return str(e)
    plan.say(
        f"Roles         {api.title}: "
        + ", ".join(f"{role} -> {op}" for role, op in api.roles.items())
    )
    return None


@dataclass(frozen=True)
class LocustRun:
    code: int
    interrupted: bool = False  # Ctrl-C or SIGTERM: locust was stopped early


def run_locust(plan: LoadPlan, base_url: str) -> LocustRun:
    """Locust in its own session (its workers with it); echoed and logged; bounded in time.

    Interrupted (KeyboardInterrupt, which SIGTERM becomes in `python -m loadtests`),
    locust gets a SIGINT of its own: it writes its HTML, CSV and our call records of
    what ran, as it does on Ctrl-C, and the run is judged on that."""
    command = locust_command(plan, base_url)
    limit_s = plan.run_time_s + WALL_SLACK_S
    env = locust_env(plan)
    with (plan.report_dir / "locust.log").open("w", encoding="utf-8") as log:
        log.write(" ".join(command) + "\n")
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
            # A SIGINT ignored here (a background job) would be ignored by locust too.
            preexec_fn=_default_sigint,
        )
        deadline = time.monotonic() + limit_s
        assert process.stdout is not None
        try:
            for line in process.stdout:
                log.write(line)
                plan.say("  locust | " + line.rstrip())
                if time.monotonic() > deadline:
                    plan.say(f"locust ran past {limit_s:g} s; stopping it")
                    _stop_group(process)
                    break
            return LocustRun(process.wait(timeout=30))
        except KeyboardInterrupt:
            pass
        except BaseException:
            _stop_group(process)
            raise
        try:
            process.send_signal(signal.SIGINT)  # the master only: it stops its workers
            log.write(process.communicate(timeout=INTERRUPT_GRACE_S)[0])
            return LocustRun(process.returncode, interrupted=True)
        finally:
            _stop_group(process)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL, to the process group started for this locust run only."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


# --- the journal -------------------------------------------------------------------


def journal_position(control: ControlClient) -> int:
    last: int = control.health()["journal"]["last_seq"]
    return last


def read_journal(control: ControlClient, since: int) -> tuple[list[Entry], int]:
    """Every entry after `since`, page by page, and how many the ring lost."""
    entries: list[Entry] = []
    missed = 0
    while True:
        page = control.journal(since, limit=JOURNAL_PAGE)
        missed += int(page.get("missed", 0))
        batch: list[Entry] = page["entries"]
        if not batch:
            return entries, missed
        entries.extend(batch)
        since = int(batch[-1]["seq"])


@contextmanager
def _target(plan: LoadPlan) -> Iterator[tuple[str, ControlClient | None]]:
    with ExitStack() as stack:
        if plan.base_url is None:
            mock = MockProcess(
                ["--journal-size", str(plan.journal_size), *mock_arguments(plan)],
                log=plan.report_dir / "mock.log",
                env={"PYTHONOPTIMIZE": "1"},  # mitmproxy's runtime type checks off: ~25% faster
                start_timeout_s=SPEC_MOCK_START_S if plan.any_api else START_TIMEOUT_S,
            )
            stack.enter_context(mock)
            base_url = mock.base_url
            shown = f"-> {plan.upstream}" if plan.upstream else (plan.spec or plan.config or "/v1")
            plan.say(f"Mock          {base_url} {shown} (pid {mock.pid}, log {mock.log})")
        else:
            base_url = server_root(plan.base_url)
            plan.say(f"Target        {base_url}")
        control = stack.enter_context(ControlClient(base_url))
        try:
            control.health()
        except (httpx.HTTPError, ControlError, ValueError):
            plan.say("No harness control API there: journal-based invariants are skipped.")
            yield base_url, None
            return
        yield base_url, control


def mock_arguments(plan: LoadPlan) -> list[str]:
    """`harness mock` options for the target: their document, configuration, upstream."""
    argv: list[str] = []
    for flag, value in (("--spec", plan.spec), ("--config", plan.config)):
        if value:
            argv += [flag, value]
    if plan.upstream:
        argv += ["--upstream", plan.upstream]
    return argv


def configured_roles(plan: LoadPlan) -> frozenset[str]:
    """The roles the configuration names (none without one)."""
    if plan.config is None:
        return frozenset()
    from contracts.config import load_config

    overrides = {"spec": plan.spec} if plan.spec else {}
    return frozenset(load_config(plan.config, overrides=overrides, default=None).roles)


def scenario_for(plan: LoadPlan) -> dict[str, Any]:
    if not plan.any_api:
        return plan.profile.scenario()
    return any_api_scenario(
        plan.profile,
        configured_roles(plan),
        named_operations=bool(plan.spec or plan.config),
    )


# --- the run -----------------------------------------------------------------------


def execute(plan: LoadPlan) -> int:
    plan.report_dir.mkdir(parents=True, exist_ok=True)
    profile = plan.profile
    plan.say(f"Profile       {profile.name}: {profile.description}")
    plan.say(
        f"Load          {plan.users} users, {plan.spawn_rate:g}/s spawn, "
        f"{plan.run_time_s:g} s, processes: {plan.processes or 'one'}"
    )
    try:
        classes = check_locustfile(plan)
    except LocustfileError as e:
        plan.say(f"harness load: {e}")
        return EXIT_BAD_INPUT
    plan.say(f"Users         {', '.join(classes) or '?'} from {plan.locustfile}")
    if plan.role_users:
        problem = check_roles(plan)
        if problem:
            plan.say(f"harness load: {problem}")
            return EXIT_BAD_INPUT
    try:
        with _target(plan) as (base_url, control):
            access_ttl_s: float | None = None
            since = 0
            if control is None and not plan.ours:
                plan.say(
                    "harness load: your own users are judged from the journal: "
                    "give --spec/--config (the mock of your document) or --upstream URL "
                    "(your server behind the fault proxy)"
                )
                return EXIT_BAD_INPUT
            if control is not None:
                control.load_scenario(inline=scenario_for(plan))
                access_ttl_s = float(control.config().get("access_ttl_s") or 0.0)
                since = journal_position(control)
                plan.say(f"Scenario      load-{profile.name} loaded; journal from seq {since}")
            started = time.monotonic()
            run = run_locust(plan, base_url)
            wall_s = time.monotonic() - started
            journal: list[Entry] | None = None
            missed = 0
            if control is not None:
                try:
                    journal, missed = read_journal(control, since)
                except (ControlError, httpx.HTTPError):
                    if not run.interrupted:
                        raise
                    # Ctrl-C reached the mock too: judge without the journal.
    except (MockProcessError, ControlError, httpx.HTTPError) as e:
        plan.say(f"harness load: the run failed: {e}")
        return EXIT_RUN_FAILED
    if not plan.ours:
        return _finish_from_journal(plan, run, journal or [], missed, wall_s, access_ttl_s)
    records_path = plan.report_dir / "records.jsonl"
    if (run.code != 0 and not run.interrupted) or not records_path.exists():
        plan.say(
            f"harness load: locust exited with {run.code}; see {plan.report_dir / 'locust.log'}"
        )
        return EXIT_INTERRUPTED if run.interrupted else EXIT_RUN_FAILED
    records = list(read_records(records_path))
    if journal is not None:
        _write_journal(plan.report_dir / "journal.jsonl", journal)
    verdicts = judge(
        records, plan.thresholds, journal=journal, missed=missed, access_ttl_s=access_ttl_s
    )
    summary = summarize(plan, records, journal, verdicts, wall_s, access_ttl_s)
    summary["interrupted"] = run.interrupted
    (plan.report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = render(summary, verdicts)
    (plan.report_dir / "summary.txt").write_text(text + "\n")
    if run.interrupted:
        print(
            f"harness load: interrupted after {wall_s:.0f} s; the report of what ran "
            f"(locust HTML and CSV, summary, invariants) is in {plan.report_dir}",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_INTERRUPTED
    plan.say("")
    plan.say(text)
    return EXIT_BREACH if breaches(verdicts) else 0


def _finish_from_journal(
    plan: LoadPlan,
    run: LocustRun,
    journal: list[Entry],
    missed: int,
    wall_s: float,
    access_ttl_s: float | None,
) -> int:
    """A team's own users: no call records, every verdict from the journal."""
    if run.code != 0 and not run.interrupted:
        plan.say(
            f"harness load: locust exited with {run.code}; see {plan.report_dir / 'locust.log'}"
        )
        return EXIT_RUN_FAILED
    _write_journal(plan.report_dir / "journal.jsonl", journal)
    verdicts = judge_journal(
        journal, plan.thresholds, missed=missed, access_ttl_s=access_ttl_s or 0.0
    )
    calls = logical_calls(journal)
    summary = summarize(plan, [], journal, verdicts, wall_s, access_ttl_s)
    table = operations_table(calls)
    summary |= {
        "judged_from": "journal",
        "calls": len(calls),
        "calls_per_s": round(len(calls) / max(0.001, min(plan.run_time_s, wall_s)), 1),
        "operations": {
            op: {**row, "retries": row["attempts"] - row["calls"]} for op, row in table.items()
        },
        "interrupted": run.interrupted,
        "spec": plan.spec,
        "config": plan.config,
        "upstream": plan.upstream,
    }
    (plan.report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = render(summary, verdicts)
    (plan.report_dir / "summary.txt").write_text(text + "\n")
    if run.interrupted:
        return EXIT_INTERRUPTED
    plan.say("")
    plan.say(text)
    return EXIT_BREACH if breaches(verdicts) else 0


def _write_journal(path: Path, journal: Sequence[Entry]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for entry in journal:
            out.write(json.dumps(entry, separators=(",", ":")) + "\n")


def per_operation(records: Sequence[CallRecord]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[CallRecord]] = {}
    for r in records:
        grouped.setdefault(r.operation, []).append(r)
    table = {}
    for operation, rows in sorted(grouped.items()):
        durations = [r.duration_ms for r in rows]
        table[operation] = {
            "calls": len(rows),
            "failed": sum(1 for r in rows if not r.ok),
            "retries": sum(r.retries for r in rows),
            "p50_ms": round(percentile(durations, 50), 1),
            "p95_ms": round(percentile(durations, 95), 1),
        }
    return table


def summarize(
    plan: LoadPlan,
    records: Sequence[CallRecord],
    journal: Sequence[Entry] | None,
    verdicts: Sequence[Verdict],
    wall_s: float,
    access_ttl_s: float | None,
) -> dict[str, Any]:
    return {
        "profile": plan.profile.name,
        "users": plan.users,
        "spawn_rate": plan.spawn_rate,
        "run_time_s": plan.run_time_s,
        "processes": plan.processes,
        "locustfile": str(plan.locustfile),
        "base_url": plan.base_url,
        "access_ttl_s": access_ttl_s,
        "wall_s": round(wall_s, 3),
        "calls": len(records),
        "calls_per_s": round(len(records) / max(0.001, min(plan.run_time_s, wall_s)), 1),
        "journal_requests": len(journal) if journal is not None else None,
        "operations": per_operation(records),
        "thresholds": plan.thresholds.to_json(),
        "verdicts": [v.to_json() for v in verdicts],
        "breaches": breaches(verdicts),
        "passed": not breaches(verdicts),
        "files": [*sorted(p.name for p in plan.report_dir.iterdir()), "summary.json"],
    }


def render(summary: dict[str, Any], verdicts: Sequence[Verdict]) -> str:
    lines = [
        f"harness load: {summary['profile']}, {summary['users']} users, "
        f"{summary['run_time_s']:g} s: {summary['calls']} calls "
        f"({summary['calls_per_s']}/s), {summary['journal_requests'] or '-'} requests journaled",
        "",
    ]
    columns = ("calls", "failed", "retries", "p50 ms", "p95 ms")
    lines.append(f"  {'operation':<15}" + "".join(f" {c:>8}" for c in columns))
    for operation, row in summary["operations"].items():
        lines.append(
            f"  {operation:<15} {row['calls']:>8} {row['failed']:>8} {row['retries']:>8} "
            f"{row['p50_ms']:>8} {row['p95_ms']:>8}"
        )
    lines.append("")
    lines += ["  " + v.line() for v in verdicts]
    lines.append("")
    if summary["breaches"]:
        lines.append(f"BREACHED: {', '.join(summary['breaches'])}")
    else:
        lines.append("All invariants held.")
    return "\n".join(lines)
