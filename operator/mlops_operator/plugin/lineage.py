"""`kubectl mlops lineage`: where a model version comes from and where it serves (pure).

For a TrainingRun: its project, trigger, dataset (URI, version, digest), pipeline (backend, run,
digest), code version and seed, the model artifact, metric, verdict, approval, the champion it was
compared with, followed back through the parent champions, and the deployments serving it.
For a ModelDeployment: the same for each model version it serves (stable and candidate).
"""
from __future__ import annotations

from typing import Any

from .tree import fmt, run_metric, served_share


def _st(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("status") or {}


def run_lineage(name: str, runs: dict[str, dict], deployments: list[dict]) -> dict[str, Any]:
    """The lineage record of TrainingRun `name` (which must be in `runs`)."""
    run = runs[name]
    st, spec = _st(run), run.get("spec") or {}
    lineage, model, pipeline = st.get("lineage") or {}, st.get("model") or {}, st.get("pipeline") or {}
    ancestry, seen, parent = [], {name}, lineage.get("parentChampion")
    while parent and parent not in seen:
        seen.add(parent)
        parent_run = runs.get(parent)
        ancestry.append({"trainingRun": parent, "phase": _st(parent_run).get("phase") if parent_run else "not found",
                         "metric": run_metric(parent_run) if parent_run else ""})
        parent = (_st(parent_run).get("lineage") or {}).get("parentChampion") if parent_run else None
    served = []
    for md in deployments:
        for role in ("stable", "candidate"):
            if (_st(md).get(role) or {}).get("trainingRun") == name:
                served.append({"modelDeployment": md["metadata"]["name"], "role": role,
                               "traffic": served_share(md, role), "phase": _st(md).get("phase")})
    return {
        "trainingRun": name,
        "phase": st.get("phase"),
        "project": (spec.get("projectRef") or {}).get("name"),
        "trigger": spec.get("trigger", "manual"),
        "dataset": {"uri": lineage.get("datasetUri"), "version": lineage.get("datasetVersion") or spec.get("datasetVersion"),
                    "digest": lineage.get("datasetDigest")},
        "pipeline": {"backend": pipeline.get("backend"), "runId": pipeline.get("runId"), "url": pipeline.get("url"),
                     "digest": lineage.get("pipelineDigest") or pipeline.get("digest")},
        "code": {"version": lineage.get("codeVersion"), "seed": lineage.get("seed")},
        "model": model or None,
        "metric": st.get("metric"),
        "comparison": st.get("comparison"),
        "approval": st.get("approval"),
        "report": st.get("report"),
        "parentChampion": lineage.get("parentChampion"),
        "ancestry": ancestry,
        "servedBy": served,
    }


def deployment_lineage(md: dict[str, Any], runs: dict[str, dict], deployments: list[dict]) -> dict[str, Any]:
    st = _st(md)
    versions = []
    for role in ("stable", "candidate"):
        served = st.get(role)
        if not served:
            continue
        entry: dict[str, Any] = {"role": role, "uri": served.get("uri"), "predictor": served.get("predictor"),
                                 "traffic": served_share(md, role), "trainingRun": served.get("trainingRun")}
        if served.get("trainingRun") in runs:
            entry["lineage"] = run_lineage(served["trainingRun"], runs, deployments)
        versions.append(entry)
    return {"modelDeployment": md["metadata"]["name"], "phase": st.get("phase"),
            "project": ((md.get("spec") or {}).get("projectRef") or {}).get("name"),
            "model": (md.get("spec") or {}).get("model"), "versions": versions}


def _kv(lines: list[str], indent: str, key: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        lines.append(f"{indent}{key + ':':<12} {value}")


def render_run(record: dict[str, Any], indent: str = "") -> list[str]:
    lines = [f"{indent}TrainingRun {record['trainingRun']} ({record.get('phase') or 'Pending'})"]
    i = indent + "  "
    _kv(lines, i, "project", record.get("project"))
    _kv(lines, i, "trigger", record.get("trigger"))
    d = record["dataset"]
    _kv(lines, i, "dataset", " ".join(x for x in (d.get("uri"), f"version {d['version']}" if d.get("version") else "",
                                                   f"digest {d['digest']}" if d.get("digest") else "") if x))
    p = record["pipeline"]
    _kv(lines, i, "pipeline", " ".join(x for x in (p.get("backend") or "", f"run {p['runId']}" if p.get("runId") else "",
                                                    f"digest {p['digest']}" if p.get("digest") else "") if x))
    _kv(lines, i, "code", " ".join(x for x in (f"version {record['code']['version']}" if record["code"].get("version") else "",
                                                f"seed {record['code']['seed']}" if record["code"].get("seed") is not None else "") if x))
    m = record.get("model") or {}
    if m:
        hp = ", ".join(f"{k}={v}" for k, v in sorted((m.get("hyperparameters") or {}).items()))
        _kv(lines, i, "model", f"{m.get('uri')}" + (f" (digest {m['digest']})" if m.get("digest") else ""))
        _kv(lines, i, "estimator", f"{m.get('candidate') or '-'}: {m.get('estimator') or '-'}" + (f" ({hp})" if hp else ""))
    metric = record.get("metric") or {}
    if metric:
        text = f"{metric.get('name')}={fmt(metric.get('value'))}"
        if metric.get("lower") is not None:
            text += f" [{fmt(metric.get('lower'))}, {fmt(metric.get('upper'))}]"
        _kv(lines, i, "metric", text)
    c = record.get("comparison") or {}
    if c:
        _kv(lines, i, "verdict", f"{c.get('decision')}: {c.get('reason')}")
    a = record.get("approval") or {}
    if a:
        _kv(lines, i, "approved", f"by {a.get('approvedBy')} at {a.get('approvedAt')}")
    _kv(lines, i, "report", (record.get("report") or {}).get("uri"))
    chain = " <- ".join([record["trainingRun"], *(f"{x['trainingRun']} ({x['phase']})" for x in record["ancestry"])])
    _kv(lines, i, "ancestry", chain if record["ancestry"] else f"{record['trainingRun']} (first model version)")
    for s in record["servedBy"]:
        share = f" {s['traffic']}%" if s.get("traffic") is not None else ""
        _kv(lines, i, "served by", f"modeldeployment/{s['modelDeployment']} ({s['role']}{share}, {s.get('phase')})")
    return lines


def render_deployment(record: dict[str, Any]) -> str:
    lines = [f"ModelDeployment {record['modelDeployment']} ({record.get('phase') or 'Pending'})"]
    _kv(lines, "  ", "project", record.get("project"))
    _kv(lines, "  ", "spec.model", ", ".join(f"{k}={v}" for k, v in (record.get("model") or {}).items()))
    if not record["versions"]:
        lines.append("  serves no model version yet")
    for v in record["versions"]:
        share = f" {v['traffic']}%" if v.get("traffic") is not None else ""
        lines.append(f"  {v['role']}{share}: predictor {v.get('predictor')} serves {v.get('uri')}")
        if v.get("lineage"):
            lines.extend(render_run(v["lineage"], "    "))
        elif v.get("trainingRun"):
            lines.append(f"    TrainingRun {v['trainingRun']} not found")
    return "\n".join(lines)
