"""The conformance report: verdicts built by hand, the HTML and JSON read back."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.conformance.report import (
    render_html,
    write_html,
    write_json,
)
from harness.conformance.timeline_svg import WIDTH, gap_text, lanes, ticks, timeline_svg
from harness.conformance.verdicts import Attempt, Evidence, Outcome, Rule, Verdict

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


class Page(HTMLParser):
    """Collects elements (tag, attributes, text inside) and insists on balanced tags.
    An element's text leaves out its tooltips (<title> inside it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, int]] = []  # tag, index in elements
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self.problems: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}, []))
        if tag not in VOID:
            self.open.append((tag, len(self.elements) - 1))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}, []))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        for tag, index in reversed(self.open):
            self.elements[index][2].append(data)
            if tag == "title":
                break

    def of(self, tag: str, cls: str | None = None) -> list[tuple[dict[str, str], str]]:
        return [
            (attrs, "".join(text))
            for t, attrs, text in self.elements
            if t == tag and (cls is None or cls in attrs.get("class", "").split())
        ]


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert not page.problems, page.problems
    assert not page.open, f"never closed: {page.open}"
    assert page.doctype.lower() == "doctype html"
    return page


def attempt(at: float, status: int | None, op: str = "getProfile", took: float = 0.004) -> Attempt:
    label = str(status) if status is not None else "no response (reset)"
    return Attempt(at_s=at, duration_s=took, operation=op, status=status, label=label)


def verdict(
    rule_id: str,
    outcome: Outcome = Outcome.PASS,
    timeline: tuple[Attempt, ...] = (),
    summary: str = "All good.",
    lines: tuple[str, ...] = ("+  0.000s #1 GET /v1/users/profile -> 200",),
) -> Verdict:
    rule = Rule(rule_id, f"Title of {rule_id}", f"RFC of {rule_id}")
    return Verdict(rule, outcome, summary, Evidence(lines, timeline))


RETRY_AFTER = (attempt(0.0, 429, took=0.01), attempt(1.03, 200))


def section(page_text: str, rule_id: str) -> str:
    match = re.search(rf'<section [^>]*id="rule-{rule_id}">.*?</section>', page_text, re.S)
    assert match, f"no section for {rule_id}"
    return match.group(0)


def test_the_page_parses_and_carries_header_table_and_sections() -> None:
    verdicts = [
        verdict("R1", timeline=RETRY_AFTER),
        verdict("R6", Outcome.FAIL, summary="2 products exist."),
        verdict("R8", Outcome.NOT_APPLICABLE, summary="No retries."),
        verdict("R13", Outcome.UNJUDGED, summary="could not be judged: no reply."),
    ]
    text = render_html(verdicts, client="node adapter.mjs", seconds={"R1": 1.234, "R6": 0.5})
    page = parse(text)
    assert "Client conformance: node adapter.mjs" in page.of("h1")[0][1]
    assert (
        page.of("span", "counts")[0][1]
        == "1 passed, 1 failed, 1 not applicable, 1 could not be judged"
    )
    rows = page.of("tr")[1:]
    assert [attrs["class"] for attrs, _ in rows] == ["pass", "fail", "na", "unjudged"]
    assert [text for _, text in page.of("td", "num")] == [
        "1.2\xa0s",
        "0.5\xa0s",
        "\u2013",
        "\u2013",
    ]
    assert [a["href"] for a, _ in page.of("a")] == [
        "#rule-R1",
        "#rule-R6",
        "#rule-R8",
        "#rule-R13",
    ]
    assert [a["id"] for a, _ in page.of("section")] == [
        "rule-R1",
        "rule-R6",
        "rule-R8",
        "rule-R13",
    ]
    assert '<span class="badge unjudged">UNJUDGED</span>' in section(text, "R13")
    assert "RFC of R6" in section(text, "R6")
    assert "#1 GET /v1/users/profile -> 200" in page.of("pre", "evidence")[0][1]
    # Self-contained: no scripts, no external assets.
    assert not page.of("script")
    assert not page.of("link")
    assert not re.search(r'(src|href)="(https?:)?//', text)


def test_a_failing_rule_is_marked_in_the_table_its_section_and_the_header() -> None:
    text = render_html(
        [verdict("R1"), verdict("R6", Outcome.FAIL, summary="Retried a POST.")], client="c"
    )
    page = parse(text)
    assert page.of("span", "badge")[0][0]["class"] == "badge fail"  # the header's verdict
    assert section(text, "R6").startswith('<section class="rule fail"')
    assert '<span class="badge fail">FAIL</span>' in section(text, "R6")
    assert '<span class="badge pass">PASS</span>' in section(text, "R1")
    assert page.of("tr", "fail")[0][1].startswith("R6")


def test_everything_from_a_verdict_is_escaped() -> None:
    evil = "<script>alert('x')</script>"
    bad = Verdict(
        Rule("R9", f"title {evil}", f"authority {evil}"),
        Outcome.FAIL,
        f"summary {evil} & more",
        Evidence(
            (f"+ 0.000s GET /v1/products?q={evil} -> 500",),
            (attempt(0.0, 500, op=evil), attempt(0.5, None, op=evil)),
        ),
    )
    text = render_html([bad], client=f'client "{evil}"', seconds={"R9": 1.0})
    page = parse(text)
    assert "<script" not in text.lower()
    assert "&lt;script&gt;" in text
    assert not page.of("script")
    assert f"summary {evil} & more" in [t for _, t in page.of("p", "verdict-summary")]
    assert evil in page.of("pre", "evidence")[0][1]
    assert page.of("text", "row-label")[0][1].startswith("<script>")  # read back as text


def test_one_bar_per_attempt_coloured_by_outcome() -> None:
    timeline = (
        attempt(0.0, 401),
        attempt(0.2, 200, op="refresh"),
        attempt(0.5, 503),
        attempt(1.0, None),
        attempt(1.5, 429),
        attempt(2.0, 200),
    )
    page = parse(render_html([verdict("R4", timeline=timeline)], client="c"))
    bars = page.of("rect", "bar")
    assert len(bars) == len(timeline)
    assert [a["class"].split()[1] for a, _ in bars] == [
        "auth",
        "server",
        "none",
        "client",
        "ok",
        "ok",  # refresh's row is drawn after getProfile's
    ]
    assert len({a["fill"] for a, _ in bars}) == 5  # 401, 5xx, none, 4xx, 2xx all differ
    assert [t for _, t in page.of("text", "status")][:5] == [
        "401",
        "503",
        "no response",
        "429",
        "200",
    ]
    for attrs, _ in bars:  # inside the picture
        assert float(attrs["x"]) >= 0
        assert float(attrs["x"]) + float(attrs["width"]) <= WIDTH


def test_the_wait_between_attempts_of_one_operation_is_annotated() -> None:
    text = render_html([verdict("R9", timeline=RETRY_AFTER)], client="c")
    page = parse(text)
    labels = [t for _, t in page.of("text", "gap-label")]
    assert labels == ["+1.02 s"]
    assert len(page.of("svg", "timeline")) == 1
    assert "seconds since the first attempt" in text


def test_no_picture_for_fewer_than_two_attempts() -> None:
    one = verdict("R18", timeline=(attempt(0.0, 200),))
    none = verdict("R15", lines=())
    text = render_html([one, none], client="c")
    assert "<svg" not in text
    assert "No journal lines" in section(text, "R15")


def test_attempts_within_a_few_milliseconds_are_drawn_in_milliseconds() -> None:
    timeline = (
        attempt(0.0, 503, took=0.0004),
        attempt(0.0011, 503, took=0.0003),
        attempt(0.0026, 200, took=0.0002),
    )
    page = parse(timeline_svg(timeline).join(["<!DOCTYPE html><html><body>", "</body></html>"]))
    assert [t for _, t in page.of("text", "tick")] == [
        "0.0",
        "0.5",
        "1.0",
        "1.5",
        "2.0",
        "2.5",
        "3.0",
    ]
    assert "milliseconds since the first attempt" in page.of("text", "axis-caption")[0][1]
    bars = page.of("rect", "bar")
    assert len(bars) == 3
    assert all(float(a["width"]) >= 2 for a, _ in bars)  # even a 0.2 ms attempt shows
    assert [t for _, t in page.of("text", "gap-label")] == ["+0.7 ms", "+1.2 ms"]


def test_a_minute_of_backoff_fits_and_every_wait_is_labelled() -> None:
    ats = [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 59.5]
    svg = timeline_svg(tuple(attempt(t, 503, op="createProduct", took=0.01) for t in ats))
    page = parse(svg.join(["<!DOCTYPE html><html><body>", "</body></html>"]))
    assert [t for _, t in page.of("text", "tick")] == ["0", "10", "20", "30", "40", "50", "60"]
    labels = [t for _, t in page.of("text", "gap-label")]
    assert labels == ["+0.99 s", "+1.99 s", "+3.99 s", "+7.99 s", "+15.99 s", "+28.49 s"]
    # Labels too close to share a line are stacked instead of dropped.
    first_three = {a["y"] for a, _ in page.of("text", "gap-label")[:3]}
    assert len(first_three) == 3


def test_concurrent_attempts_of_one_operation_get_a_row_each() -> None:
    timeline = (
        attempt(0.0, 401, took=0.1),
        attempt(0.01, 401, took=0.1),
        attempt(0.05, 200, op="refresh", took=0.2),
        attempt(0.3, 200),
        attempt(0.301, 200),
    )
    rows = lanes(timeline)
    assert [(op, i, [a.at_s for a in row]) for op, i, row in rows] == [
        ("getProfile", 0, [0.0, 0.3]),
        ("getProfile", 1, [0.01, 0.301]),
        ("refresh", 0, [0.05]),
    ]
    page = parse(timeline_svg(timeline).join(["<!DOCTYPE html><html><body>", "</body></html>"]))
    assert len({a["y"] for a, _ in page.of("rect", "bar")}) == 3


def test_time_runs_from_the_earliest_start_even_when_it_finished_last() -> None:
    # Evidence measures from the first journal entry, the first to finish: an attempt
    # that hung from before it has a negative start.
    timeline = (attempt(0.0, 503), attempt(0.2, 503), attempt(-0.55, None, took=1.0))
    page = parse(timeline_svg(timeline).join(["<!DOCTYPE html><html><body>", "</body></html>"]))
    label_edge = float(page.of("text", "row-label")[0][0]["x"])
    xs = sorted(float(a["x"]) for a, _ in page.of("rect", "bar"))
    assert xs[0] > label_edge
    assert xs[0] == pytest.approx(float(page.of("line", "grid")[0][0]["x1"]))  # the 0 tick
    assert "at 0.550 s" in timeline_svg(timeline)  # the first 503's tooltip


@pytest.mark.parametrize(
    ("span", "step", "last"),
    [(0.0, 0.0002, 0.001), (0.003, 0.0005, 0.003), (2.004, 0.5, 2.5), (60.0, 10.0, 60.0)],
)
def test_ticks_are_round_numbers_just_past_the_span(span: float, step: float, last: float) -> None:
    got_step, marks = ticks(span)
    assert got_step == pytest.approx(step)
    assert marks[0] == 0
    assert marks[-1] == pytest.approx(last)
    assert 2 <= len(marks) <= 8


def test_gap_texts() -> None:
    assert [gap_text(g) for g in (2.004, 0.31, 0.048, 0.0007)] == [
        "+2.00 s",
        "+0.31 s",
        "+48 ms",
        "+0.7 ms",
    ]


def test_files_are_written_with_their_folders(tmp_path: Path) -> None:
    verdicts = [
        verdict("R9", timeline=RETRY_AFTER),
        verdict("R6", Outcome.FAIL, summary="Retried <a POST>."),
    ]
    html_path = tmp_path / "out" / "conformance.html"
    json_path = tmp_path / "out" / "deeper" / "conformance.json"
    again = {"R9": "harness verify --scenario R9"}
    write_html(verdicts, html_path, client="the reference client", seconds={"R9": 2.5})
    write_json(
        verdicts, json_path, client="the reference client", seconds={"R9": 2.5}, reproduce=again
    )
    parse(html_path.read_text(encoding="utf-8"))
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["report_version"] == 2
    assert data["client"] == "the reference client"
    assert data["counts"] == {"pass": 1, "fail": 1, "not-applicable": 0, "could-not-be-judged": 0}
    assert data["generated_at"]
    assert [r["rule"] for r in data["rules"]] == ["R9", "R6"]
    assert [r["seconds"] for r in data["rules"]] == [2.5, None]
    assert data["rules"][0] == verdicts[0].to_json() | {
        "seconds": 2.5,
        "reproduce": "harness verify --scenario R9",
    }
    (part,) = data["rules"][0]["parts"]
    assert [a["status"] for a in part["timeline"]] == [429, 200]
    assert data["rules"][1]["summary"] == "Retried <a POST>."


def test_a_rule_judged_in_parts_shows_each_part_with_its_own_picture() -> None:
    parts = Evidence.of_parts(
        [
            Evidence(("+  0.000s #1 GET -> 429",), RETRY_AFTER, "429 with Retry-After: 2"),
            Evidence(("+  0.000s #3 GET -> 503",), RETRY_AFTER, "503 with an HTTP-date"),
        ]
    )
    multi = Verdict(Rule("R9", "Retry-After", "RFC 9110"), Outcome.FAIL, "Both wrong.", parts)
    text = render_html([multi], client="c")
    page = parse(text)
    assert [t for _, t in page.of("h3", "part")] == [
        "429 with Retry-After: 2",
        "503 with an HTTP-date",
    ]
    assert [t for _, t in page.of("pre", "evidence")] == [
        "+  0.000s #1 GET -> 429",
        "+  0.000s #3 GET -> 503",
    ]
    assert len(page.of("svg", "timeline")) == 2
    # Read flat, the lines name their part.
    assert multi.evidence.lines[0] == "-- 429 with Retry-After: 2 --"
    assert [p["title"] for p in multi.to_json()["parts"]] == [
        "429 with Retry-After: 2",
        "503 with an HTTP-date",
    ]


def test_each_rule_says_how_to_judge_it_again() -> None:
    command = "harness verify --scenario R10 --adapter 'node adapters/node/adapter.mjs'"
    text = render_html([verdict("R10")], client="c", reproduce={"R10": command})
    page = parse(text)
    assert [t for _, t in page.of("code")][-1] == command
    assert "Judge this rule again" in page.of("p", "reproduce")[0][1]


def test_the_picture_says_what_its_rows_bars_and_gaps_are() -> None:
    text = render_html([verdict("R9", timeline=RETRY_AFTER)], client="c")
    page = parse(text)
    caption = page.of("figcaption")[0][1]
    for words in ("each row is one contract operation", "Each bar is one request", "waited"):
        assert words in caption
    assert page.of("text", "rows-caption")[0][1] == "operation"
    assert page.of("line", "legend-gap")
