"""Fast layer of the fuzz suite: every generated object goes to the embedded API (which validates it
against the generated CRD schema and its CEL rules, as a cluster does) and to the pydantic models
the operator reconciles with; no operator runs.

For each object one of these must hold:
  (a) the API refuses it: 422, one cause per field, each naming a `spec.` field in the message;
  (b) the API accepts it and the models refuse the stored spec with a message naming `spec.` fields
      (what the operator writes into the Ready=False condition, via `explain`);
  (c) both accept it, and the pure decisions the handlers call on it do not raise.
And never a 500. The other way round, a spec the models accept strictly (no coercion) must never
be refused by the API: the CRD may not be stricter than the documented types.
"""
from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from pydantic import ValidationError

from mlops_operator.api.common import explain
from mlops_operator.api.mlproject import MLProjectSpec, MLProjectStatus
from mlops_operator.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from mlops_operator.api.trainingrun import TrainingRunSpec
from mlops_operator.decisions.project import plan_project
from mlops_operator.decisions.rollout import Observation, advance, served_model
from mlops_operator.decisions.seldon import desired_seldon_deployment
from mlops_operator.embedded import ThreadedAPIServer

from .specs import PLURALS, REPO, any_cron, fuzzed_object

#: Generated objects per kind (the acceptance asks for at least 500 in CI).
EXAMPLES = 600
MODELS = {"MLProject": MLProjectSpec, "TrainingRun": TrainingRunSpec, "ModelDeployment": ModelDeploymentSpec}
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=True,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.large_base_example])


@pytest.fixture(scope="module")
def api():
    with ThreadedAPIServer() as server:
        server.apply_files(*sorted((REPO / "crds").glob("*.yaml")))
        yield server


def check_refusal(kind: str, name: str, body: dict[str, Any], error: dict[str, Any]) -> None:
    """(a): 422 Invalid, every cause naming a field under spec (or the whole spec), in the message too."""
    assert error.get("reason") == "Invalid", error
    causes = error["details"]["causes"]
    assert causes, error
    assert error["message"].startswith(f'{kind}.mlops.dev "{name}" is invalid: ')
    named = [c for c in causes if c["field"] != "<nil>"]  # "<nil>": CEL rules skipped after a schema error
    assert named, error
    for cause in named:
        assert cause["field"] == "spec" or cause["field"].startswith("spec."), (cause, body)
        assert f'{cause["field"]}: {cause["message"]}' in error["message"], error


def check_explained(error: ValidationError, whole_spec_wrong: bool = False) -> str:
    """(b): each problem becomes a line naming a field under spec, as the Ready condition shows it."""
    message = explain(error)
    assert message.startswith("spec"), message
    for e in error.errors():
        field = ".".join(["spec", *(str(part) for part in e["loc"])])
        assert f"{field}: " in message or f"{field}." in message, (field, message)
        named = e["loc"] or re.match(r"(Value error, )?[A-Za-z][A-Za-z0-9]*: ", e["msg"])
        assert named or whole_spec_wrong, f"a problem without a field: {e}"
    return message


def check_decisions(kind: str, spec: Any) -> None:
    """(c): what the handlers compute from a valid spec, without Kubernetes: must not raise."""
    now = time.time()
    if kind == "MLProject":
        plan = plan_project("p", "default", "uid", spec, MLProjectStatus(), [], None, now)
        assert plan.status.phase
        again = plan.status.model_copy(update={"last_scheduled_time": "2026-01-01T00:00:00Z"})
        plan_project("p", "default", "uid", spec, again, [], None, now)  # a schedule that fires
    elif kind == "ModelDeployment":
        desired = served_model(spec.model.key("run-1"), "file:///m", spec.model.training_run or "run-1")
        plan = advance(spec, ModelDeploymentStatus(), desired, Observation(now=now))
        desired_seldon_deployment("d", "default", list(plan.predictors), owner={"apiVersion": "v", "kind": "k",
                                  "name": "d", "uid": "u"}, replicas=spec.replicas,
                                  resources=spec.resources.wire() if spec.resources else None,
                                  implementation=spec.server.implementation, image=spec.server.image)
        later = advance(spec, plan.status, desired, Observation(now=now + 3600, ready=frozenset(plan.predictors)))
        assert later.status.phase


def strictly_valid(kind: str, spec: Any) -> bool:
    try:
        MODELS[kind].model_validate(spec, strict=True)
        return True
    except ValidationError:
        return False


@pytest.mark.parametrize("kind", list(PLURALS))
def test_api_and_models_agree_on_fuzzed_objects(api, kind: str) -> None:
    url = f"{api.url}/apis/mlops.dev/v1alpha1/namespaces/default/{PLURALS[kind]}"
    names = itertools.count()
    outcomes: Counter[str] = Counter()
    http = requests.Session()

    @FUZZ_SETTINGS
    @given(fuzzed_object(kind))
    def one(generated: tuple[dict[str, Any], list[str]]) -> None:
        body, mutations = generated
        name = f"fz-{next(names)}"
        body = {**body, "metadata": {"name": name}}
        response = http.post(url, json=body, timeout=30)
        assert response.status_code in (201, 422), (response.status_code, response.text[:2000], mutations)
        sent = body.get("spec")
        try:  # whatever the API says, the models name the fields they refuse (an older CRD may admit it)
            MODELS[kind].model_validate(sent)
        except ValidationError as e:
            check_explained(e, whole_spec_wrong=not isinstance(sent, dict))
        if response.status_code == 422:
            check_refusal(kind, name, body, response.json())
            assert not strictly_valid(kind, sent), ("the CRD refuses a spec the models accept", sent,
                                                    response.json()["message"])
            outcomes["refused"] += 1
            return
        stored = response.json()["spec"]
        try:
            spec = MODELS[kind].model_validate(stored)
        except ValidationError as e:
            check_explained(e)
            outcomes["accepted, invalid"] += 1
            return
        check_decisions(kind, spec)
        outcomes["accepted, valid"] += 1

    one()
    total = sum(outcomes.values())
    assert total >= 500, outcomes  # hypothesis stops early only when it runs out of new inputs
    for outcome in ("refused", "accepted, valid"):
        assert outcomes[outcome] >= total // 10, f"the generator is lopsided: {outcomes}"
    print(kind, dict(outcomes))


@FUZZ_SETTINGS
@given(schedule=any_cron)
@example(schedule="0 0 31 2 *")
def test_every_schedule_the_models_accept_can_be_planned(schedule: str) -> None:
    """A schedule that parses but never fires (Feb 31) once made every reconcile of its project raise."""
    spec = {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "t"},
            "candidates": [{"name": "a", "estimator": "LogisticRegression"}], "training": {"schedule": schedule}}
    try:
        project = MLProjectSpec.model_validate(spec)
    except ValidationError as e:
        assert check_explained(e).startswith("spec.training.schedule: "), e
        return
    check_decisions("MLProject", project)
