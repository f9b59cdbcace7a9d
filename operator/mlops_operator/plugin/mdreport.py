"""The ModelDeployment report (pure: objects and Events in, one self-contained HTML page out).

Rollout timeline (candidate traffic per step, from the operator's Events), every decision with its
reason (which carries the analysis numbers of that step), the arms' current measurements against the
limits, and the model versions served. Built by `kubectl mlops report md NAME`.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from mlops_components import htmlreport as h

STEP = re.compile(r"step (\d+): (\d+)% to (\S+)")


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def traffic_timeline(events: list[dict[str, Any]], status: dict[str, Any], spec: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(time, newest version's %, what) at each change: a first version gets 100 at once; a release starts at its
    first step, advances, and ends at 100 (promoted) or 0 (rolled back)."""
    strategy = spec.get("strategy") or {}
    first = ((strategy.get("canary") or {}).get("steps") or [10])[0] if strategy.get("type") == "canary" else \
        (strategy.get("abtest") or {}).get("candidateWeight", 50) if strategy.get("type") == "abtest" else 0
    points: list[tuple[str, int, str]] = []
    for e in events:
        reason, message, t = e.get("reason"), e.get("message", ""), e.get("time", "")
        if reason == "Started":
            points.append((t, int(first), "started"))
        elif reason == "Advanced" and (m := STEP.search(message)):
            points.append((t, int(m.group(2)), f"step {m.group(1)}"))
        elif reason == "Promoted":
            points.append((t, 100, "promoted"))
        elif reason == "RolledBack":
            points.append((t, 0, "rolled back"))
        elif reason == "Deployed":
            points.append((t, 100, "deployed"))
    return points


def _timeline_plot(points: list[tuple[str, int, str]], now: str) -> str:
    fig, ax = h.new_figure(7.5, 3.0)
    if points:
        points = [*points, (now, points[-1][1], "now")]
    times = [_time(t) for t, _, _ in points]
    if points and all(times):
        xs = [t for t in times if t is not None]
        ys = [w for _, w, _ in points]
        ax.step(xs, ys, where="post", color="#1f77b4", marker="o")
        for x, y, (_, _, label) in zip(xs, ys, points):
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(3, 5), fontsize=7)
        fig.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no release yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(-5, 105)
    ax.set_ylabel("newest version's traffic %")
    ax.set_title("Rollout timeline")
    ax.grid(alpha=0.3)
    return h.figure(fig, "rollout timeline: candidate traffic per step", "Traffic share of the newest version after each decision (a first version gets 100% at once)")


def _arms_plot(arms: dict[str, Any], limits: dict[str, Any]) -> str:
    fig, (a1, a2) = h.plt.subplots(1, 2, figsize=(7.5, 2.8))
    roles = list(arms) or ["stable", "candidate"]
    rates = [(arms.get(r) or {}).get("errorRate") or 0.0 for r in roles]
    p95 = [(arms.get(r) or {}).get("latencyP95Ms") or 0.0 for r in roles]
    a1.bar(roles, rates, color=["#1f77b4", "#ff7f0e"][: len(roles)])
    a1.axhline(limits.get("maxErrorRate", 0.01), color="#b42318", linestyle="--", label="limit")
    a1.set_ylim(bottom=0, top=max([limits.get("maxErrorRate", 0.01), *rates]) * 1.3)
    a1.set_title("error rate")
    a1.legend(fontsize=7)
    a2.bar(roles, p95, color=["#1f77b4", "#ff7f0e"][: len(roles)])
    a2.axhline(limits.get("maxLatencyMs", 500), color="#b42318", linestyle="--", label="limit")
    a2.set_title("p95 latency (ms)")
    a2.legend(fontsize=7)
    fig.tight_layout()
    return h.figure(fig, "analysis: error rate and p95 latency per arm", "Current step's measurements against the limits")


def shadow_panel(delta: dict[str, Any] | None, is_shadow: bool) -> str:
    """The shadow's answers against stable's on the same requests: the numbers and a Q-Q plot."""
    if not is_shadow:
        return "<p>Not a shadow release.</p>"
    if not delta or not delta.get("qq"):
        return ("<p>No paired answers yet: the Q-Q plot appears once the monitor has joined stable and shadow "
                "answers by request id (<code>status.shadowDelta</code>).</p>")
    fig, ax = h.new_figure(4.5, 4.5)
    _, stable, shadow = zip(*delta["qq"])
    low, high = min(stable + shadow), max(stable + shadow)
    ax.plot([low, high], [low, high], color="#999", linestyle="--", label="identical answers")
    ax.plot(stable, shadow, marker="o", color="#ff7f0e", label="quantiles")
    ax.set_xlabel("stable answer quantile")
    ax.set_ylabel("shadow answer quantile")
    ax.set_title("Q-Q: shadow vs stable")
    ax.legend(fontsize=7)
    numbers = h.table(["measure", "value"], [[k, h.num(delta.get(k)) if isinstance(delta.get(k), float) else delta.get(k)]
                                              for k in ("pairs", "disagreement", "disagreementUpper", "ks", "js",
                                                        "meanAbsDiff", "withinBounds", "reason") if k in delta])
    return numbers + h.figure(fig, "shadow Q-Q plot", "Quantiles of the shadow's answers against stable's on the "
                                                      "same requests; points on the diagonal mean the same answers")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [row for k, v in value.items() for row in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return [row for i, v in enumerate(value[:20]) for row in _flatten(v, f"{prefix}[{i}]")]
        return [(prefix, ", ".join(str(v) for v in value))]
    return [(prefix, h.num(value, 4) if isinstance(value, float) else str(value))]


def drift_panel(drift: dict[str, Any] | None) -> str:
    """The project's live drift as the operator last recorded it (status.drift), whatever fields it has."""
    if not drift:
        return ("<p>No drift data: the project records live drift in <code>status.drift</code> when "
                "<code>spec.drift.enabled</code> is true and the monitor has seen enough requests.</p>")
    return h.table(["field", "value"], _flatten(drift))


def render(md: dict[str, Any], events: list[dict[str, Any]], runs: dict[str, dict[str, Any]], generated: str,
           drift: dict[str, Any] | None = None) -> str:
    spec, st = md.get("spec") or {}, md.get("status") or {}
    name, ns = md["metadata"]["name"], md["metadata"].get("namespace", "default")
    strategy = spec.get("strategy") or {}
    limits = strategy.get("analysis") or {}
    points = traffic_timeline(events, st, spec)

    served_rows = []
    for role in ("stable", "candidate", "rolledBack"):
        s = st.get(role)
        if not s:
            continue
        run = runs.get(s.get("trainingRun") or "")
        metric = ((run or {}).get("status") or {}).get("metric") or {}
        served_rows.append([role, s.get("predictor"), s.get("trainingRun") or "-", s.get("uri"),
                            f"{(st.get('weights') or {}).get(s.get('predictor'), 0)}%" if role != "rolledBack" else "-",
                            f"{metric.get('name')}={h.num(metric.get('value'))}" if metric else "-"])
    overview = (
        h.table(["field", "value"], [
            ["phase", st.get("phase") or "Pending"], ["strategy", strategy.get("type", "direct")],
            ["traffic", st.get("traffic") or "-"], ["step", "-" if st.get("step") is None else st["step"] + 1],
            ["paused", spec.get("paused", False)],
            ["last decision", f"{(st.get('lastDecision') or {}).get('action', '-')}: {(st.get('lastDecision') or {}).get('reason', '')}"],
            ["address", (st.get("seldon") or {}).get("address") or "-"]])
        + "<h3>Model versions</h3>"
        + h.table(["role", "predictor", "TrainingRun", "artifact", "traffic", "metric"], served_rows))

    timeline = _timeline_plot(points, generated) + h.table(
        ["time", "newest version %", "what"], [[t, w, what] for t, w, what in points], numeric=[1])
    decisions = h.table(["time", "type", "decision", "reason (analysis numbers)", "count"],
                        [[e.get("time"), e.get("type"), e.get("reason"), e.get("message"), e.get("count", 1)]
                         for e in events], numeric=[4]) if events else "<p>No events recorded yet.</p>"
    arms = st.get("arms") or {}
    arm_rows = [[role, a.get("requests", 0), a.get("errors", 0), h.num(a.get("errorRate")),
                 h.num(a.get("latencyP95Ms")), a.get("mirrored") if a.get("mirrored") is not None else "-"]
                for role, a in arms.items()]
    analysis = (f"<p>Limits: error rate ≤ {h.esc(limits.get('maxErrorRate', 0.01))}, p95 latency ≤ "
                f"{h.esc(limits.get('maxLatencyMs', 500))} ms, at least {h.esc(limits.get('minRequests', 20))} "
                f"requests per check, {h.esc(limits.get('failureLimit', 2))} failed checks roll back. Failed checks "
                f"so far: {h.esc(st.get('failedChecks', 0))}.</p>"
                + h.table(["arm", "requests", "errors", "error rate", "p95 ms", "mirrored"], arm_rows, numeric=[1, 2, 3, 4])
                + _arms_plot(arms, limits))
    shadow = shadow_panel(st.get("shadowDelta"), strategy.get("type") == "shadow")
    sections = [("overview", "Overview", overview), ("timeline", "Rollout timeline", timeline),
                ("decisions", "Decisions", decisions), ("analysis", "Analysis", analysis),
                ("shadow", "Shadow comparison", shadow), ("drift", "Drift and data quality", drift_panel(drift))]
    return h.page(f"ModelDeployment {name}", f"namespace {ns} · generated {generated} by kubectl mlops", sections)
