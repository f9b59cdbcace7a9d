"""Generate the CustomResourceDefinitions from the pydantic models (the single source of truth).

`python -m mlops_operator.crdgen DIR` writes DIR/<plural>.yaml; a test proves the committed files
are what this produces. The schema is made structural: $refs inlined, Optional[X] becomes X,
free-form values are marked x-kubernetes-preserve-unknown-fields, defaults are left to the types.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from .api import GROUP, VERSION, BatchPrediction, MLProject, ModelDeployment, TrainingRun


@dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    columns: tuple[dict[str, Any], ...]


KINDS: tuple[Kind, ...] = (
    Kind(MLProject, "MLProject", "mlprojects", "mlproject", ("mlp",), (
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Dataset", "type": "string", "jsonPath": ".spec.dataset.version"},
        {"name": "Metric", "type": "string", "jsonPath": ".spec.metric.name"},
        {"name": "Champion", "type": "string", "jsonPath": ".status.champion.trainingRun"},
        {"name": "Score", "type": "string", "jsonPath": ".status.champion.display"},
        {"name": "Serving", "type": "string", "jsonPath": ".status.serving.trainingRun"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )),
    Kind(TrainingRun, "TrainingRun", "trainingruns", "trainingrun", ("tr",), (
        {"name": "Project", "type": "string", "jsonPath": ".spec.projectRef.name"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Metric", "type": "string", "jsonPath": ".status.metric.name"},
        {"name": "Value", "type": "string", "jsonPath": ".status.metric.display"},
        {"name": "Candidate", "type": "string", "jsonPath": ".status.model.candidate"},
        {"name": "Dataset", "type": "string", "jsonPath": ".status.lineage.datasetVersion"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )),
    Kind(ModelDeployment, "ModelDeployment", "modeldeployments", "modeldeployment", ("md",), (
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Strategy", "type": "string", "jsonPath": ".spec.strategy.type"},
        {"name": "Stable", "type": "string", "jsonPath": ".status.stable.trainingRun"},
        {"name": "Candidate", "type": "string", "jsonPath": ".status.candidate.trainingRun"},
        {"name": "Traffic", "type": "string", "jsonPath": ".status.traffic"},
        {"name": "Quality", "type": "string", "jsonPath": ".status.quality"},
        {"name": "Decision", "type": "string", "jsonPath": ".status.lastDecision.action", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )),
    Kind(BatchPrediction, "BatchPrediction", "batchpredictions", "batchprediction", ("bp",), (
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Model", "type": "string", "jsonPath": ".status.lineage.trainingRun"},
        {"name": "Rows", "type": "integer", "jsonPath": ".status.rowsScored"},
        {"name": "Rejected", "type": "integer", "jsonPath": ".status.rowsRejected", "priority": 1},
        {"name": "Output", "type": "string", "jsonPath": ".status.output.uri"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )),
)

# Keywords pydantic emits that a CRD schema does not allow or does not need.
_DROP = {"title", "default", "$defs", "additionalProperties_", "examples", "const"}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].split("/")[-1]]
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return _inline({**target, **extra}, defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one JSON-schema node into a structural OpenAPI v3 node."""
    node = {k: v for k, v in node.items() if k not in _DROP}
    if "anyOf" in node:  # Optional[X] -> X
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) == 1:
            node = {**options[0], **node}
        elif all(o.get("type") in ("integer", "number") for o in options):
            node = {**node, "type": "number"}
        else:
            node = {**node, "x-kubernetes-preserve-unknown-fields": True}
        node = {k: v for k, v in node.items() if k not in _DROP}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node[bound], bool):
            node[limit], node[bound] = node[bound], True  # OpenAPI v3.0 form
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    if not node.get("type") and not node.get("x-kubernetes-preserve-unknown-fields"):
        # Any: an arbitrary JSON value (e.g. a hyperparameter value).
        return {"x-kubernetes-preserve-unknown-fields": True, **{k: v for k, v in node.items() if k == "description"}}
    if node.get("type") == "object":
        props = node.get("properties")
        if props:
            node["properties"] = {k: _structural(v) for k, v in props.items()}
        addl = node.get("additionalProperties")
        if isinstance(addl, dict):
            node["additionalProperties"] = _structural(addl)
        elif addl is True or (not props and addl is None):
            node.pop("additionalProperties", None)
            node["x-kubernetes-preserve-unknown-fields"] = True
        elif addl is False:
            node.pop("additionalProperties")
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        node["items"] = _structural(node["items"])
    return node


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural openAPIV3Schema for one kind."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _structural(_inline(raw, raw.get("$defs", {})))
    props = schema["properties"]
    # apiVersion/kind/metadata belong to the API server, not to us.
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    schema.pop("description", None)
    schema["description"] = (model.__doc__ or "").strip().splitlines()[0]
    return schema


def crd(kind: Kind) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": ["mlops"],
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": list(kind.columns),
                "schema": {"openAPIV3Schema": openapi_schema(kind.model)},
            }],
        },
    }


def render(kind: Kind) -> str:
    header = "# Generated by `make crds` from operator/mlops_operator/api; do not edit by hand.\n"
    return header + yaml.safe_dump(crd(kind), sort_keys=False, width=120)


def all_crds() -> dict[str, str]:
    """File name -> YAML text for every kind."""
    return {f"{k.plural}.yaml": render(k) for k in KINDS}


REFERENCE_BEGIN = "<!-- BEGIN CR REFERENCE (generated by `make crds`) -->"
REFERENCE_END = "<!-- END CR REFERENCE -->"


def _type_name(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "any")
    if kind == "array":
        return f"list of {_type_name(node.get('items') or {})}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_type_name(node['additionalProperties'])}"
    return kind


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    """One table row per spec field: path, type, default, description (from the models)."""
    rows = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        path = f"{prefix}.{alias}"
        annotation = info.annotation
        nested = [a for a in getattr(annotation, "__args__", (annotation,))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        child = f"{path}[]" if getattr(annotation, "__origin__", None) is list else path
        node = _structural(_inline(model.model_json_schema(by_alias=True)["properties"][alias],
                                   model.model_json_schema(by_alias=True).get("$defs", {})))
        if info.is_required():
            default = "required"
        elif info.default_factory is not None:
            made = info.default_factory()
            default = "" if isinstance(made, BaseModel) or not made else f"`{json.dumps(made)}`"
        else:
            default = "" if info.default is None else f"`{json.dumps(info.default)}`"
        doc = (info.description or (nested[0].__doc__ if nested else "") or "").strip().splitlines()
        rows.append(f"| `{path}` | {_type_name(node)} | {default} | {doc[0] if doc else ''} |")
        if nested:
            rows.extend(_rows(nested[0], child))
    return rows


def reference_markdown() -> str:
    parts = [REFERENCE_BEGIN]
    for kind in KINDS:
        spec_model = kind.model.model_fields["spec"].annotation
        parts += [
            f"#### {kind.kind} (`{kind.plural}.{GROUP}`, short name `{kind.short_names[0]}`)",
            "",
            "| field | type | default | meaning |",
            "| --- | --- | --- | --- |",
            *_rows(spec_model, "spec"),
            "",
        ]
    parts.append(REFERENCE_END)
    return "\n".join(parts)


def update_readme(readme: Path) -> bool:
    """Replace the reference section of the README; True when it changed."""
    text = readme.read_text()
    start, end = text.find(REFERENCE_BEGIN), text.find(REFERENCE_END)
    if start < 0 or end < 0:
        raise ValueError(f"{readme}: reference markers not found")
    new = text[:start] + reference_markdown() + text[end + len(REFERENCE_END):]
    readme.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["crds"])[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, text in all_crds().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")
    readme = out.resolve().parent / "README.md"
    if readme.exists() and REFERENCE_BEGIN in readme.read_text():
        update_readme(readme)
        print(f"updated the CR reference in {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
