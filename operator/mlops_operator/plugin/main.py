"""`kubectl mlops`: status, lineage, promote, abort, pause, resume, approve, retrain, report, traffic.

Global flags go anywhere on the line, as with kubectl: -n/--namespace, --context, --kubeconfig
(default: $KUBECONFIG, then ~/.kube/config). Problems are one line on stderr, `Error: ...`, exit 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import webbrowser
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import actions, lineage, tree
from .client import Cluster, PluginError
from .kinds import MLPROJECT, MODELDEPLOYMENT, TRAININGRUN, Kind, parse_kind

PROG = "kubectl mlops"


def _global_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-n", "--namespace", help="namespace (default: the context's namespace, else default)")
    p.add_argument("--context", help="kubeconfig context (default: the current context)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    return p


def _target(args: argparse.Namespace, default: Kind, allowed: tuple[Kind, ...]) -> tuple[Kind, str]:
    """`VERB [KIND] NAME`: the kind may be left out when the verb acts on one kind only."""
    words = args.target
    if len(words) == 1:
        return default, words[0]
    if len(words) == 2:
        try:
            return parse_kind(words[0], allowed), words[1]
        except ValueError as e:
            raise PluginError(str(e)) from None
    raise PluginError(f"expected [KIND] NAME, got {' '.join(words)!r}")


def _named(args: argparse.Namespace, allowed: tuple[Kind, ...]) -> tuple[Kind, str]:
    try:
        return parse_kind(args.kind, allowed), args.name
    except ValueError as e:
        raise PluginError(str(e)) from None


# -- commands ---------------------------------------------------------------------------------------
def cmd_status(cluster: Cluster, args: argparse.Namespace) -> int:
    if args.project:
        cluster.get(MLPROJECT, args.project)  # a missing project is an error, not an empty tree

    def snapshot() -> list[tree.Node]:
        return tree.build_tree(cluster.list(MLPROJECT), cluster.list(TRAININGRUN), cluster.list(MODELDEPLOYMENT),
                               only=args.project)

    def show(roots: list[tree.Node]) -> None:
        if args.output == "json":
            print(json.dumps({"namespace": cluster.namespace, "projects": [r.as_dict() for r in roots]}, indent=2))
        else:
            print(tree.render(roots, cluster.namespace))
        sys.stdout.flush()

    if not args.watch:
        show(snapshot())
        return 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    tty = sys.stdout.isatty()
    previous = None
    try:
        while True:
            roots = snapshot()
            current = [r.as_dict() for r in roots]
            if current != previous:
                if tty:
                    print("\033[H\033[2J", end="")
                elif previous is not None:
                    print()
                print(f"Namespace: {cluster.namespace}   {datetime.now(timezone.utc):%H:%M:%S} UTC"
                      + ("   (Ctrl-C to stop)" if tty else ""))
                show(roots)
                previous = current
            if deadline is not None and time.monotonic() >= deadline:
                return 0
            time.sleep(args.interval if deadline is None else max(0.0, min(args.interval, deadline - time.monotonic())))
    except KeyboardInterrupt:
        return 0


def cmd_lineage(cluster: Cluster, args: argparse.Namespace) -> int:
    kind, name = _named(args, (TRAININGRUN, MODELDEPLOYMENT))
    obj = cluster.get(kind, name)
    runs = {r["metadata"]["name"]: r for r in cluster.list(TRAININGRUN)}
    if kind is TRAININGRUN:
        runs[name] = obj
    deployments = cluster.list(MODELDEPLOYMENT)
    if kind is TRAININGRUN:
        record = lineage.run_lineage(name, runs, deployments)
        text = "\n".join(lineage.render_run(record))
    else:
        record = lineage.deployment_lineage(obj, runs, deployments)
        text = lineage.render_deployment(record)
    print(json.dumps(record, indent=2) if args.output == "json" else text)
    return 0


def _annotate(verb: str, patch: Callable[[str], dict], past: str) -> Callable[[Cluster, argparse.Namespace], int]:
    def run(cluster: Cluster, args: argparse.Namespace) -> int:
        kind, name = _target(args, MODELDEPLOYMENT, (MODELDEPLOYMENT,))
        obj = cluster.get(kind, name)
        value = actions.token()
        cluster.patch(kind, name, patch(value))
        st = obj.get("status") or {}
        note = "" if st.get("candidate") else " (no release in progress: nothing to do)"
        print(f"modeldeployment '{name}' {past}{note}")
        return 0
    return run


def _pause(paused: bool) -> Callable[[Cluster, argparse.Namespace], int]:
    def run(cluster: Cluster, args: argparse.Namespace) -> int:
        kind, name = _target(args, MODELDEPLOYMENT, (MODELDEPLOYMENT,))
        cluster.get(kind, name)
        cluster.patch(kind, name, actions.paused_patch(paused))
        print(f"modeldeployment '{name}' {'paused' if paused else 'resumed'}")
        return 0
    return run


def cmd_approve(cluster: Cluster, args: argparse.Namespace) -> int:
    kind, name = _target(args, TRAININGRUN, (TRAININGRUN,))
    run = cluster.get(kind, name)
    project_name = ((run.get("spec") or {}).get("projectRef") or {}).get("name")
    project = None
    if project_name:
        try:
            project = cluster.get(MLPROJECT, project_name)
        except PluginError:
            project = None
    problem = actions.check_approvable(run, args.by, project)
    if problem:
        raise PluginError(problem)
    cluster.patch(kind, name, actions.approve_patch(args.by, args.comment))
    phase = (run.get("status") or {}).get("phase") or "Pending"
    when = "" if phase == "AwaitingApproval" else f" (it is {phase}: the approval counts once it is blessed)"
    print(f"trainingrun '{name}' approved by {args.by}{when}")
    return 0


def cmd_retrain(cluster: Cluster, args: argparse.Namespace) -> int:
    kind, name = _target(args, MLPROJECT, (MLPROJECT,))
    project = cluster.get(kind, name)
    allow = ((project.get("spec") or {}).get("training") or {}).get("allowConcurrentRuns", False)
    busy = actions.unfinished_runs(name, cluster.list(TRAININGRUN))
    if busy and not (allow or args.force):
        raise PluginError(f"mlproject '{name}' has an unfinished TrainingRun ({', '.join(busy)}); "
                          f"wait for it or pass --force")
    body = actions.retrain_run(project, dataset_version=args.dataset_version)
    cluster.create(TRAININGRUN, body)
    print(f"trainingrun '{body['metadata']['name']}' created (project '{name}', dataset version "
          f"{body['spec']['datasetVersion']}, trigger manual)")
    return 0


def _write(html: bytes, path: Path, open_it: bool, what: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(html)
    print(f"wrote {path} ({what})")
    if open_it:
        webbrowser.open(path.resolve().as_uri())
    return 0


def cmd_report(cluster: Cluster, args: argparse.Namespace) -> int:
    kind, name = _named(args, (TRAININGRUN, MODELDEPLOYMENT))
    obj = cluster.get(kind, name)
    out = Path(args.output or f"{name}-report.html")
    if kind is TRAININGRUN:
        st = obj.get("status") or {}
        uri = (st.get("report") or {}).get("uri")
        if not uri:
            raise PluginError(f"trainingrun '{name}' has no report yet (phase {st.get('phase') or 'Pending'}): "
                              f"the pipeline writes it when training finishes")
        from mlops_components import locations

        try:
            data = locations.read_bytes(uri)
        except Exception as e:
            raise PluginError(f"cannot read the report of trainingrun '{name}' at {uri}: {e}") from None
        return _write(data, out, args.open, f"trainingrun {name}, from {uri}")
    from . import mdreport

    events = cluster.events(name, MODELDEPLOYMENT)
    runs = {r["metadata"]["name"]: r for r in cluster.list(TRAININGRUN)}
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    project = ((obj.get("spec") or {}).get("projectRef") or {}).get("name")
    drift = None
    if project:
        try:
            drift = (cluster.get(MLPROJECT, project).get("status") or {}).get("drift")
        except PluginError:
            drift = None  # a missing project leaves the panel empty, not the report unwritten
    html = mdreport.render(obj, events, runs, generated, drift)
    return _write(html.encode(), out, args.open, f"modeldeployment {name}")


def cmd_traffic(cluster: Cluster, args: argparse.Namespace) -> int:
    kind, name = _target(args, MODELDEPLOYMENT, (MODELDEPLOYMENT,))
    md = cluster.get(kind, name)
    url = ((md.get("status") or {}).get("seldon") or {}).get("address")
    if not url:
        raise PluginError(f"modeldeployment '{name}' has no serving address yet (status.seldon.address; "
                          f"phase {(md.get('status') or {}).get('phase') or 'Pending'})")
    rest = list(args.traffic_args)
    project = ((md.get("spec") or {}).get("projectRef") or {}).get("name")
    if project and "--dataset" not in rest:
        dataset = (cluster.get(MLPROJECT, project).get("spec") or {}).get("dataset") or {}
        rest += ["--dataset", dataset["uri"]]
        if "--target" not in rest and "--features" not in rest:
            rest += ["--target", dataset["target"]]
    from .traffic import main as traffic

    return traffic([url, *rest])


# -- parser -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0], parents=[_global_parser()])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("status", help="tree of projects -> model versions -> deployments")
    s.add_argument("project", nargs="?", help="only this MLProject")
    s.add_argument("-w", "--watch", action="store_true", help="redraw on every change until Ctrl-C")
    s.add_argument("--interval", type=float, default=2.0, help="seconds between reads with --watch (default 2)")
    s.add_argument("--timeout", type=float, help="stop watching after this many seconds")
    s.add_argument("-o", "--output", choices=["text", "json"], default="text")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("lineage", help="where a model version comes from and where it serves: lineage tr|md NAME")
    s.add_argument("kind", help="tr (trainingrun) or md (modeldeployment)")
    s.add_argument("name")
    s.add_argument("-o", "--output", choices=["text", "json"], default="text")
    s.set_defaults(func=cmd_lineage)

    for verb, annotation_patch, past, help_ in (
        ("promote", actions.promote_patch, "promoted", "promote the candidate now (annotation mlops.dev/promote)"),
        ("abort", actions.abort_patch, "aborted", "roll back to stable now (annotation mlops.dev/abort)"),
    ):
        s = sub.add_parser(verb, help=help_ + ": " + verb + " [md] NAME")
        s.add_argument("target", nargs="+", metavar="[md] NAME")
        s.set_defaults(func=_annotate(verb, annotation_patch, past))
    for verb, paused in (("pause", True), ("resume", False)):
        s = sub.add_parser(verb, help=f"set spec.paused={str(paused).lower()}: {verb} [md] NAME")
        s.add_argument("target", nargs="+", metavar="[md] NAME")
        s.set_defaults(func=_pause(paused))

    s = sub.add_parser("approve", help="approve a blessed model version: approve [tr] NAME --by WHO")
    s.add_argument("target", nargs="+", metavar="[tr] NAME")
    s.add_argument("--by", required=True, help="who approves (spec.approval.approvedBy)")
    s.add_argument("--comment", help="why, for the record")
    s.set_defaults(func=cmd_approve)

    s = sub.add_parser("retrain", help="start a TrainingRun of a project now: retrain [mlp] NAME")
    s.add_argument("target", nargs="+", metavar="[mlp] NAME")
    s.add_argument("--dataset-version", help="train on this dataset version (default: the project's)")
    s.add_argument("--force", action="store_true", help="start even when a run is unfinished")
    s.set_defaults(func=cmd_retrain)

    s = sub.add_parser("report", help="write (and --open) the HTML report: report tr|md NAME")
    s.add_argument("kind", help="tr (trainingrun) or md (modeldeployment)")
    s.add_argument("name")
    s.add_argument("-o", "--output", help="file to write (default NAME-report.html)")
    s.add_argument("--open", action="store_true", help="open it in the browser")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("traffic", help="send V2 traffic from the project's dataset: traffic [md] NAME "
                                       "[--requests N | --duration 5m] [--rate R] [-c N] ... "
                                       "(see mlops-operator traffic --help)")
    s.add_argument("target", nargs="+", metavar="[md] NAME")
    s.set_defaults(func=cmd_traffic)
    return parser


def split_traffic(rest: list[str]) -> tuple[list[str], list[str]]:
    """`traffic [md] NAME ARGS...`: the plugin's words, and the traffic command's arguments."""
    if not rest or rest[0] != "traffic":
        return rest, []
    words = rest[1:3]
    if words and words[0].startswith("-"):
        return rest, []  # `traffic --help`: the plugin's own help
    kind_given = len(words) == 2 and words[0].lower() in ("md", "modeldeployment", "modeldeployments",
                                                          "modeldeployments.mlops.dev")
    cut = 1 + (2 if kind_given else min(1, len(words)))
    return rest[:cut], rest[cut:]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    glob, rest = _global_parser().parse_known_args(argv)  # global flags anywhere on the line, as with kubectl
    ours, traffic_args = split_traffic(rest)
    args = build_parser().parse_args(ours)
    args.traffic_args = traffic_args
    try:
        cluster = Cluster(glob.kubeconfig, glob.context, glob.namespace)
        return args.func(cluster, args)
    except PluginError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
