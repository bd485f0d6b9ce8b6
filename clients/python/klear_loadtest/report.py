"""The end of a run: every objective judged, a JSON report, and an HTML page with latency over time
and throughput drawn by plotly (offline: the page carries plotly.js and needs no network)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .latency import Merged
from .mix import Slo


def judge(slos: tuple[Slo, ...], total: Merged) -> list[dict[str, Any]]:
    """Each objective with its measured value and pass or fail; an op without data fails."""
    out = []
    for slo in slos:
        op = None if slo.op == "*" else slo.op
        if slo.metric == "error_ratio":
            done = total.count(op) + total.error_count(op)
            value: float | None = total.error_count(op) / done if done else None
        else:
            value = total.percentile_ms(op, float(slo.metric.removeprefix("p").removesuffix("_ms")))
        out.append({"slo": slo.name, "op": slo.op, "metric": slo.metric, "limit": slo.limit, "value": value,
                    "pass": value is not None and value <= slo.limit})
    return out


def series(seconds: dict[int, Merged]) -> list[dict[str, Any]]:
    """Per second: operations done, errors, and p50/p99 over all operations and per operation."""
    rows = []
    for t in sorted(seconds):
        m = seconds[t]
        rows.append({"t": t, "ok": m.count(), "errors": m.error_count(), "p50_ms": m.percentile_ms(None, 50),
                     "p99_ms": m.percentile_ms(None, 99),
                     "ops": {op: {"ok": m.count(op), "errors": m.error_count(op), "p99_ms": m.percentile_ms(op, 99)}
                             for op in m.ops()},
                     "events": dict(m.events)})
    return rows


def write(path: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """`path`.json and `path`.html."""
    json_path, html_path = path.with_suffix(".json"), path.with_suffix(".html")
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    html_path.write_text(_page(report))
    return json_path, html_path


def _page(report: dict[str, Any]) -> str:
    rows = report["series"]
    t = [r["t"] for r in rows]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=("Latency (ms, from each operation's due time)", "Throughput (per second)",
                                        "Connected users"))
    fig.add_trace(go.Scatter(x=t, y=[r["p50_ms"] for r in rows], name="p50 all"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=[r["p99_ms"] for r in rows], name="p99 all"), row=1, col=1)
    for op in sorted({op for r in rows for op in r["ops"]}):
        fig.add_trace(go.Scatter(x=t, y=[r["ops"].get(op, {}).get("p99_ms") for r in rows], name=f"p99 {op}",
                                 visible="legendonly"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=[r["ok"] for r in rows], name="successful ops/s"), row=2, col=1)
    fig.add_trace(go.Scatter(x=t, y=[r["errors"] for r in rows], name="errors/s"), row=2, col=1)
    fig.add_trace(go.Scatter(x=t, y=report.get("connected_series", []), name="connected"), row=3, col=1)
    fig.update_xaxes(title_text="seconds since the start", row=3, col=1)
    fig.update_layout(height=900, title_text=f"klear loadtest against {report['target']}")
    plots = fig.to_html(full_html=False, include_plotlyjs=True)

    def table(head: list[str], body: list[list[Any]]) -> str:
        cells = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in r) + "</tr>" for r in body)
        return "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + f"</tr>{cells}</table>"

    slos = table(["objective", "measured", "result"],
                 [[s["slo"], s["value"], "pass" if s["pass"] else "FAIL"] for s in report["slos"]])
    ops = table(["operation", "count", "errors", "refused", "p50 ms", "p99 ms", "p99.9 ms", "max ms"],
                [[op, s["count"], s["errors"], s["refused"], s["p50_ms"], s["p99_ms"], s["p99.9_ms"], s["max_ms"]]
                 for op, s in report["operations"].items()])
    verdict = "every objective held" if report["passed"] else "objectives missed"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>klear loadtest report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:.2em .6em;text-align:right}}</style></head><body>
<h1>klear loadtest: {html.escape(verdict)}</h1>
<p>{html.escape(json.dumps(report["mix"]["users"]))} users, {report["mix"]["rate_per_s"]:.0f} operations/s
({report["mix"]["requests_per_min"]:.0f} a minute) for {report["mix"]["duration_s"]:g} s,
{report["processes"]} generator process(es), started {html.escape(report["started_at"])}.</p>
<h2>Objectives</h2>{slos}<h2>Operations</h2>{ops}
<h2>Integrity</h2>{table(["check", "value"], [[k, v] for k, v in report["integrity"].items()])}
{plots}</body></html>
"""


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
