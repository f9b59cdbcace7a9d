"""`kubectl mlops status`: project -> model versions (TrainingRuns) -> deployments, as a tree (pure).

A deployment appears under each model version it serves (stable and candidate, with that version's
traffic share); a deployment of a project that serves no TrainingRun (yet, or a bare URI) appears
under the project itself, and objects whose project does not exist under "(no project)".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NO_PROJECT = "(no project)"


@dataclass
class Node:
    kind: str
    name: str
    phase: str = ""
    metric: str = ""
    traffic: str = ""
    info: str = ""
    children: list["Node"] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "phase": self.phase, "metric": self.metric,
                "traffic": self.traffic, "info": self.info, "children": [c.as_dict() for c in self.children]}


def fmt(value: Any, digits: int = 3) -> str:
    """A metric as people read it: 0.986, not 0.9863731656184487."""
    if value is None:
        return "-"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _name(obj: dict[str, Any]) -> str:
    return obj["metadata"]["name"]


def run_metric(run: dict[str, Any]) -> str:
    m = _status(run).get("metric") or {}
    if not m:
        return ""
    text = f"{m.get('name')}={fmt(m.get('value'))}"
    if m.get("lower") is not None and m.get("upper") is not None:
        text += f" [{fmt(m['lower'])}, {fmt(m['upper'])}]"
    return text


def served_share(md: dict[str, Any], role: str) -> int | None:
    """Traffic percentage of the stable or candidate predictor."""
    st = _status(md)
    served = st.get(role) or {}
    predictor = served.get("predictor")
    weights = st.get("weights") or {}
    if predictor and predictor in weights:
        return int(weights[predictor])
    if role == "stable" and not st.get("candidate") and served:
        return 100
    return None


def deployment_info(md: dict[str, Any]) -> str:
    st, spec = _status(md), md.get("spec") or {}
    strategy = st.get("strategy") or (spec.get("strategy") or {}).get("type") or "direct"
    parts = [strategy]
    if strategy == "canary" and st.get("step") is not None and st.get("candidate"):
        steps = ((spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
        parts.append(f"step {st['step'] + 1}/{len(steps) or '?'}")
    if spec.get("paused"):
        parts.append("paused")
    decision = st.get("lastDecision") or {}
    if decision.get("action"):
        parts.append(f"last: {decision['action']}")
    return ", ".join(parts)


def _deployment_node(md: dict[str, Any], role: str | None) -> Node:
    share = served_share(md, role) if role else None
    traffic = f"{role} {share}%" if role and share is not None else (role or (_status(md).get("traffic") or ""))
    return Node("ModelDeployment", _name(md), _status(md).get("phase") or "", "", traffic, deployment_info(md))


def _project_of(obj: dict[str, Any]) -> str | None:
    return ((obj.get("spec") or {}).get("projectRef") or {}).get("name")


def build_tree(projects: list[dict], runs: list[dict], deployments: list[dict],
               only: str | None = None) -> list[Node]:
    """One root per project (and one for objects without a project), sorted by name."""
    names = sorted({_name(p) for p in projects})
    by_project = {_name(p): p for p in projects}
    roots: dict[str, Node] = {}
    for name in names:
        p = by_project[name]
        st, spec = _status(p), p.get("spec") or {}
        champion = st.get("champion") or {}
        metric = f"{champion.get('metric')}={fmt(champion.get('value'))}" if champion.get("trainingRun") else ""
        minimum = (spec.get("metric") or {}).get("minimum")
        target = f"{(spec.get('metric') or {}).get('name', 'roc_auc')}" + (f" min {minimum}" if minimum is not None else "")
        info = f"dataset {(spec.get('dataset') or {}).get('version', '-')}, {target}"
        if champion.get("trainingRun"):
            info += f", champion {champion['trainingRun']}"
        roots[name] = Node("MLProject", name, st.get("phase") or "", metric, "", info)

    def root_for(project: str | None) -> Node:
        key = project if project in roots else NO_PROJECT
        if key not in roots:
            roots[key] = Node("MLProject", NO_PROJECT, "", "", "", "objects whose projectRef is missing" if project else "")
        return roots[key]

    champions = {_name(p): (_status(p).get("champion") or {}).get("trainingRun") for p in projects}
    serving = {_name(p): (_status(p).get("serving") or {}).get("trainingRun") for p in projects}
    run_nodes: dict[str, Node] = {}
    ordered = sorted(runs, key=lambda r: (r["metadata"].get("creationTimestamp") or "", _name(r)), reverse=True)
    for r in ordered:
        project = _project_of(r)
        st = _status(r)
        notes = []
        if project and champions.get(project) == _name(r):
            notes.append("champion")
        if project and serving.get(project) == _name(r):
            notes.append("serving")
        comparison = st.get("comparison") or {}
        if st.get("phase") == "AwaitingApproval":
            notes.append("needs approval")
        elif st.get("phase") == "Rejected" and comparison.get("championValue") is not None:
            notes.append(f"champion {comparison.get('champion')}={fmt(comparison['championValue'])}")
        version = (st.get("lineage") or {}).get("datasetVersion") or (r.get("spec") or {}).get("datasetVersion")
        if version:
            notes.append(f"dataset {version}")
        node = Node("TrainingRun", _name(r), st.get("phase") or "Pending", run_metric(r), "", ", ".join(notes))
        run_nodes[_name(r)] = node
        root_for(project).children.append(node)

    for md in sorted(deployments, key=_name):
        st = _status(md)
        placed = False
        for role in ("stable", "candidate"):
            run = (st.get(role) or {}).get("trainingRun")
            if run and run in run_nodes:
                run_nodes[run].children.append(_deployment_node(md, role))
                placed = True
        if not placed:
            root_for(_project_of(md)).children.append(_deployment_node(md, None))

    result = [roots[n] for n in sorted(roots, key=lambda n: (n == NO_PROJECT, n))]
    if only is not None:
        result = [r for r in result if r.name == only]
    return result


HEADER = ("NAME", "KIND", "PHASE", "METRIC", "TRAFFIC", "INFO")


def rows(roots: list[Node]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []

    def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        out.append((prefix + branch + node.name, node.kind, node.phase or "-", node.metric or "-",
                    node.traffic or "-", node.info))
        child_prefix = prefix + ("" if top else ("    " if last else "│   "))
        for i, child in enumerate(node.children):
            walk(child, child_prefix, i == len(node.children) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return out


def render(roots: list[Node], namespace: str) -> str:
    if not roots:
        return f"No MLProjects, TrainingRuns or ModelDeployments in namespace {namespace}."
    table = [HEADER, *rows(roots)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])) + "  " + r[-1] for r in table]
    return "\n".join(line.rstrip() for line in lines)
