"""The conformance report: one self-contained HTML page for people, JSON for machines.

    write_html(verdicts, Path("conformance.html"), client="the reference client",
               seconds={"R9": 2.3})

The page holds a header (the client, when, the counts of the four outcomes),
a summary table, then one section per rule: authority, summary, the command
that judges that rule again, and for each part of the rule (R5, R9, R10, ...
are judged in parts) the journal lines that decided it and, when the server
saw at least two attempts, a picture of them in time (inline SVG, with a
caption saying how to read it). The picture has one row per operation, or
more when attempts of one operation overlap (concurrent calls get a row
each); each attempt is a bar from its start to its end, coloured by its
outcome, with its status under it and the wait since the previous attempt in
the same row above the gap, so backoff and Retry-After waits show.

No JavaScript, no external assets; every text from a verdict is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from harness.conformance.timeline_svg import timeline_svg
from harness.conformance.verdicts import Evidence, Outcome, Verdict

REPORT_VERSION = 2
BADGES = {
    Outcome.PASS: "PASS",
    Outcome.FAIL: "FAIL",
    Outcome.NOT_APPLICABLE: "N/A",
    Outcome.UNJUDGED: "UNJUDGED",
}
BADGE_CLASSES = {
    Outcome.PASS: "pass",
    Outcome.FAIL: "fail",
    Outcome.NOT_APPLICABLE: "na",
    Outcome.UNJUDGED: "unjudged",
}
PICTURE_CAPTION = (
    "How to read the picture: each row is one contract operation the server saw, named "
    "on the left (a grey name is another row of the same operation, for calls that "
    "overlapped in time). Each bar is one request, from its arrival at the server to its "
    "answer, coloured by the answer as the legend above says. Between two bars of a row, "
    "the dashed line and the figure above it are how long the client waited after the "
    "answer before trying again (its backoff, or the Retry-After it honoured). Time runs "
    "left to right from the first request shown; hover a bar or a wait for exact figures."
)


def write_html(
    verdicts: Sequence[Verdict],
    path: Path,
    *,
    client: str,
    seconds: Mapping[str, float] | None = None,
    reproduce: Mapping[str, str] | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_html(verdicts, client=client, seconds=seconds, reproduce=reproduce)
    path.write_text(page, encoding="utf-8")


def write_json(
    verdicts: Sequence[Verdict],
    path: Path,
    *,
    client: str,
    seconds: Mapping[str, float] | None = None,
    reproduce: Mapping[str, str] | None = None,
) -> None:
    seconds = seconds or {}
    reproduce = reproduce or {}
    rules = []
    for verdict in verdicts:
        took = seconds.get(verdict.rule.id)
        rules.append(
            verdict.to_json()
            | {
                "seconds": None if took is None else round(took, 3),
                "reproduce": reproduce.get(verdict.rule.id),
            }
        )
    document: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "client": client,
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "counts": {o.value: n for o, n in counts(verdicts).items()},
        "seconds": round(sum(seconds.values()), 3),
        "rules": rules,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def counts(verdicts: Sequence[Verdict]) -> dict[Outcome, int]:
    return {o: sum(v.outcome is o for v in verdicts) for o in Outcome}


# --- the page -----------------------------------------------------------------------

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       max-width: 1000px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 1.5em; margin: 0.2em 0; } h2 { font-size: 1.15em; margin: 0 0 0.4em; }
.meta { color: #555; margin: 0 0 1em; }
.verdict-line { font-size: 1.1em; margin: 0.5em 0 1.2em; }
table.summary { border-collapse: collapse; width: 100%; margin-bottom: 2em; }
table.summary th, table.summary td { text-align: left; vertical-align: top;
       padding: 6px 8px; border-bottom: 1px solid #ddd; }
table.summary td.num { text-align: right; white-space: nowrap; }
tr.fail td { background: #fdecea; }
a { color: #0b57d0; text-decoration: none; } a:hover { text-decoration: underline; }
.badge { display: inline-block; min-width: 3.2em; text-align: center; border-radius: 4px;
       padding: 1px 6px; font: bold 12px/1.5 ui-monospace, monospace; color: #fff; }
.badge.pass { background: #2e7d32; } .badge.fail { background: #c62828; }
.badge.na { background: #757575; } .badge.unjudged { background: #a15c00; }
section.rule { border: 1px solid #ddd; border-left: 6px solid #2e7d32; border-radius: 4px;
       padding: 12px 16px; margin: 0 0 18px; }
section.rule.fail { border-left-color: #c62828; background: #fffafa; }
section.rule.na { border-left-color: #757575; }
section.rule.unjudged { border-left-color: #a15c00; background: #fffaf2; }
tr.unjudged td { background: #fff3e0; }
h3.part { font-size: 1em; margin: 1em 0 0.2em; }
.reproduce { font-size: 0.92em; margin: 0.3em 0 0.6em; }
.reproduce code { background: #f6f8fa; padding: 1px 4px; border-radius: 3px; }
.authority { color: #555; font-size: 0.92em; margin: 0 0 0.5em; }
pre.evidence { font: 12.5px/1.5 ui-monospace, "SF Mono", Menlo, Consolas, monospace;
       background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 4px; padding: 8px 10px;
       overflow-x: auto; white-space: pre; margin: 0.5em 0; }
.none { color: #777; font-style: italic; }
figure { margin: 0.8em 0 0; } figcaption { color: #555; font-size: 0.88em; }
svg.timeline { width: 100%; height: auto; display: block; }
svg.timeline text { font-family: system-ui, sans-serif; }
"""


def render_html(
    verdicts: Sequence[Verdict],
    *,
    client: str,
    seconds: Mapping[str, float] | None = None,
    generated_at: datetime | None = None,
    reproduce: Mapping[str, str] | None = None,
) -> str:
    seconds = seconds or {}
    reproduce = reproduce or {}
    when = (generated_at or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M:%S %Z")
    n = counts(verdicts)
    overall = BADGE_CLASSES[
        Outcome.FAIL
        if n[Outcome.FAIL]
        else Outcome.UNJUDGED
        if n[Outcome.UNJUDGED]
        else Outcome.PASS
    ]
    overall_text = {"fail": "FAIL", "unjudged": "INCOMPLETE", "pass": "PASS"}[overall]
    total = f"; {sum(seconds.values()):.1f} s in all" if seconds else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Conformance of {escape(client)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>Client conformance: {escape(client)}</h1>",
        f'<p class="meta">Judged by <code>harness verify</code> on {escape(when)}, '
        f"against the embedded mock; {len(verdicts)} rules{escape(total)}.</p>",
        f'<p class="verdict-line"><span class="badge {overall}">{overall_text}</span> '
        f'<span class="counts">{n[Outcome.PASS]} passed, {n[Outcome.FAIL]} failed, '
        f"{n[Outcome.NOT_APPLICABLE]} not applicable, "
        f"{n[Outcome.UNJUDGED]} could not be judged</span></p>",
        "</header>",
        _summary_table(verdicts, seconds),
        *(_section(v, reproduce.get(v.rule.id)) for v in verdicts),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _anchor(verdict: Verdict) -> str:
    return "rule-" + "".join(c if c.isalnum() else "-" for c in verdict.rule.id)


def _badge(outcome: Outcome) -> str:
    return f'<span class="badge {BADGE_CLASSES[outcome]}">{BADGES[outcome]}</span>'


def _summary_table(verdicts: Sequence[Verdict], seconds: Mapping[str, float]) -> str:
    rows = [
        '<table class="summary">',
        "<thead><tr><th>rule</th><th>title</th><th>outcome</th><th>time</th>"
        "<th>summary</th></tr></thead>",
        "<tbody>",
    ]
    for v in verdicts:
        took = seconds.get(v.rule.id)
        duration = "&ndash;" if took is None else f"{took:.1f}&nbsp;s"
        rows.append(
            f'<tr class="{BADGE_CLASSES[v.outcome]}">'
            f'<td><a href="#{_anchor(v)}">{escape(v.rule.id)}</a></td>'
            f"<td>{escape(v.rule.title)}</td><td>{_badge(v.outcome)}</td>"
            f'<td class="num">{duration}</td><td>{escape(v.summary)}</td></tr>'
        )
    rows += ["</tbody>", "</table>"]
    return "\n".join(rows)


def _section(v: Verdict, reproduce: str | None = None) -> str:
    parts = [
        f'<section class="rule {BADGE_CLASSES[v.outcome]}" id="{_anchor(v)}">',
        f"<h2>{_badge(v.outcome)} {escape(v.rule.id)}: {escape(v.rule.title)}</h2>",
        f'<p class="authority">Authority: {escape(v.rule.authority)}</p>',
        f'<p class="verdict-summary">{escape(v.summary)}</p>',
    ]
    if reproduce:
        parts.append(
            f'<p class="reproduce">Judge this rule again: <code>{escape(reproduce)}</code></p>'
        )
    sections = v.evidence.sections()
    for part in sections:
        if len(sections) > 1 and part.title:
            parts.append(f'<h3 class="part">{escape(part.title)}</h3>')
        parts += _evidence(part, f"{v.rule.id}: {part.title or 'attempts'} in time")
    parts.append("</section>")
    return "\n".join(parts)


def _evidence(part: Evidence, title: str) -> list[str]:
    out = [
        '<pre class="evidence">' + "\n".join(escape(line) for line in part.lines) + "</pre>"
        if part.lines
        else '<p class="none">No journal lines were kept for this verdict.</p>'
    ]
    if len(part.timeline) >= 2:
        out += [
            "<figure>",
            timeline_svg(part.timeline, title=title),
            f"<figcaption>{escape(PICTURE_CAPTION)}</figcaption>",
            "</figure>",
        ]
    return out
