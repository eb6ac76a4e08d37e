"""The picture of attempts in time, as inline SVG for the conformance report.

One row per operation, or more when attempts of one operation overlap
(concurrent calls get a row each); each attempt is a bar from its start to
its end, coloured by its outcome, with its status under it and the wait
since the previous attempt in the same row above the gap, so backoff and
Retry-After waits show. Every text is escaped.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from html import escape

from harness.conformance.verdicts import Attempt

STATUS_CLASSES = {
    "ok": ("#2e7d32", "2xx"),
    "auth": ("#7b3fa0", "401"),
    "client": ("#e69500", "other 4xx"),
    "server": ("#c62828", "5xx"),
    "none": ("#6d0f0f", "no response"),
    "other": ("#607d8b", "1xx/3xx"),
}

# Picture geometry, in SVG user units (the SVG scales to the page's width).
WIDTH = 960
LEFT = 150  # row labels
RIGHT = 24
TOP = 26  # the legend
AXIS = 42  # tick labels and the axis caption
LEVEL = 12  # a band of gap labels above the bars (a row has 1 to MAX_LEVELS)
MAX_LEVELS = 3
BAR = 12
STATUS = 16  # the status labels under the bars
COMPACT_ROW = 18  # many rows: bars only, gap labels inside the gaps where they fit
COMPACT_AFTER = 16  # rows
MIN_GAP_SHARE = 0.015  # gaps narrower than this share of the axis are not labelled
MAX_ATTEMPTS = 300  # drawn; the rest are counted in a note
CHAR_W = 6.0  # estimated width of a 10-unit character


def status_class(status: int | None) -> str:
    if status is None:
        return "none"
    if status == 401:
        return "auth"
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500:
        return "client"
    if status >= 500:
        return "server"
    return "other"


def gap_text(gap_s: float) -> str:
    if gap_s >= 0.1:
        return f"+{gap_s:.2f} s"
    if gap_s >= 0.01:
        return f"+{gap_s * 1000:.0f} ms"
    return f"+{gap_s * 1000:.1f} ms"


def ticks(span_s: float) -> tuple[float, list[float]]:
    """A 1-2-2.5-5 step giving about six ticks from 0 to just past `span_s`."""
    span_s = max(span_s, 0.001)
    raw = span_s / 6
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    count = max(1, math.ceil(span_s / step - 1e-9))
    return step, [i * step for i in range(count + 1)]


def _decimals(step: float) -> int:
    return next((d for d in range(7) if abs(round(step, d) - step) < step * 1e-6), 6)


def lanes(attempts: Sequence[Attempt]) -> list[tuple[str, int, list[Attempt]]]:
    """Rows of the picture: per operation, in order of first appearance; attempts of
    one operation that overlap in time go to separate rows (one per concurrent call)."""
    by_operation: dict[str, list[list[Attempt]]] = {}
    for a in sorted(attempts, key=lambda a: a.at_s):
        rows = by_operation.setdefault(a.operation, [])
        for row in rows:
            last = row[-1]
            if last.at_s + last.duration_s <= a.at_s + 1e-9:
                row.append(a)
                break
        else:
            rows.append([a])
    return [(op, i, row) for op, rows in by_operation.items() for i, row in enumerate(rows)]


@dataclass(frozen=True)
class _Gap:
    start: float  # x of the previous answer
    end: float  # x of the next attempt
    text: str
    tip: str
    level: int | None  # band above the bars; None: not labelled


@dataclass(frozen=True)
class _Row:
    operation: str
    index: int  # 0: the first row of its operation
    attempts: list[Attempt]
    gaps: list[_Gap]
    height: float


def _layout(
    operation: str, index: int, row: list[Attempt], x: Callable[[float], float], compact: bool
) -> _Row:
    gaps: list[_Gap] = []
    level_ends: list[float] = []  # per band, where its last label ends
    for previous, a in itertools.pairwise(row):
        prev_end = previous.at_s + previous.duration_s
        gap = max(0.0, a.at_s - prev_end)
        g0, g1 = x(prev_end), x(a.at_s)
        text = gap_text(gap)
        text_w = len(text) * CHAR_W
        tip = (
            f"{operation}: waited {gap:.3f} s after the previous answer "
            f"({a.at_s - previous.at_s:.3f} s start to start)"
        )
        level: int | None = None
        if compact:
            level = 0 if g1 - g0 >= text_w + 4 else None
        elif g1 - g0 >= MIN_GAP_SHARE * (WIDTH - LEFT - RIGHT):
            left = _label_centre(g0, g1, text_w) - text_w / 2
            level = next((i for i, end in enumerate(level_ends) if left >= end + 6), None)
            if level is None and len(level_ends) < MAX_LEVELS:
                level = len(level_ends)
                level_ends.append(-math.inf)
            if level is not None:
                level_ends[level] = left + text_w
        gaps.append(_Gap(g0, g1, text, tip, level))
    levels = max(1, len(level_ends))
    height = float(COMPACT_ROW) if compact else levels * LEVEL + 2 + BAR + STATUS
    return _Row(operation, index, row, gaps, height)


def _label_centre(g0: float, g1: float, text_w: float) -> float:
    return min(max((g0 + g1) / 2, LEFT + text_w / 2), WIDTH - text_w / 2)


def timeline_svg(timeline: Sequence[Attempt], *, title: str = "attempts in time") -> str:
    """The attempts as an SVG picture; `timeline` needs at least one attempt."""
    # Time runs from the earliest start: evidence measures from the first journal
    # entry, which is the first to finish (a hung attempt can start before it).
    t0 = min(a.at_s for a in timeline)
    drawn = sorted((replace(a, at_s=a.at_s - t0) for a in timeline), key=lambda a: a.at_s)
    drawn = drawn[:MAX_ATTEMPTS]
    plot_w = WIDTH - LEFT - RIGHT
    step, marks = ticks(max(a.at_s + a.duration_s for a in drawn))
    axis_max = marks[-1]
    in_ms = axis_max < 1

    def x(t: float) -> float:
        return LEFT + t / axis_max * plot_w

    packed = lanes(drawn)
    compact = len(packed) > COMPACT_AFTER
    rows = [_layout(op, i, row, x, compact) for op, i, row in packed]
    bottom = TOP + sum(r.height for r in rows)
    height = bottom + AXIS
    out = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
        f'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">',
        f"<title>{escape(title)}</title>",
        *_legend({status_class(a.status) for a in drawn}),
    ]
    groups = list(dict.fromkeys(r.operation for r in rows))
    y = float(TOP)
    for row in rows:
        shade = "#f4f6f8" if groups.index(row.operation) % 2 == 0 else "#ffffff"
        out.append(
            f'<rect x="0" y="{y:.1f}" width="{WIDTH}" height="{row.height:.1f}" fill="{shade}"/>'
        )
        y += row.height
    # Grid and axis, under the bars.
    decimals = _decimals(step * 1000 if in_ms else step)
    for t in marks:
        gx = x(t)
        out.append(
            f'<line class="grid" x1="{gx:.1f}" y1="{TOP}" x2="{gx:.1f}" y2="{bottom + 4:.1f}" '
            f'stroke="#d0d4d8" stroke-width="1"/>'
        )
        out.append(
            f'<text class="tick" x="{gx:.1f}" y="{bottom + 17:.1f}" text-anchor="middle" '
            f'font-size="11" fill="#444">{t * 1000 if in_ms else t:.{decimals}f}</text>'
        )
    unit = "milliseconds" if in_ms else "seconds"
    out.append(
        f'<text class="axis-caption" x="{LEFT + plot_w}" y="{bottom + 34:.1f}" '
        f'text-anchor="end" font-size="11" fill="#555">{unit} since the first attempt</text>'
    )
    if len(timeline) > len(drawn):
        out.append(
            f'<text x="{LEFT}" y="{bottom + 34:.1f}" font-size="11" fill="#555">'
            f"first {len(drawn)} of {len(timeline)} attempts shown</text>"
        )
    y = float(TOP)
    for row in rows:
        out += _draw_row(row, y, compact, x)
        y += row.height
    out.append("</svg>")
    return "\n".join(out)


def _legend(present: set[str]) -> list[str]:
    # What the rows are (the column of names) and what the colours and dashes mean.
    out = [
        f'<text class="rows-caption" x="{LEFT - 8}" y="17" text-anchor="end" font-size="11" '
        'fill="#444">operation</text>'
    ]
    lx = float(LEFT)
    for name, (colour, text) in STATUS_CLASSES.items():
        if name not in present:
            continue
        out.append(f'<rect x="{lx:.1f}" y="8" width="12" height="10" rx="2" fill="{colour}"/>')
        out.append(
            f'<text x="{lx + 16:.1f}" y="17" font-size="11" fill="#444">{escape(text)}</text>'
        )
        lx += 16 + len(text) * CHAR_W + 18
    out.append(
        f'<line class="legend-gap" x1="{lx:.1f}" y1="13" x2="{lx + 14:.1f}" y2="13" '
        'stroke="#9aa0a6" stroke-width="1" stroke-dasharray="3 2"/>'
    )
    out.append(
        f'<text x="{lx + 18:.1f}" y="17" font-size="11" fill="#444">wait before the next try</text>'
    )
    return out


def _draw_row(row: _Row, y: float, compact: bool, x: Callable[[float], float]) -> list[str]:
    bar_y = y + (COMPACT_ROW - 10) / 2 if compact else y + row.height - STATUS - BAR
    bar_h = 10 if compact else BAR
    mid = bar_y + bar_h / 2
    name = row.operation if len(row.operation) <= 22 else row.operation[:21] + "\u2026"
    colour = "#1d1d1f" if row.index == 0 else "#8a8a8a"
    out = [
        f'<text class="row-label" x="{LEFT - 8}" y="{mid + 4:.1f}" text-anchor="end" '
        f'font-size="12" fill="{colour}">{escape(name)}<title>{escape(row.operation)}</title>'
        "</text>"
    ]
    for gap in row.gaps:
        if gap.end - gap.start >= 1:
            out.append(
                f'<line class="gap" x1="{gap.start:.1f}" y1="{mid:.1f}" x2="{gap.end:.1f}" '
                f'y2="{mid:.1f}" stroke="#9aa0a6" stroke-width="1" stroke-dasharray="3 2">'
                f"<title>{escape(gap.tip)}</title></line>"
            )
        if gap.level is None:
            continue
        text_w = len(gap.text) * CHAR_W
        ty = mid + 3.5 if compact else bar_y - 4 - gap.level * LEVEL
        out.append(
            f'<text class="gap-label" x="{_label_centre(gap.start, gap.end, text_w):.1f}" '
            f'y="{ty:.1f}" text-anchor="middle" font-size="10" fill="#333">'
            f"{escape(gap.text)}<title>{escape(gap.tip)}</title></text>"
        )
    status_end = -math.inf
    for a in row.attempts:
        x0 = x(a.at_s)
        width = max(x(a.at_s + a.duration_s) - x0, 2.0)
        cls = status_class(a.status)
        tip = f"{a.operation}: {a.label}; at {a.at_s:.3f} s, took {a.duration_s * 1000:.1f} ms"
        out.append(
            f'<rect class="bar {cls}" x="{x0:.1f}" y="{bar_y:.1f}" width="{width:.1f}" '
            f'height="{bar_h}" rx="2" fill="{STATUS_CLASSES[cls][0]}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        status = str(a.status) if a.status is not None else "no response"
        if not compact and x0 >= status_end + 3:
            out.append(
                f'<text class="status" x="{x0:.1f}" y="{bar_y + bar_h + 11:.1f}" '
                f'font-size="10" fill="#333">{escape(status)}</text>'
            )
            status_end = x0 + len(status) * CHAR_W
    return out
