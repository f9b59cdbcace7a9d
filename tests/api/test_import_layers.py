"""The code has layers, and imports go one way: no module imports itself through others, no two
packages import each other, and the components (which run in pipeline pods) use only the operator's
pure core. Lazy imports inside functions count too: a cycle deferred is still a cycle."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import mlops_components
import mlops_operator

ROOTS = {"mlops_operator": Path(mlops_operator.__file__).parent,
         "mlops_components": Path(mlops_components.__file__).parent}
#: What pipeline components may use of the operator: its API types, pure decisions and settings.
CORE_FOR_COMPONENTS = ("mlops_operator.api", "mlops_operator.decisions", "mlops_operator.settings")


def module_name(root: str, path: Path) -> str:
    parts = list(path.relative_to(ROOTS[root].parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> dict[str, Path]:
    return {module_name(root, p): p for root, base in ROOTS.items() for p in base.rglob("*.py")}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> our modules it imports (`from pkg import mod` is an edge to pkg.mod, not to pkg)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module or ""
                subs = [f"{base}.{alias.name}" for alias in node.names]
                targets = [t for t in subs if t in modules]
                if len(targets) < len(subs):
                    targets.append(base)
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_of(module: str) -> str:
    """mlops_operator.<subpackage or module>, or mlops_components as one unit."""
    parts = module.split(".")
    return "mlops_components" if parts[0] == "mlops_components" else ".".join(parts[:2])


def test_no_module_imports_itself_through_others():
    assert cycles(import_graph(our_modules())) == []


def test_no_two_packages_import_each_other():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, imported in import_graph(our_modules()).items():
        packages[package_of(module)].update(package_of(i) for i in imported if package_of(i) != package_of(module))
    packages.pop("mlops_operator", None)  # the top package's __init__ only names its parts
    for targets in packages.values():
        targets.discard("mlops_operator")
    assert cycles(packages) == []


def test_components_use_only_the_operators_pure_core():
    graph = import_graph(our_modules())
    offenders = sorted(f"{module} imports {target}" for module, targets in graph.items()
                       if module.startswith("mlops_components") for target in targets
                       if target.startswith("mlops_operator") and not target.startswith(CORE_FOR_COMPONENTS))
    assert offenders == []


def test_the_checks_see_a_cycle_and_a_lazy_import(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from mlops_operator.training import backend\n")
    graph = import_graph({"x.lazy": lazy, "mlops_operator.training.backend": lazy,
                          "mlops_operator.training": lazy})
    assert "mlops_operator.training.backend" in graph["x.lazy"]
