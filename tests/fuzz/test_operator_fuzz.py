"""Slow layer of the fuzz suite: a few hundred generated objects the API accepts, reconciled by the
real operator (a `kopf run` subprocess) in one dev cluster with a 1-second reconcile interval.

Each accepted object must end either
  (b) Ready=False, reason InvalidSpec, the message naming the fields exactly as the models explain them, or
  (c) reconciled: a Ready condition, observedGeneration == generation, a phase;
and the operator must stay alive with a clean log, never loop (counted from the embedded API's call
timeline over a quiet window), and never write a user's spec or metadata (only PATCH .../status on
the objects, and the specs and metadata read back unchanged). Then a second batch changes the spec
of some objects (valid to invalid and back) and the same must hold for the new generation.

Training runs on the kfp backend against a fake KFP API that fails every run at once: the objects
settle quickly and no pipeline process runs (training itself is tested elsewhere).
"""
from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from kubernetes import client
from pydantic import ValidationError

from tests.e2e.harness import Kube, ThreadedDevCluster, error_lines
from tests.training.kfp_fake import FakeKfp, ThreadedKfp

from .specs import PLURALS, fuzzed_object
from .test_schema_consistency import MODELS, check_explained

pytestmark = pytest.mark.e2e

INTERVAL = 1.0  # the harness's reconcile interval
GENERATED = {"MLProject": 240, "TrainingRun": 300, "ModelDeployment": 240}  # generated per kind ...
ACCEPTED = {"MLProject": 80, "TrainingRun": 80, "ModelDeployment": 90}     # ... of which at most this many created
CHANGED = 60  # objects whose spec the second batch changes
SETTLE = 150.0
QUIET = 6.0  # seconds (six reconcile intervals) over which calls are counted once settled
OPERATOR_AGENTS = ("kopf", "mlops-operator")


class FailingKfp(FakeKfp):
    """Every run fails as soon as it is created, as a cluster without the pipeline's image would."""

    async def create_run(self, request):
        response = await super().create_run(request)
        for run_id, run in self.runs.items():
            if run["state"] == "PENDING":
                self.finish(run_id, "FAILED", failed_task="ingest", message="fuzz: no cluster here")
        return response


def generate(kind: str, count: int) -> list[dict[str, Any]]:
    """`count` objects of `kind`, the same ones on every run (derandomized hypothesis)."""
    bodies: list[dict[str, Any]] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzzed_object(kind))
    def collect(generated):
        bodies.append(generated[0])

    collect()
    return bodies


def for_this_cluster(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Keep training on the fake KFP: no local pipeline processes, no endpoint from the fuzzer."""
    body = copy.deepcopy(body)
    training = (body.get("spec") or {}).get("training") if isinstance(body.get("spec"), dict) else None
    if kind == "MLProject" and isinstance(training, dict):
        training.pop("kfp", None)
        if training.get("backend") == "local":
            training["backend"] = "kfp"
    return body


def model_error(kind: str, spec: dict[str, Any]) -> str | None:
    """What the operator must say about `spec` (None: the spec is valid)."""
    try:
        MODELS[kind].model_validate(spec)
    except ValidationError as e:
        return check_explained(e)
    return None


@pytest.fixture(scope="module")
def generated() -> dict[str, list[dict[str, Any]]]:
    """The objects of both batches, generated before any thread of the dev cluster runs."""
    return {kind: generate(kind, GENERATED[kind] + 3 * CHANGED) for kind in PLURALS}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, generated):
    workdir = tmp_path_factory.mktemp("fuzz")
    with ThreadedKfp(FailingKfp(workdir / "kfp")) as kfp:
        env = {"MLOPS_TRAINING_BACKEND": "kfp", "MLOPS_KFP_ENDPOINT": kfp.url,
               "MLOPS_ARTIFACT_ROOT": (workdir / "artifacts").as_uri()}
        with ThreadedDevCluster(workdir / "dev", examples=None, env=env) as c:
            yield c


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


@dataclass
class Population:
    start: float                                           # when the first object was created
    created: dict[tuple[str, str], dict[str, Any]]         # (plural, name): the object as created
    settled: dict[tuple[str, str], dict[str, Any]]         # ... and once the operator reconciled it
    changed: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # second batch, as replaced


@pytest.fixture(scope="module")
def population(cluster, kube, generated) -> Population:
    start = time.time()
    created = create_accepted(kube, {kind: bodies[:GENERATED[kind]] for kind, bodies in generated.items()})
    per_kind = Counter(plural for plural, _ in created)
    assert sum(per_kind.values()) >= 240, per_kind
    print("created:", dict(per_kind))
    return Population(start, created, wait_settled(kube, created))


def create_accepted(kube: Kube, generated: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Create generated objects, one kind after another, until ACCEPTED of each kind were accepted."""
    created: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, bodies in generated.items():
        plural, accepted = PLURALS[kind], 0
        for index, body in enumerate(bodies):
            if accepted >= ACCEPTED[kind]:
                break
            body = for_this_cluster(kind, body)
            # the first 8 projects get the names that generated TrainingRuns and ModelDeployments refer to
            name = f"fz-p{accepted}" if kind == "MLProject" and accepted < 8 else f"fz-{kind.lower()}-{index}"
            body["metadata"] = {"name": name, "labels": {"fuzz": kind.lower()}, "annotations": {"fuzz/index": str(index)}}
            try:
                obj = kube.create(plural, body)
            except client.ApiException as e:
                assert e.status == 422, (e.status, e.body)
                continue
            created[(plural, name)] = obj
            accepted += 1
    return created


def settled(obj: dict[str, Any]) -> bool:
    st = obj.get("status") or {}
    ready = [c for c in st.get("conditions") or [] if c.get("type") == "Ready"]
    return bool(ready and st.get("phase") and st.get("observedGeneration") == obj["metadata"]["generation"])


def wait_settled(kube: Kube, objects: dict[tuple[str, str], Any]) -> dict[tuple[str, str], dict[str, Any]]:
    deadline = time.monotonic() + SETTLE
    while True:
        current = {(plural, o["metadata"]["name"]): o for plural in set(PLURALS.values()) for o in kube.list(plural)}
        waiting = [key for key in objects if not settled(current[key])]
        if not waiting:
            return {key: current[key] for key in objects}
        if time.monotonic() > deadline:
            summary = [(key, current[key]["metadata"]["generation"], (current[key].get("status") or {}).get("observedGeneration"),
                        (current[key].get("status") or {}).get("phase")) for key in waiting]
            raise AssertionError(f"{len(waiting)} objects not reconciled after {SETTLE}s (generation, observed, phase): "
                                 f"{summary[:10]}; e.g. {current[waiting[0]]}")
        time.sleep(1)


def check_outcomes(objects: dict[tuple[str, str], dict[str, Any]]) -> Counter[str]:
    """(b) or (c) for every object; returns how many of each reason."""
    kinds = {plural: kind for kind, plural in PLURALS.items()}
    reasons: Counter[str] = Counter()
    for (plural, name), obj in objects.items():
        kind = kinds[plural]
        ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
        expected = model_error(kind, obj["spec"])
        if expected is not None:
            assert (ready["status"], ready["reason"], obj["status"]["phase"]) == ("False", "InvalidSpec", "Invalid"), \
                (name, obj["spec"], obj["status"])
            assert ready["message"] == expected, (name, ready["message"], expected)
        else:
            assert ready["reason"] != "InvalidSpec", (name, obj["spec"], ready)
        if ready["status"] == "False" and ready["reason"] in ("ProjectNotFound", "ProjectInvalid", "ModelNotReady"):
            assert ready["message"].startswith("spec."), (name, ready)  # waiting on a reference: say which
        reasons[f"{kind} {ready['status']} {ready['reason']}"] += 1
    return reasons


def operator_calls(cluster, since: float, until: float | None = None) -> list:
    return [c for c in list(cluster.cluster.api.emulator.timeline)
            if c.time >= since and (until is None or c.time <= until) and c.user_agent.startswith(OPERATOR_AGENTS)]


def check_no_spec_writes(cluster, objects: dict[tuple[str, str], Any], since: float) -> None:
    """On the users' objects the operator only ever writes status; it creates TrainingRuns of its own."""
    ours = set(objects)
    for call in operator_calls(cluster, since):
        if call.plural not in PLURALS.values() or call.method in ("GET", "LIST", "WATCH"):
            continue
        if call.method == "POST" and call.plural == "trainingruns" and call.subresource is None:
            assert (call.plural, call.name) not in ours, call  # never re-creates a user's object
            continue
        assert call.method == "PATCH" and call.subresource == "status", f"the operator wrote {call}"


def quiet_window(cluster, objects: dict[tuple[str, str], Any]) -> tuple[dict[tuple[str, str], int], list]:
    """Over QUIET seconds once settled: status writes per object; no object may see a storm of calls."""
    start = time.time()
    time.sleep(QUIET)
    calls = operator_calls(cluster, start, start + QUIET)
    writes = Counter((c.plural, c.name) for c in calls
                     if c.subresource == "status" and c.method == "PATCH" and (c.plural, c.name) in objects)
    busiest = Counter(c.name for c in calls if c.name).most_common(5)
    loops = [(name, n) for name, n in busiest if n > 4 * (QUIET / INTERVAL + 1)]
    assert not loops, f"calls per object in {QUIET}s: {busiest}"
    return dict(writes), busiest


def check_untouched(kube: Kube, before: dict[tuple[str, str], dict[str, Any]]) -> None:
    for (plural, name), obj in before.items():
        now = kube.get(plural, name)
        assert now["spec"] == obj["spec"], (name, obj["spec"], now["spec"])
        for key in ("labels", "annotations", "finalizers", "ownerReferences"):
            assert now["metadata"].get(key) == obj["metadata"].get(key), (name, key, now["metadata"])
        assert now["metadata"]["generation"] == obj["metadata"]["generation"], name


def test_each_object_is_reported_or_reconciled(population):
    reasons = check_outcomes(population.settled)
    print("first batch:", dict(reasons))
    assert any("InvalidSpec" in r for r in reasons) and any("InvalidSpec" not in r for r in reasons), reasons


def test_no_loop_once_settled(cluster, population):
    writes, busiest = quiet_window(cluster, population.created)
    print("busiest objects when quiet:", busiest)
    assert all(n <= QUIET / INTERVAL + 1 for n in writes.values()), f"more than one write per interval: {writes}"


def test_settled_objects_get_no_status_writes(cluster, population):
    """Found by this suite: an invalid or waiting object once got an identical status PATCH every interval."""
    writes, _ = quiet_window(cluster, population.created)
    assert not writes, f"{len(writes)} settled objects written in {QUIET}s: {dict(list(writes.items())[:10])}"


def test_spec_changes_are_followed(cluster, kube, population, generated):
    """Second batch: other fuzzed specs for some of the objects (a new generation each)."""
    replacements = {kind: iter(bodies[GENERATED[kind]:]) for kind, bodies in generated.items()}
    kinds = {plural: kind for kind, plural in PLURALS.items()}
    for index, (plural, name) in enumerate(sorted(population.created)):
        if index % max(1, len(population.created) // CHANGED):
            continue
        if plural == "trainingruns" and population.settled[(plural, name)]["status"]["phase"] not in ("Pending", "Invalid"):
            continue  # a run may finish any moment, and a finished TrainingRun is a record the operator leaves alone
        kind = kinds[plural]
        for body in replacements[kind]:
            spec = for_this_cluster(kind, body).get("spec")
            if not isinstance(spec, dict):
                continue
            try:  # a JSON merge patch can only null fields out: replace the spec wholesale
                obj = kube.api.replace_namespaced_custom_object(
                    "mlops.dev", "v1alpha1", kube.namespace, plural, name, {**kube.get(plural, name), "spec": spec})
            except client.ApiException as e:
                assert e.status == 422, (e.status, e.body)
                continue
            population.changed[(plural, name)] = obj
            break
    assert len(population.changed) >= CHANGED // 2, len(population.changed)
    reasons = check_outcomes(wait_settled(kube, population.created))
    print("after", len(population.changed), "changes:", dict(reasons))
    writes, _ = quiet_window(cluster, population.created)
    assert all(n <= QUIET / INTERVAL + 1 for n in writes.values()), f"more than one write per interval: {writes}"


def test_the_operator_never_writes_spec_or_metadata(cluster, kube, population):
    check_no_spec_writes(cluster, population.created, population.start)
    check_untouched(kube, {**population.created, **population.changed})


def log_problems(log: str) -> list[str]:
    """Errors, tracebacks (by the exception they end with) and failed reconcile turns in the operator's log."""
    lines = log.splitlines()
    problems = []
    for index, line in enumerate(lines):
        if "Traceback" in line:
            problems.append(next((later for later in lines[index + 1:] if later and not later.startswith((" ", "\t"))),
                                 line))
        elif "[ERROR" in line or "reconcile failed" in line or "writing status failed" in line:
            problems.append(line)
    return problems


def test_the_operator_stays_alive_with_a_clean_log(cluster, population):
    assert cluster.cluster.operator.returncode is None, "the operator exited"
    log = cluster.operator_log()
    assert not log_problems(log), log_problems(log)[:20]
    assert not error_lines(log), error_lines(log)[:20]
