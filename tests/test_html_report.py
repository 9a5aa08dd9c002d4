"""The HTML report (``--claude-timeout-html``) of inner sessions on the real SDK: what it draws
for a passing and a failing run of the marker and of the fixtures, the same report under
pytest-xdist, and the page as a real headless Chromium renders it."""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pytester_helpers import HEADER, inner, run  # noqa: F401 (inner: a fixture)

from pytest_claude_timeout.plugin import html_report

SOURCE = """

@pytest.mark.claude_timeout("slow_prefill", "stalled_stream")
def test_impatient(claude_network):  # 60 s against a 75 s prefill: three attempts time out
    anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.create(**MSG)


@pytest.mark.claude_timeout("slow_prefill")
def test_streaming(claude_network):  # the API's pings keep a stream alive
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.stream(**MSG) as stream:
        stream.get_final_message()


@pytest.mark.parametrize("proxy_cutoff", [30], indirect=True)
def test_on_the_fixtures(proxy_cutoff, claude_network):  # the proxy's 504, not retried
    anthropic.Anthropic(api_key="sk-ant-test", timeout=120, max_retries=0).messages.create(**MSG)
"""
FAILING = "test_inner.py::test_impatient[claude_timeout:slow_prefill-75s]"
PASSING = "test_inner.py::test_streaming[claude_timeout:slow_prefill-75s]"
FIXTURES = "test_inner.py::test_on_the_fixtures[30]"


class Page(html.parser.HTMLParser):
    """Every element as (tag, attributes, the id of its run section, its text)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self.open: list[dict[str, Any]] = []
        self.section: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, **{k: v or "" for k, v in attrs}, "run": self.section, "text": ""}
        if tag == "section":
            self.section = element["run"] = element.get("data-nodeid")
        self.elements.append(element)
        if tag not in ("meta", "br"):  # the void elements this report uses
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            element = self.open.pop()
            if element["tag"] == tag:
                break
        if tag == "section":
            self.section = None

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element["text"] += data

    def find(self, tag: str, run: str | None = None, **attrs: str) -> list[dict[str, Any]]:
        return [
            e for e in self.elements
            if e["tag"] == tag and (run is None or e["run"] == run)
            and all(e.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def with_class(self, cls: str, run: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.elements if cls in e.get("class", "").split() and (run is None or e["run"] == run)]


def report(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> tuple[pytest.RunResult, Page, dict[str, Any]]:
    pytester.makepyfile(test_inner=HEADER + SOURCE)
    options = ["-p", "no:cacheprovider", "--claude-timeout-html=out/report.html", "--claude-timeout-report=report.json", *args]
    result = pytester.runpytest_subprocess(*options) if subprocess else pytester.runpytest(*options)
    result.assert_outcomes(passed=2, failed=2)
    records = {r["nodeid"]: r for r in json.loads((pytester.path / "report.json").read_text())["items"]}
    return result, Page((pytester.path / "out" / "report.html").read_text()), records


def lanes(page: Page, run: str) -> list[tuple[float, float]]:
    return [(float(g["data-start"]), float(g["data-end"])) for g in page.with_class("attempt", run)]


def test_the_report_draws_a_failing_and_a_passing_run(inner: pytest.Pytester) -> None:
    result, page, records = report(inner)
    result.stdout.fnmatch_lines(["claude-timeout: HTML report written to out/report.html"])

    # the matrix: a coloured cell per run, linking to its section
    sections = {s["data-nodeid"]: s for s in page.find("section")}
    assert set(sections) == {FAILING, PASSING, FIXTURES, FAILING.replace("slow_prefill-75s", "stalled_stream-forever")}
    cells = [a for a in page.find("a") if a.get("href", "").startswith("#run-")]
    assert sorted(a["href"][1:] for a in cells) == sorted(s["id"] for s in sections.values() if s["data-source"] == "marker")
    assert {td["class"] for td in page.find("td") if td.get("class", "").startswith("v-")} >= {"v-pass", "v-fail"}

    # the failing run: three lanes where the attempts were, each ended by its read timeout
    failing = records[FAILING]
    assert lanes(page, FAILING) == [(a["start"], a["end"]) for a in failing["attempts"]]
    assert [round(s) for s, _ in lanes(page, FAILING)] == [0, 60, 121]
    fired = [line for line in page.with_class("deadline", FAILING) if "fired" in line["class"]]
    assert [(line["data-timeout"], float(line["data-at"])) for line in fired] == [("read", a["end"]) for a in failing["attempts"]]
    assert [p["data-phase"] for p in page.with_class("phase", FAILING)] == ["waiting"] * 3
    assert len(page.with_class("fail-mark", FAILING)) == 3
    assert [g["data-error"] for g in page.with_class("attempt", FAILING)] == ["ReadTimeout"] * 3
    assert [t["data-by"] for t in page.with_class("ended-by", FAILING)] == ["client"] * 3  # its read timeout
    assert len(page.with_class("gap", FAILING)) == 2  # the SDK's backoff between the attempts
    section = sections[FAILING]
    assert section["data-verdict"] == "failed"
    assert "exception escaped" in section["text"] and "APITimeoutError escaped from the test body" in section["text"]
    assert "read timeout 60 s is shorter than the server's time to first byte" in section["text"]  # the diagnosis

    # the passing stream: one lane, headers at once, then a ping every 10 s until the answer at
    # 75 s (which has a ping of its own after content_block_start, as the API's streams do)
    assert lanes(page, PASSING) == [(0.0, 75.0)]
    assert [(p["data-phase"]) for p in page.with_class("phase", PASSING)] == ["waiting", "streaming"]
    pings = page.with_class("tick-ping", PASSING)
    assert [float(t["x1"]) for t in pings] == [
        pytest.approx(html_report.LEFT + t / 75 * (html_report.WIDTH - html_report.LEFT - html_report.RIGHT), abs=0.01)
        for t in [*range(10, 80, 10), 75]
    ]
    assert page.with_class("tick-data", PASSING) and page.with_class("tick-head", PASSING)
    assert not page.with_class("fail-mark", PASSING)
    assert sections[PASSING]["data-verdict"] == "passed" and "survived" in sections[PASSING]["text"]

    # a test on the fixtures: its run too, with where the proxy acted
    fixture = sections[FIXTURES]
    assert (fixture["data-source"], fixture["data-verdict"]) == ("fixtures", "failed")
    assert lanes(page, FIXTURES) == [(0.0, 30.0)]
    assert [m["text"] for m in page.find("text", FIXTURES) if m["text"] == "proxy"] == ["proxy"]
    assert [t["data-by"] for t in page.with_class("ended-by", FIXTURES)] == ["proxy"]  # its 504 page
    assert "504" in fixture["text"] and "idle cutoff" in fixture["text"]


def test_the_report_under_xdist_is_the_same(inner: pytest.Pytester) -> None:
    _, serial, _ = report(inner)
    result, parallel, _ = report(inner, "-n", "2", subprocess=True)
    result.stdout.fnmatch_lines(["created: 2/2 workers"])
    assert sum("HTML report written" in line for line in result.outlines) == 1

    def drawn(page: Page) -> dict[str, Any]:
        return {
            s["data-nodeid"]: (s["data-verdict"], lanes(page, s["data-nodeid"]), len(page.with_class("tick-ping", s["data-nodeid"])))
            for s in page.find("section")
        }

    assert drawn(parallel) == drawn(serial)
    assert len(drawn(parallel)) == 4


def test_no_report_without_the_option(inner: pytest.Pytester) -> None:
    result = run(inner, SOURCE)
    result.assert_outcomes(passed=2, failed=2)
    assert not any("HTML report" in line for line in result.outlines)


# -- in a real browser ---------------------------------------------------------------------
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: CI installs Debian's chromium package (.ci/run)")
        pytest.skip("Chromium is not installed (Debian: apt install chromium)")
    return found


def render_in_chromium(path: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, path.as_uri()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)


def test_chromium_renders_the_attempts_where_they_happened(inner: pytest.Pytester, tmp_path: Path) -> None:
    _, _, records = report(inner)
    done = render_in_chromium(inner.path / "out" / "report.html", tmp_path / "profile", "--dump-dom")

    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []  # no script error, no console message
    page = Page(done.stdout)
    (body,) = page.find("body")
    assert body["data-ready"] == "1" and "data-errors" not in body  # the script ran to its end
    assert body["data-runs"] == "4"

    # Where the browser laid out each attempt's bar, in the SVG's units: at its start on the
    # virtual time axis, as wide as it lasted, one lane below the other.
    (svg,) = [s for s in page.find("svg") if s["run"] == FAILING and "timeline" in s.get("class", "")]
    left, plot, t_max = float(svg["data-left"]), float(svg["data-plot-width"]), float(svg["data-t-max"])
    bars = page.with_class("attempt-bar", FAILING)
    attempts = records[FAILING]["attempts"]
    assert len(bars) == len(attempts) == 3
    for bar, attempt in zip(bars, attempts):
        assert float(bar["data-screen-x"]) == pytest.approx(left + attempt["start"] / t_max * plot, abs=0.6)
        assert float(bar["data-screen-w"]) == pytest.approx((attempt["end"] - attempt["start"]) / t_max * plot, abs=0.6)
    ys = [float(b["data-screen-y"]) for b in bars]
    assert ys == sorted(ys) and len(set(ys)) == 3


ENVELOPE_SOURCE = """

@pytest.mark.claude_timeout("stalled_stream", envelope={"high": 600})
def test_stream(claude_network):  # a stall without end: its 60 s read timeout stops it
    with anthropic.Anthropic(api_key="sk-ant-test", timeout=60).messages.stream(**MSG) as stream:
        stream.get_final_message()
"""


def test_chromium_draws_the_probe_at_infinity_past_the_envelopes_band(inner: pytest.Pytester, tmp_path: Path) -> None:
    inner.makepyfile(test_inner=HEADER + ENVELOPE_SOURCE)
    inner.runpytest("-p", "no:cacheprovider", "--claude-timeout-html=report.html").assert_outcomes(failed=1)
    done = render_in_chromium(inner.path / "report.html", tmp_path / "profile", "--dump-dom")

    assert [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line] == []
    page = Page(done.stdout)
    (body,) = page.find("body")
    assert body["data-ready"] == "1" and "data-errors" not in body

    (svg,) = [s for s in page.find("svg") if "envelope" in s.get("class", "")]
    left, plot = float(svg["data-left"]), float(svg["data-plot-width"])
    shapes = page.with_class("band-seg")
    finite = [b for b in shapes if "band-inf" not in b["class"]]
    (cap,) = [b for b in shapes if "band-inf" in b["class"]]
    # the finite band (survives up to 60 s, then ReadTimeout) fills the plot, edge to edge
    assert [(float(b["data-low"]), float(b["data-high"])) for b in finite] == [(0, 60), (61, 600)]
    assert float(finite[0]["data-screen-x"]) == pytest.approx(left, abs=0.6)
    assert float(finite[-1]["data-screen-x"]) + float(finite[-1]["data-screen-w"]) == pytest.approx(left + plot, abs=0.6)
    # the probe at infinity: an arrow right of it, past a break, red (the read timeout ended it)
    x, w = float(cap["data-screen-x"]), float(cap["data-screen-w"])
    assert left + plot + 10 < x and x + w == pytest.approx(left + plot + html_report.INF_CAP, abs=0.6) and w > 20
    assert (cap["data-value"], cap["data-passed"], cap["data-outcome"]) == ("inf", "false", "ReadTimeout")
    assert "band-fail" in cap["class"] and "stall=inf: ReadTimeout (1 attempt(s), 60.0 s)" in cap["text"]
    assert "inf" in [t["text"] for t in page.find("text")]  # its label, under it


def test_the_chaos_hook_draws_outcome_counts_and_a_latency_histogram() -> None:
    # A record that carries many calls' outcomes (the chaos scenario's, when it fills them in).
    latencies = [0.2] * 90 + [30.5] * 8 + [61.0] * 2
    chaos = {"outcomes": {"survived": 90, "retried and survived": 8, "failed: APITimeoutError": 2}, "latencies": latencies}
    page = Page(html_report.chaos_panel(chaos))
    bars = [e for e in page.find("rect") if e.get("fill") == "#6fa8dc"]
    assert len(bars) == 20
    heights = [float(b["height"]) for b in bars]
    assert heights[0] == 90 and heights[-1] == pytest.approx(2 / 90 * 90) and sum(h > 0 for h in heights) == 3
    assert "survived: 90, retried and survived: 8, failed: APITimeoutError: 2" in page.elements[0]["text"]
