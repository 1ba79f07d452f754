"""The report model as one self-contained HTML page per target: inline SVG figures drawn by matplotlib, inline
CSS, no script, nothing fetched — it opens from a file, a mail attachment or a CI artifact, offline."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from datetime import datetime

from breakerpanel.core.instants import format_instant
from breakerpanel.core.report_model import BackendTimeline, DeploymentEntry, IncidentEntry, TargetReport

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;
color:#1b1f24;line-height:1.4;padding:0 16px}
h1{font-size:1.5em;margin-bottom:0}h2{margin-top:1.6em;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a}.problem{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;margin:6px 0}
table{border-collapse:collapse;width:100%;margin:8px 0}td,th{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top;font-size:.92em}th{background:#f6f8fa}
.critical{color:#a40e26;font-weight:600}.warning{color:#9a6700;font-weight:600}
.backend{margin:18px 0 28px}.backend svg{width:100%;height:auto}.runbook{background:#ddf4ff;padding:6px 10px}
code{font-size:.9em}
"""

_COLOURS = {"successes": "#2da44e", "counted": "#cf222e", "ignored": "#bf8700", "gateway": "#8250df",
            "open": "#cf222e", "retry": "#0969da"}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def backend_figure(timeline: BackendTimeline, salt: str) -> str:
    """The backend's timeline as an inline <svg>: traffic and failures by kind per bin, the breaker's open
    intervals shaded, and the Retry-After the backend asked for."""
    import matplotlib
    from matplotlib import dates
    from matplotlib.figure import Figure

    starts = list(timeline.starts)
    if not starts:
        return "<p>No bins in the window.</p>"
    edges = [*starts, starts[-1] + timeline.step]
    # The SVG's element ids come from this salt: fixed ids make the page reproducible, distinct salts keep two
    # figures of one page from sharing a clip-path id.
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path", "font.size": 9}):
        # Fixed margins, not a layout engine: constrained layout costs more than drawing the figure does.
        figure = Figure(figsize=(10.5, 3.6))
        figure.subplots_adjust(left=0.07, right=0.99, top=0.97, bottom=0.13, hspace=0.12)
        traffic, retry = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        layers = [
            ("served (2xx/3xx)", timeline.successes, _COLOURS["successes"]),
            ("failures the rule counts", timeline.counted, _COLOURS["counted"]),
            ("failures the rule cannot see", timeline.ignored, _COLOURS["ignored"]),
            ("answered by the gateway (no backend call)", timeline.gateway_only, _COLOURS["gateway"]),
        ]
        traffic.stackplot(edges, *[[*values, values[-1]] for _, values, _ in layers], step="post",
                          labels=[label for label, _, _ in layers], colors=[c for _, _, c in layers], alpha=0.85)
        for axis in (traffic, retry):
            for index, (start, end) in enumerate(timeline.open_intervals):
                axis.axvspan(start, end, color=_COLOURS["open"], alpha=0.12, lw=0,
                             label="breaker open" if index == 0 and axis is traffic else None)
        traffic.set_ylabel(f"requests / {int(timeline.step.total_seconds())} s")
        traffic.legend(loc="upper left", fontsize=7, ncols=3, frameon=False)
        traffic.margins(x=0)
        traffic.set_ylim(bottom=0, top=max(1, max(timeline.requests + timeline.gateway_only, default=0)) * 1.35)
        waits = [(s, r) for s, r in zip(starts, timeline.retry_after, strict=True) if r is not None]
        if waits:
            retry.plot([s for s, _ in waits], [r for _, r in waits], "o", ms=3, color=_COLOURS["retry"])
        retry.set_ylabel("Retry-After s")
        retry.set_ylim(bottom=0, top=max([r for _, r in waits] or [1]) * 1.3)
        retry.xaxis.set_major_formatter(dates.DateFormatter("%H:%M", tz=starts[0].tzinfo))
        retry.set_xlabel("UTC")
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _incident_rows(incidents: Sequence[IncidentEntry]) -> list[str]:
    if not incidents:
        return ["<p>No incidents in the window.</p>"]
    out = []
    for incident in incidents:
        state = "open" if incident.state == "open" else f"resolved {_e(incident.resolved_at)}"
        evidence = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in incident.evidence)
        out += [
            f'<h3><span class="{_e(incident.severity)}">{_e(incident.severity)}</span> {_e(incident.kind)} — '
            f"{_e(incident.subject)}</h3>",
            f'<p class="meta">since {_e(incident.since)}, opened {_e(incident.opened_at)}, {state}</p>',
            f'<p class="runbook"><b>runbook:</b> {_e(incident.runbook)}</p>',
            f"<table><tbody>{evidence}</tbody></table>",
        ]
    return out


def _deployment_rows(deployments: Sequence[DeploymentEntry]) -> list[str]:
    if not deployments:
        return ["<p>No deployments ended in the window.</p>"]
    rows = ["<table><thead><tr><th>ended</th><th>deployment</th><th>by</th><th>state</th><th>duration</th>"
            "<th>failed operations: cause and fix</th></tr></thead><tbody>"]
    for deployment in deployments:
        failed = "<br>".join(
            f"<b>{_e(op.resource)}</b>: {_e(op.code)} — {_e(op.message)}<br><i>cause:</i> {_e(op.cause)}<br>"
            f"<i>fix:</i> {_e(op.fix)}" + (f"<br><i>tracking id:</i> {_e(op.tracking_id)}" if op.tracking_id else "")
            for op in deployment.failed)
        rows.append(f"<tr><td>{_e(deployment.at)}</td><td><code>{_e(deployment.name)}</code></td>"
                    f"<td>{_e(deployment.made_by)}</td><td>{_e(deployment.state)}</td>"
                    f"<td>{_e(deployment.duration)}</td><td>{failed}</td></tr>")
    rows.append("</tbody></table>")
    return rows


def _backend_section(target: TargetReport, timeline: BackendTimeline) -> list[str]:
    opened = "; ".join(f"{format_instant(a)} → {format_instant(b)}" for a, b in timeline.open_intervals)
    waits = [r for r in timeline.retry_after if r is not None]
    return [
        f'<section class="backend" id="backend-{_e(timeline.name)}">',
        f"<h3>{_e(timeline.name)}</h3>",
        f'<p class="meta">{_e(timeline.rule)}; in pool {_e(", ".join(timeline.pools) or "none")}; breaker state '
        f"from {_e(timeline.source)}</p>",
        backend_figure(timeline, f"{target.apim_name}/{timeline.name}"),
        f"<p>{sum(timeline.requests)} requests, {sum(timeline.successes)} served, {sum(timeline.counted)} failures "
        f"the rule counts, {sum(timeline.ignored)} it cannot see, {sum(timeline.throttled)} throttled"
        f"{f' (largest Retry-After {max(waits)} s)' if waits else ''}. Breaker open "
        f"{timeline.open_minutes:.0f} min{': ' + _e(opened) if opened else ''}.</p>",
        "</section>",
    ]


def render_page(target: TargetReport, generated_at: datetime) -> str:
    title = f"breakerpanel report — {target.apim_name}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{_e(target.resource_group)} · subscription {_e(target.subscription_id)} · '
        f"{_e(format_instant(target.start))} → {_e(format_instant(target.end))} · written "
        f"{_e(format_instant(generated_at))}</p>",
        *[f'<p class="problem">could not read {_e(p)}: this page may be incomplete</p>' for p in target.problems],
        "<h2>Incidents</h2>", *_incident_rows(target.incidents),
        "<h2>Backends</h2>",
    ]
    if target.pools:
        body.append("<ul>" + "".join(f"<li>pool <b>{_e(n)}</b>: {_e(m)}</li>" for n, m in target.pools) + "</ul>")
    for timeline in target.backends:
        body += _backend_section(target, timeline)
    if not target.backends:
        body.append("<p>No backends could be read.</p>")
    body += ["<h2>Deployments and rollouts</h2>", *_deployment_rows(target.deployments)]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        # Nothing may load from anywhere: the policy makes a stray reference fail closed in the browser.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'img-src data:">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>", *body, "</body></html>", "",
    ])
