"""Static checks of the Dockerfiles (building them needs Docker, which CI does not have: `make images`)."""
from __future__ import annotations

import re

import pytest

from .paths import IMAGES_DIR, REPO_ROOT
from .render import one, render_chart

DOCKERFILES = ["operator.Dockerfile", "components.Dockerfile"]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_shape(name):
    instructions = _instructions((IMAGES_DIR / name).read_text())
    base = next(a for i, a in instructions if i == "ARG" and a.startswith("BASE_IMAGE="))
    assert base.split("=", 1)[1] in ("python:3.11-slim-bookworm",) or "@sha256:" in base
    froms = [a for i, a in instructions if i == "FROM"]
    assert froms == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"], "multi-stage on the pinned base only"
    kinds = [i for i, _ in instructions]
    runtime = instructions[kinds.index("FROM", kinds.index("FROM") + 1):]
    users = [a for i, a in runtime if i == "USER"]
    assert users == ["65532:65532"]
    install = " ".join(a for i, a in instructions if i == "RUN" and "pip install" in a)
    assert "--constraint constraints.txt" in install
    assert not any(re.search(r"apt-get install|gcc|build-essential", a) for i, a in runtime if i == "RUN"), \
        "no build tools in the runtime stage"
    copies = [a for i, a in runtime if i == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"], "the runtime gets the virtualenv only"


def test_copied_paths_exist():
    for name in DOCKERFILES:
        for instruction, args in _instructions((IMAGES_DIR / name).read_text()):
            if instruction == "COPY" and not args.startswith("--from"):
                for source in args.split()[:-1]:
                    assert (REPO_ROOT / source).exists(), f"{name}: COPY {source} does not exist"


def test_operator_image_runs_kopf_with_the_charts_arguments():
    instructions = _instructions((IMAGES_DIR / "operator.Dockerfile").read_text())
    assert ('ENTRYPOINT', '["kopf"]') in instructions
    container = one(render_chart(), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container, "the chart relies on the image's kopf entrypoint"
    assert container["args"][0] == "run"
    exposed = next(a for i, a in instructions if i == "EXPOSE").split()
    assert {str(p["containerPort"]) for p in container["ports"]} <= set(exposed)
