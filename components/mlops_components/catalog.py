"""The pipeline's components, built for a given container image.

The image (Settings.components_image) installs this whole project, so components import
`mlops_components` and `mlops_operator` inside their bodies and need no pip install at run time.
"""
from __future__ import annotations

from dataclasses import dataclass

from kfp import dsl
from kfp.dsl.python_component import PythonComponent

from mlops_operator.settings import Settings

from .evaluate import evaluate
from .ingest import ingest
from .register import register
from .report import report
from .select_and_compare import select_and_compare
from .split import split
from .train import train
from .validate import validate

#: The operator's default components image (Settings.components_image); backends pass the configured one.
DEFAULT_IMAGE = Settings.components_image


@dataclass(frozen=True)
class Components:
    ingest: PythonComponent
    validate: PythonComponent
    split: PythonComponent
    train: PythonComponent
    evaluate: PythonComponent
    select_and_compare: PythonComponent
    register: PythonComponent
    report: PythonComponent


def build(image: str = DEFAULT_IMAGE) -> Components:
    """Every component, running `image`, without installing kfp at start (the image has it)."""
    def make(func) -> PythonComponent:
        return dsl.component(func, base_image=image, install_kfp_package=False)

    return Components(
        ingest=make(ingest), validate=make(validate), split=make(split), train=make(train),
        evaluate=make(evaluate), select_and_compare=make(select_and_compare), register=make(register),
        report=make(report),
    )
