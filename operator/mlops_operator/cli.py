"""Command line: `mlops-operator dev | traffic | crds`."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def _dev(args: argparse.Namespace) -> int:
    from .devcluster import EXAMPLES, run_dev

    examples = None if args.no_examples else Path(args.examples or EXAMPLES)
    return asyncio.run(run_dev(Path(args.dir).resolve(), args.port, args.interval, examples, args.exit_after))


def _crds(args: argparse.Namespace) -> int:
    from .crdgen import main as crdgen

    return crdgen([args.dir])


def deployment_target(name: str, namespace: str) -> list[str]:
    """Traffic arguments for a ModelDeployment: its address, and its project's dataset and target."""
    from kubernetes import client, config

    config.load_kube_config()
    api = client.CustomObjectsApi()
    md = api.get_namespaced_custom_object("mlops.dev", "v1alpha1", namespace, "modeldeployments", name)
    url = ((md.get("status") or {}).get("seldon") or {}).get("address")
    if not url:
        raise SystemExit(f"ModelDeployment {namespace}/{name} has no serving address yet (status.seldon.address)")
    args = [url]
    project = ((md.get("spec") or {}).get("projectRef") or {}).get("name")
    if project:
        mlp = api.get_namespaced_custom_object("mlops.dev", "v1alpha1", namespace, "mlprojects", project)
        dataset = mlp["spec"]["dataset"]
        args += ["--dataset", dataset["uri"], "--target", dataset["target"]]
    return args


def _traffic(argv: list[str]) -> int:
    from .plugin.traffic import main as traffic  # the fixed-count command, plus --duration / --rate

    if "--deployment" in argv:
        i = argv.index("--deployment")
        name = argv[i + 1]
        rest = argv[:i] + argv[i + 2:]
        namespace = "default"
        if "--namespace" in rest:
            j = rest.index("--namespace")
            namespace, rest = rest[j + 1], rest[:j] + rest[j + 2:]
        target = deployment_target(name, namespace)
        given = {a for a in rest if a.startswith("--")}
        extra = [a for k, v in zip(target[1::2], target[2::2]) if k not in given for a in (k, v)]
        return traffic([target[0], *extra, *rest])
    return traffic(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["traffic"]:
        return _traffic(argv[1:])
    parser = argparse.ArgumentParser(prog="mlops-operator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the whole loop on this machine against an embedded Kubernetes API")
    dev.add_argument("--dir", default=".dev", help="working directory: kubeconfig, logs, models (default .dev)")
    dev.add_argument("--port", type=int, default=0, help="port of the embedded API (default: a free one)")
    dev.add_argument("--interval", type=float, default=2.0, help="operator reconcile interval in seconds")
    dev.add_argument("--examples", help="directory of manifests to apply (default manifests/examples)")
    dev.add_argument("--no-examples", action="store_true", help="apply no example manifests")
    dev.add_argument("--exit-after", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    dev.set_defaults(func=_dev)
    sub.add_parser("traffic", help="send Open Inference Protocol V2 traffic: `traffic URL ...` or "
                                   "`traffic --deployment NAME [--namespace NS] ...`; -n N requests, or "
                                   "--duration 5m and/or --rate R until stopped (see traffic --help)")
    crds = sub.add_parser("crds", help="write the CustomResourceDefinitions generated from the API models")
    crds.add_argument("dir", nargs="?", default="crds")
    crds.set_defaults(func=_crds)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
