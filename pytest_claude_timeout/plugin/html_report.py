"""The HTML report (``--claude-timeout-html=PATH``): one self-contained file, inline SVG,
CSS and a few lines of JavaScript, nothing fetched when it is viewed, no build step.

It draws what the records hold (the attempts as the network recorded them: phases, events,
armed timeouts, errors), never what it guesses: the session matrix as a coloured grid
whose cells link to their runs; per run, its timeline on the virtual time axis (one lane
per attempt), verdict, reason and diagnosis; the survival envelopes as bands; and the runs
of tests that used the fixtures. Pure functions of the records: no pytest here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import jsonsafe
from .report import _cell, _columns, sdk_line

Record = Mapping[str, Any]

WIDTH = 780
LEFT = 70
RIGHT = 140
LANE = 40
TOP = 26
BAR = 14

PHASE_NAMES = {
    "connect": "connecting",
    "upload": "uploading the request",
    "waiting": "waiting for the first byte",
    "streaming": "streaming",
    "body": "response body",
}
ACTORS = {"proxy", "load balancer", "stall"}

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 0 0 6px; font-family: ui-monospace, monospace; word-break: break-all; }
.meta { color: #555; }
table.matrix { border-collapse: collapse; background: #fff; }
.matrix th, .matrix td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; font-size: 13px; }
.matrix th { background: #eee; } .matrix td.row { font-family: ui-monospace, monospace; }
.matrix td a { color: inherit; text-decoration: none; display: block; }
.v-pass { background: #d9ead3; } .v-raised { background: #d0e0f3; } .v-fail { background: #f4cccc; }
.v-xfail { background: #fff2cc; } .v-none { background: #f3f3f3; color: #999; }
.run { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px 14px; margin: 14px 0; }
.run:target { outline: 3px solid #6fa8dc; }
.layout { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.verdict { flex: 1 1 320px; min-width: 300px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; }
.badge.v-pass { color: #274e13; } .badge.v-fail { color: #990000; } .badge.v-raised { color: #073763; }
.verdict ul { margin: 6px 0; padding-left: 18px; } .verdict li { margin: 3px 0; }
.small { font-size: 12px; color: #555; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg .axis line { stroke: #bbb; } svg .lane-bg { fill: #f6f6f6; }
.ph-connect { fill: #8e7cc3; } .ph-upload { fill: #6fa8dc; } .ph-waiting { fill: #d9d9d9; }
.ph-streaming { fill: #93c47d; } .ph-body { fill: #76a5af; }
.tick-data { stroke: #1c4587; stroke-width: 1.2; } .tick-ping { stroke: #e69138; stroke-width: 1; }
.tick-head { stroke: #000; stroke-width: 2; }
.deadline { stroke: #cc0000; stroke-dasharray: 3 3; stroke-width: 1.2; }
.deadline.fired { stroke-dasharray: none; stroke-width: 2; }
.gap { stroke: #777; stroke-dasharray: 2 3; }
.fail-mark { fill: #cc0000; } .actor-mark { fill: #b45f06; } .stall { fill: url(#hatch); }
.band-pass { fill: #93c47d; } .band-fail { fill: #e06666; } .band-gap { fill: #eee; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
details pre { font-size: 12px; background: #f6f6f6; padding: 6px; overflow-x: auto; }
"""

SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); document.body.dataset.errors = errors.join(' | '); });
  function place(svg, selector) {
    // Where the browser drew each shape: its box relative to the SVG, in the SVG's units.
    var box = svg.getBoundingClientRect();
    var scale = box.width / Number(svg.getAttribute('width'));
    svg.querySelectorAll(selector).forEach(function (shape) {
      var r = shape.getBoundingClientRect();
      shape.dataset.screenX = ((r.left - box.left) / scale).toFixed(2);
      shape.dataset.screenW = (r.width / scale).toFixed(2);
      shape.dataset.screenY = ((r.top - box.top) / scale).toFixed(2);
    });
  }
  function measure() {
    // Where the browser drew each attempt: its bar's box relative to its timeline's plot.
    document.querySelectorAll('svg.timeline').forEach(function (svg) { place(svg, 'rect.attempt-bar'); });
    // and each envelope's bands, the end cap at infinity included
    document.querySelectorAll('svg.envelope').forEach(function (svg) { place(svg, '.band-seg'); });
    document.body.dataset.runs = String(document.querySelectorAll('section.run').length);
    document.body.dataset.ready = '1';
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', measure); } else { measure(); }
})();
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> float | None:
    """A time from a record (``"forever"`` stands for infinity in JSON)."""
    if value is None:
        return None
    if isinstance(value, str) and value.lstrip("-") == jsonsafe.FOREVER:
        return jsonsafe.number(value)
    return float(value)


def _s(value: float) -> str:
    return "forever" if math.isinf(value) else f"{value:.3f}".rstrip("0").rstrip(".") + " s"


def verdict_class(record: Record) -> str:
    outcome = record.get("outcome")
    if outcome in ("xfailed", "xpassed"):
        return "v-xfail"
    if record["verdict"] != "passed":
        return "v-fail"
    return "v-raised" if record.get("kind") == "raised as expected" else "v-pass"


def run_ids(records: Sequence[Record]) -> dict[str, str]:
    return {r["nodeid"]: f"run-{i + 1}" for i, r in enumerate(records)}


# -- the matrix -------------------------------------------------------------------------------
def matrix(records: Sequence[Record], ids: Mapping[str, str]) -> str:
    if not records:
        return "<p class='meta'>No run of the marker or the client audit in this session.</p>"
    columns = _columns(records)
    rows: dict[str, dict[str, Record]] = {}
    for r in records:
        rows.setdefault(r["row"], {})[r["scenario"]] = r
    out = ["<table class='matrix'><tr><th>test</th>", *(f"<th>{esc(c)}</th>" for c in columns), "</tr>"]
    for name, cells in rows.items():
        out.append(f"<tr><td class='row'>{esc(name)}</td>")
        for column in columns:
            cell = cells.get(column)
            if cell is None:
                out.append("<td class='v-none'>-</td>")
                continue
            title = f"{cell['kind']}: {cell['reason']}"
            out.append(
                f"<td class='{verdict_class(cell)}' title='{esc(title)}'>"
                f"<a href='#{ids[cell['nodeid']]}'>{esc(_cell(cell))}</a></td>"
            )
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


# -- the timeline -----------------------------------------------------------------------------
def _axis_end(attempts: Sequence[Record]) -> float:
    ends = [0.0]
    for a in attempts:
        ends.append(_num(a.get("end")) or _num(a["start"]) or 0.0)
        ends += [_num(e["at"]) or 0.0 for e in a.get("events", [])]
    top = max(ends)
    for a in attempts:  # a timeout that fires a little after the axis still shows
        for at in a.get("deadlines", {}).values():
            at = _num(at)
            if at is not None and not math.isinf(at) and at <= top * 1.15:
                top = max(top, at)
    return top if top > 0 else 1.0


def _nice_step(span: float) -> float:
    raw = span / 8
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1.0, 2.0, 5.0, 10.0) if m * magnitude >= raw)


def _ticks(attempt: Record, x: Any, y: float) -> list[str]:
    """Events as ticks, at most one per pixel and kind (a long stream has thousands)."""
    out: list[str] = []
    seen: set[tuple[str, int]] = set()
    for e in attempt.get("events", []):
        kind = e.get("kind", "note")
        if kind not in ("data", "ping", "head"):
            continue
        px = x(_num(e["at"]) or 0.0)
        key = (kind, round(px))
        if key in seen:
            continue
        seen.add(key)
        h = {"head": (-3, BAR + 3), "data": (-2, BAR + 2), "ping": (BAR - 5, BAR + 4)}[kind]
        out.append(
            f"<line class='tick-{kind}' x1='{px:.2f}' x2='{px:.2f}' y1='{y + h[0]:.1f}' y2='{y + h[1]:.1f}'>"
            f"<title>{esc(_s(_num(e['at']) or 0.0))}: {esc(e['text'])}</title></line>"
        )
    return out


def _actors(attempt: Record, x: Any, y: float, end: float) -> list[str]:
    """Where a proxy, a load balancer or a stalled upstream acted."""
    out: list[str] = []
    events = attempt.get("events", [])
    for i, e in enumerate(events):
        by = e.get("by") or ""
        if by not in ACTORS:
            continue
        at = _num(e["at"]) or 0.0
        if by == "stall":
            until = min(_num(events[i + 1]["at"]) or end, end) if i + 1 < len(events) else end
            out.append(
                f"<rect class='stall' x='{x(at):.2f}' y='{y:.1f}' width='{max(x(until) - x(at), 1):.2f}' height='{BAR}'>"
                f"<title>the stream stalled at {esc(_s(at))}: {esc(e['text'])}</title></rect>"
            )
            continue
        if e.get("kind") == "wait":
            continue  # the proxy's silence; it acts at its end (the head or hangup below)
        px = x(at)
        out.append(
            f"<path class='actor-mark' d='M{px:.2f},{y - 9:.1f} l5,-8 h-10 z'>"
            f"<title>{esc(by)} at {esc(_s(at))}: {esc(e['text'])}</title></path>"
            f"<text x='{px + 6:.2f}' y='{y - 10:.1f}'>{esc(by)}</text>"
        )
    return out


def _who(attempt: Record) -> str:
    """Who ended the attempt, in a word: ``client`` (its timeout), ``proxy``, ``load
    balancer``, ``server`` (the far side), ``horizon``; empty for a clean end."""
    last = next((e for e in reversed(attempt.get("events", [])) if e.get("kind") in ("timeout", "hangup", "horizon")), None)
    if last is not None:
        return {"timeout": "client", "horizon": "horizon"}.get(last["kind"]) or last.get("by") or "server"
    head = next((e for e in attempt.get("events", []) if e.get("kind") == "head"), None)
    return str(head.get("by") or "") if head is not None else ""


def _origin(attempt: Record) -> str:
    """Who ended a failed attempt, from its last events."""
    error = attempt.get("error")
    last = next((e for e in reversed(attempt.get("events", [])) if e.get("kind") in ("timeout", "hangup", "horizon")), None)
    if last is None:
        return f"{error}"
    if last["kind"] == "timeout":
        return f"{error}: the client gave up ({last['text'].split('(')[-1].rstrip(')')})"
    if last["kind"] == "horizon":
        return f"{error}: stopped at the simulation's horizon"
    return f"{error}: from the {last.get('by') or 'server or network'}"


def timeline(record: Record, run_id: str) -> str:
    attempts = list(record.get("attempts", []))
    if not attempts:
        return "<p class='meta'>No request reached the simulated network.</p>"
    t_max = _axis_end(attempts)
    plot = WIDTH - LEFT - RIGHT
    height = TOP + LANE * len(attempts) + 22

    def x(t: float) -> float:
        return LEFT + min(max(t, 0.0), t_max) / t_max * plot

    out = [
        f"<svg class='timeline' id='{run_id}-timeline' xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' data-left='{LEFT}' data-plot-width='{plot}' data-t-max='{t_max!r}'>",
        "<defs><pattern id='hatch' width='6' height='6' patternUnits='userSpaceOnUse' patternTransform='rotate(45)'>"
        "<rect width='6' height='6' fill='#f9cb9c'/><line x1='0' y1='0' x2='0' y2='6' stroke='#b45f06' stroke-width='2'/>"
        "</pattern></defs>",
    ]
    step = _nice_step(t_max)
    out.append("<g class='axis'>")
    t = 0.0
    while t <= t_max + 1e-9:
        out.append(
            f"<line x1='{x(t):.2f}' x2='{x(t):.2f}' y1='{TOP - 6}' y2='{height - 18}'/>"
            f"<text x='{x(t):.2f}' y='{height - 4}' text-anchor='middle'>{t:g} s</text>"
        )
        t += step
    out.append("</g>")
    previous: Record | None = None
    for lane, a in enumerate(attempts):
        y = TOP + lane * LANE + 8
        start = _num(a["start"]) or 0.0
        end = _num(a.get("end"))
        shown_end = end if end is not None else t_max
        kind = "stream" if a.get("stream") else "call"
        out.append(
            f"<g class='attempt' data-number='{a['number']}' data-start='{start!r}' data-end='{shown_end!r}' "
            f"data-status='{esc(a.get('status'))}' data-error='{esc(a.get('error') or '')}'>"
            f"<rect class='lane-bg' x='{LEFT}' y='{y - 6}' width='{plot}' height='{BAR + 12}'/>"
            f"<text x='4' y='{y + 11}'>#{a['number']} {kind}</text>"
        )
        if previous is not None and _num(previous.get("end")) is not None:
            before = _num(previous["end"]) or 0.0
            if start > before:
                out.append(
                    f"<line class='gap' x1='{x(before):.2f}' x2='{x(start):.2f}' y1='{y + BAR / 2}' y2='{y + BAR / 2}'>"
                    f"<title>{esc(_s(start - before))} between attempts (client backoff or own code)</title></line>"
                    f"<text class='gap-label' x='{(x(before) + x(start)) / 2:.2f}' y='{y - 8:.1f}' text-anchor='middle'>"
                    f"backoff {start - before:.2f} s</text>"
                )
        out.append(
            f"<rect class='attempt-bar' x='{x(start):.2f}' y='{y}' width='{max(x(shown_end) - x(start), 1.0):.2f}' "
            f"height='{BAR}' fill='none' stroke='#666' stroke-width='0.6' data-start='{start!r}' data-end='{shown_end!r}'>"
            f"<title>attempt {a['number']}: {esc(_s(start))} to {esc(_s(shown_end))}: {esc(a.get('outcome', ''))}</title></rect>"
        )
        for p in a.get("phases", []):
            p_start, p_end = _num(p["start"]) or 0.0, _num(p.get("end"))
            p_end = shown_end if p_end is None else p_end
            out.append(
                f"<rect class='phase ph-{esc(p['name'])}' data-phase='{esc(p['name'])}' x='{x(p_start):.2f}' y='{y + 2}' "
                f"width='{max(x(p_end) - x(p_start), 0.8):.2f}' height='{BAR - 4}'>"
                f"<title>{esc(PHASE_NAMES.get(p['name'], p['name']))}: {esc(_s(p_start))} to {esc(_s(p_end))}</title></rect>"
            )
        out += _actors(a, x, y, shown_end)
        out += _ticks(a, x, y)
        error = a.get("error") or ""
        for which, at in sorted(a.get("deadlines", {}).items()):
            at = _num(at)
            if at is None or math.isinf(at) or at > t_max + 1e-9:
                continue
            fired = error == f"{which.capitalize()}Timeout" and end is not None and abs(at - end) < 1e-6
            limit = _s(_num(a["timeouts"].get(which)) or 0.0)
            out.append(
                f"<line class='deadline{' fired' if fired else ''}' data-timeout='{which}' data-at='{at!r}' x1='{x(at):.2f}' "
                f"x2='{x(at):.2f}' y1='{y - 5}' y2='{y + BAR + 5}'><title>{which} timeout ({esc(limit)}) "
                f"{'fired' if fired else 'would fire'} here, at {esc(_s(at))}</title></line>"
            )
            if not fired:
                out.append(
                    f"<text class='deadline-label' x='{x(at) - 3:.2f}' y='{y + BAR + 4}' text-anchor='end' fill='#cc0000'>{which}</text>"
                )
        label = f"{a.get('status') or ''} {error}".strip() or (a.get("outcome") or "")
        who = _who(a)
        label = f"{label} ({who})" if who else label
        if error and end is not None:
            out.append(
                f"<circle class='fail-mark' cx='{x(end):.2f}' cy='{y + BAR / 2}' r='4'><title>{esc(_origin(a))}</title></circle>"
            )
        out.append(f"<text class='ended-by' data-by='{esc(who)}' x='{WIDTH - RIGHT + 8}' y='{y + 11}'>{esc(label[:30])}</text></g>")
        previous = a
    out.append("</svg>")
    return "".join(out)


LEGEND = (
    "<div class='legend'>"
    + "".join(f"<span><i class='{c}' style='background:{b}'></i>{esc(t)}</span>" for c, b, t in (
        ("", "#8e7cc3", "connecting"), ("", "#6fa8dc", "uploading"), ("", "#d9d9d9", "waiting for the first byte"),
        ("", "#93c47d", "streaming"), ("", "#76a5af", "response body"), ("", "#1c4587", "content (tick)"),
        ("", "#e69138", "ping (short tick)"), ("", "#cc0000", "timeout: dashed where it would fire, solid where it fired"),
        ("", "#b45f06", "proxy / load balancer / stall"),
    ))
    + "<span>dotted: gap between attempts (backoff); red dot: where an attempt failed</span></div>"
)


# -- envelopes and chaos ----------------------------------------------------------------------
def _scale(low: float, high: float, unit: str) -> Any:
    """Durations on a log-like scale (a 600 s limit and a one-day range both show)."""
    if unit and high > 0:
        span = math.log1p(high) - math.log1p(low)
        return lambda v: (math.log1p(v) - math.log1p(low)) / span if span else 0.0
    return lambda v: (v - low) / (high - low) if high > low else 0.0


INF_CAP = 64
"""Width of the end cap that draws the probe at infinity, right of the finite band."""


def _band_what(probe: Mapping[str, Any], passed: bool) -> str:
    return "survives" if passed else f"{probe.get('exception') or probe['kind']}"


def envelope_band(env: Mapping[str, Any]) -> str:
    """The envelope as a band over its finite range (log-like for durations); the probe at
    infinity, when there is one, as an arrow-shaped end cap past a break (``... inf``)."""
    infinity = env.get("infinity")
    width, left, height = WIDTH, LEFT, 46
    plot = WIDTH - LEFT - RIGHT - (INF_CAP if infinity else 0)
    low, high, unit = float(env["low"]), float(env["high"]), env.get("unit", "s")
    f = _scale(low, high, unit)

    def x(v: float) -> float:
        return left + float(f(v)) * plot

    out = [
        f"<svg class='envelope' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' data-scenario='{esc(env['scenario'])}' data-left='{left}' "
        f"data-plot-width='{plot}'>",
        f"<rect class='band-gap' x='{left}' y='8' width='{plot}' height='16'/>",
        f"<text x='4' y='20'>{esc(env['parameter'])}</text>",
    ]
    labels: list[str] = []
    for s in env["segments"]:
        cls = "band-pass" if s["passed"] else "band-fail"
        what = _band_what(s["first"], s["passed"])
        if x(s["high"]) - x(s["low"]) > 8 * len(what):
            labels.append(f"<text x='{(x(s['low']) + x(s['high'])) / 2:.2f}' y='20' text-anchor='middle'>{esc(what)}</text>")
        out.append(
            f"<rect class='band-seg {cls}' data-low='{s['low']!r}' data-high='{s['high']!r}' x='{x(s['low']):.2f}' y='8' "
            f"width='{max(x(s['high']) - x(s['low']), 2):.2f}' height='16'><title>{esc(env['parameter'])} "
            f"{s['low']:g}..{s['high']:g} {esc(unit)}: {esc(what)} ({s['first']['attempts']} attempt(s), "
            f"{s['first']['elapsed']:.1f} s at {s['low']:g})</title></rect>"
        )
    out += labels
    marks = sorted({low, high, *(s["low"] for s in env["segments"][1:])})
    for v in marks:
        out.append(f"<text x='{x(v):.2f}' y='38' text-anchor='middle'>{v:g}{esc(unit)}</text>")
    if infinity:
        out.append(_infinity_cap(env, infinity, left + plot))
    out.append("</svg>")
    summary = f"<b>Survival envelope:</b> {esc(env['summary'])} <span class='small'>({env['probes']} runs)</span>"
    return f"<div class='band'><p>{summary}</p>{''.join(out)}</div>"


def _infinity_cap(env: Mapping[str, Any], probe: Mapping[str, Any], start: float) -> str:
    """The run at infinity: a break (the values between the range's top and infinity were
    not searched), then an arrow coloured by its outcome, labelled ``inf``."""
    passed = bool(probe["passed"])
    what = _band_what(probe, passed)
    x0, x1 = start + 18, start + INF_CAP
    arrow = f"{x0:.2f},8 {x1 - 9:.2f},8 {x1:.2f},16 {x1 - 9:.2f},24 {x0:.2f},24"
    elapsed = jsonsafe.number(probe["elapsed"])
    return (
        f"<text class='band-break' x='{start + 9:.2f}' y='20' text-anchor='middle'>&#8230;</text>"
        f"<polygon class='band-seg band-inf {'band-pass' if passed else 'band-fail'}' data-value='inf' "
        f"data-passed='{str(passed).lower()}' data-outcome='{esc(what)}' points='{arrow}'>"
        f"<title>{esc(env['parameter'])}=inf: {esc(what)} ({probe['attempts']} attempt(s), {elapsed:.1f} s)</title></polygon>"
        f"<text x='{(x0 + x1 - 9) / 2:.2f}' y='38' text-anchor='middle'>inf</text>"
    )


def chaos_panel(chaos: Mapping[str, Any]) -> str:
    """Many calls under a chaos scenario: outcome counts and a latency histogram. Drawn
    from ``record["chaos"]``: ``{"outcomes": {name: count}, "latencies": [seconds ...]}``."""
    outcomes = dict(chaos.get("outcomes") or {})
    latencies = [float(v) for v in chaos.get("latencies") or []]
    parts = ["<div class='chaos'><b>Chaos:</b> " + ", ".join(f"{esc(k)}: {v}" for k, v in outcomes.items())]
    if latencies:
        top = max(latencies) or 1.0
        bins = [0] * 20
        for v in latencies:
            bins[min(int(v / top * 20), 19)] += 1
        most = max(bins) or 1
        bar_w = (WIDTH - LEFT - RIGHT) / 20
        svg = [f"<svg class='histogram' xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='120'>"]
        for i, n in enumerate(bins):
            h = n / most * 90
            svg.append(
                f"<rect x='{LEFT + i * bar_w:.2f}' y='{100 - h:.2f}' width='{bar_w - 2:.2f}' height='{h:.2f}' fill='#6fa8dc'>"
                f"<title>{i * top / 20:.1f}-{(i + 1) * top / 20:.1f} s: {n} call(s)</title></rect>"
            )
        svg.append(f"<text x='{LEFT}' y='115'>0 s</text><text x='{WIDTH - RIGHT}' y='115' text-anchor='end'>{top:.1f} s</text>")
        svg.append("<text x='4' y='50'>latency</text></svg>")
        parts.append("".join(svg))
    parts.append("</div>")
    return "".join(parts)


# -- a run ------------------------------------------------------------------------------------
def run_section(record: Record, run_id: str) -> str:
    cls = verdict_class(record)
    source = "fixtures" if record.get("source") == "fixture" else "marker"
    verdict = record["verdict"].upper() if record["verdict"] != "passed" else "passed"
    out = [
        f"<section class='run' id='{run_id}' data-nodeid='{esc(record['nodeid'])}' data-verdict='{esc(record['verdict'])}' "
        f"data-source='{source}'>",
        f"<h3>{esc(record['nodeid'])}</h3>",
        "<div class='layout'><div class='chart'>",
        timeline(record, run_id),
        "</div><div class='verdict'>",
        f"<span class='badge {cls}'>{esc(verdict)}</span> <b>{esc(record.get('kind', ''))}</b>",
        f"<p>{esc(record.get('reason', ''))}</p>",
        f"<p class='small'>scenario: {esc(record.get('description') or 'healthy network')}<br>",
        f"virtual elapsed: {float(record.get('elapsed', 0)):.3f} s in {len(record.get('attempts', []))} attempt(s)<br>",
        f"{esc(sdk_line(record.get('sdk', {})))} &middot; via the {source}</p>",
    ]
    if record.get("exception"):
        out.append(f"<p class='small'>exception: <code>{esc(record['exception'])}</code></p>")
    if record.get("diagnosis"):
        out.append("<b>Diagnosis</b><ul>" + "".join(f"<li>{esc(d)}</li>" for d in record["diagnosis"]) + "</ul>")
    out.append("</div></div>")
    if record.get("envelope"):
        out.append(envelope_band(record["envelope"]))
    if record.get("chaos"):
        out.append(chaos_panel(record["chaos"]))
    out.append("<details><summary>events</summary><pre>" + esc(_events_text(record)) + "</pre></details>")
    out.append("</section>")
    return "".join(out)


def _events_text(record: Record) -> str:
    lines = []
    for a in record.get("attempts", []):
        lines.append(f"attempt {a['number']} ({'streaming' if a.get('stream') else 'non-streaming'}), timeouts {a.get('timeouts')}")
        lines += [f"  {(_num(e['at']) or 0.0):10.3f}  [{e.get('kind', 'note')}] {e['text']}" for e in a.get("events", [])[:400]]
        lines.append(f"  => {a.get('outcome')}")
    return "\n".join(lines)


def render(records: Iterable[Record], fixture_records: Iterable[Record] = ()) -> str:
    """The whole report as one HTML document."""
    marked = sorted(records, key=lambda r: r["nodeid"])
    fixtures = sorted(fixture_records, key=lambda r: r["nodeid"])
    ids = run_ids([*marked, *fixtures])
    failed = sum(r["verdict"] != "passed" for r in marked)
    sdk = next((sdk_line(r["sdk"]) for r in [*marked, *fixtures] if r.get("sdk")), "")
    envelopes = [r for r in marked if r.get("envelope")]
    body = [
        "<h1>pytest-claude-timeout report</h1>",
        f"<p class='meta'>{len(marked)} scenario run(s), {failed} failed; {len(fixtures)} run(s) of the fixtures; "
        f"{esc(sdk)}. Times are virtual seconds.</p>",
        "<h2>Scenarios x tests</h2>",
        matrix(marked, ids),
    ]
    if envelopes:
        body.append("<h2>Survival envelopes</h2><ul>")
        body += [f"<li><a href='#{ids[r['nodeid']]}'>{esc(r['row'])}</a>: {esc(r['envelope']['summary'])}</li>" for r in envelopes]
        body.append("</ul>")
    body.append("<h2>Runs</h2>" + LEGEND)
    body += [run_section(r, ids[r["nodeid"]]) for r in marked]
    if fixtures:
        body.append("<h2>Tests on the fixtures</h2>")
        body += [run_section(r, ids[r["nodeid"]]) for r in fixtures]
    data = jsonsafe.dumps({"runs": len(ids)})
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>pytest-claude-timeout report</title>"
        f"<style>{CSS}</style></head><body data-summary='{esc(data)}'>"
        + "".join(body)
        + f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_html(path: str | Path, records: Iterable[Record], fixture_records: Iterable[Record] = ()) -> None:
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(records, fixture_records), encoding="utf-8")
