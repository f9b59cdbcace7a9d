"""The release state machine: one pure function, `advance`, moves a ModelDeployment one step.

Like Flagger's advanceCanary, every strategy goes through the same function: given the spec, the last
status, the model version the user wants and what was observed (readiness, per-arm metrics, manual
annotations, the time), it returns the next status, the predictors Seldon should run, and the events
to record. The kopf handler only gathers the observation and writes the plan.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

from ..api.common import from_rfc3339, to_rfc3339
from ..api.modeldeployment import (
    ABORT_ANNOTATION,
    PROMOTE_ANNOTATION,
    AnalysisLimits,
    ArmMetrics,
    Decision,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ServedModel,
)
from .analysis import assess
from .seldon import Predictor


@dataclass(frozen=True)
class Observation:
    """What the handler saw this turn; all of it comes from the API server and the metrics provider."""

    now: float
    ready: frozenset[str] = frozenset()
    failed: dict[str, str] = field(default_factory=dict)
    stable: ArmMetrics | None = None
    candidate: ArmMetrics | None = None
    promote: str | None = None
    abort: str | None = None


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    status: ModelDeploymentStatus
    predictors: tuple[Predictor, ...]
    events: tuple[Event, ...] = ()
    promoted: ServedModel | None = None


def predictor_name(key: str, training_run: str | None) -> str:
    """A DNS-safe predictor name, unique per model version, stable across promotions."""
    base = re.sub(r"[^a-z0-9-]+", "-", (training_run or "model").lower()).strip("-")[:40] or "model"
    return f"{base}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def served_model(key: str, uri: str, training_run: str | None) -> ServedModel:
    return ServedModel(key=key, uri=uri, training_run=training_run, predictor=predictor_name(key, training_run))


def decide_abtest(stable: ArmMetrics | None, candidate: ArmMetrics | None, limits: AnalysisLimits) -> tuple[str, str]:
    """Winner of an A/B test: 'candidate', 'stable' or 'tie' (a tie keeps stable).

    The hook where a statistical winner decision plugs in; for now the candidate wins when it meets
    the limits and its error rate is no worse than stable's.
    """
    cand = assess(candidate, limits)
    if cand.verdict != "Success":
        return "stable", f"candidate: {cand.reason}"
    stable_rate = (stable.error_rate or 0.0) if stable else 0.0
    cand_rate = (candidate.error_rate or 0.0) if candidate else 0.0
    if cand_rate <= stable_rate:
        return "candidate", f"candidate error rate {cand_rate:.1%} <= stable {stable_rate:.1%}"
    return "tie", f"candidate error rate {cand_rate:.1%} > stable {stable_rate:.1%}; stable kept"


class _Turn:
    """One call of `advance`: holds the evolving status and the events as they are decided."""

    def __init__(self, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, obs: Observation):
        self.spec = spec
        self.obs = obs
        self.status = status.model_copy(deep=True)
        self.events: list[Event] = []
        self.promoted: ServedModel | None = None

    # --- outcomes -------------------------------------------------------------------------

    def decide(self, action: str, reason: str, event: Literal["Normal", "Warning"] | None = None) -> None:
        last = self.status.last_decision
        if last is None or (last.action, last.reason) != (action, reason):
            self.status.last_decision = Decision(action=action, reason=reason, time=to_rfc3339(self.obs.now))
            if event:
                self.events.append(Event(event, action, reason))

    def set_weights(self, candidate_weight: int | None, shadow: bool = False) -> None:
        st = self.status
        weights: dict[str, int] = {}
        if st.stable is not None:
            weights[st.stable.predictor] = 100 if shadow or candidate_weight is None else 100 - candidate_weight
        if st.candidate is not None:
            weights[st.candidate.predictor] = 0 if shadow else (candidate_weight or 0)
        st.weights = weights
        if st.candidate is None or (candidate_weight is None and not shadow):
            st.traffic = "100" if st.stable else None
        elif shadow:
            st.traffic = "100/shadow"
        else:
            st.traffic = f"{100 - candidate_weight}/{candidate_weight}"

    def start_rollout(self, desired: ServedModel) -> None:
        """The candidate starts with no traffic (mirrors only, for shadow) until it is ready."""
        st, strategy, now = self.status, self.spec.strategy, to_rfc3339(self.obs.now)
        st.candidate, st.rolled_back = desired, None
        st.rollout_started_at = st.step_started_at = now
        st.failed_checks = 0
        st.step = 0 if strategy.type == "canary" else None
        if strategy.type == "shadow":
            self.set_weights(None, shadow=True)
        else:
            self.set_weights(0)
        self.decide("Started", f"{strategy.type} release of {desired.predictor}", "Normal")

    def step_weight(self) -> int | None:
        """The candidate's share at the current step (None: shadow, which never serves clients)."""
        strategy, st = self.spec.strategy, self.status
        if strategy.type == "canary":
            return strategy.canary.steps[st.step or 0]
        if strategy.type == "abtest":
            return strategy.abtest.candidate_weight
        return None

    def route_candidate(self) -> None:
        """Give a ready candidate its step's share; the analysis window opens when traffic flows."""
        weight = self.step_weight()
        if weight is not None and self.status.weights.get(self.status.candidate.predictor) != weight:
            self.set_weights(weight)
            self.status.step_started_at = to_rfc3339(self.obs.now)

    def promote(self, reason: str) -> None:
        st = self.status
        assert st.candidate is not None
        self.promoted = st.stable = st.candidate
        st.candidate, st.step, st.step_started_at, st.rollout_started_at = None, None, None, None
        st.failed_checks = 0
        self.set_weights(None)
        self.decide("Promoted", reason, "Normal")

    def rollback(self, reason: str) -> None:
        st = self.status
        st.rolled_back, st.candidate = st.candidate, None
        st.step, st.step_started_at, st.rollout_started_at = None, None, None
        self.set_weights(None)
        self.decide("RolledBack", reason, "Warning")

    # --- the machine ------------------------------------------------------------------------

    def manual(self, annotation: str, value: str | None) -> bool:
        """True once per new annotation value; remembered in status so the user's annotation stays."""
        if not value or self.status.handled_annotations.get(annotation) == value:
            return False
        self.status.handled_annotations = {**self.status.handled_annotations, annotation: value}
        return True

    def run(self, desired: ServedModel) -> None:
        st, obs = self.status, self.obs
        st.strategy = self.spec.strategy.type
        promote = self.manual(PROMOTE_ANNOTATION, obs.promote)
        abort = self.manual(ABORT_ANNOTATION, obs.abort)

        if st.stable is None:
            st.stable = desired
            self.set_weights(None)
            self.decide("Deployed", f"first version {desired.predictor}", "Normal")
            self.promoted = desired
        elif st.candidate is not None and st.candidate.key != desired.key:
            self.rollback(f"spec.model changed to {desired.key} during the release of {st.candidate.key}")
            if desired.key != st.stable.key:
                self.start_rollout(desired)
        elif st.candidate is None and desired.key not in (st.stable.key, st.rolled_back and st.rolled_back.key):
            self.start_rollout(desired)

        if st.candidate is not None:
            self.release(promote=promote, abort=abort)
        self.settle_phase()

    def release(self, *, promote: bool, abort: bool) -> None:
        st, obs, strategy = self.status, self.obs, self.spec.strategy
        cand = st.candidate
        assert cand is not None
        if abort:
            return self.rollback(f"aborted by annotation {ABORT_ANNOTATION}")
        if cand.predictor in obs.failed:
            return self.rollback(f"candidate {cand.predictor} failed: {obs.failed[cand.predictor]}")
        if cand.predictor not in obs.ready:
            started = from_rfc3339(st.rollout_started_at or to_rfc3339(obs.now))
            if obs.now - started >= strategy.progress_deadline_seconds():
                return self.rollback(f"candidate not ready within progressDeadline {strategy.progress_deadline}")
            if strategy.type != "shadow":
                self.set_weights(0)  # clients never wait on a candidate that cannot answer
            st.step_started_at = to_rfc3339(obs.now)
            return self.decide("Waiting", f"waiting for {cand.predictor} to become ready")
        if promote:
            return self.promote(f"promoted by annotation {PROMOTE_ANNOTATION}")
        if strategy.type == "direct":
            return self.promote(f"{cand.predictor} is ready and replaces {st.stable.predictor}")
        self.route_candidate()
        if self.spec.paused:
            st.step_started_at = to_rfc3339(obs.now)
            return self.decide("Paused", "spec.paused is true")

        verdict = assess(obs.candidate, strategy.analysis)
        if verdict.verdict == "Failure":
            st.failed_checks += 1
            st.step_started_at = to_rfc3339(obs.now)
            if st.failed_checks >= strategy.analysis.failure_limit:
                return self.rollback(f"{st.failed_checks} failed checks: {verdict.reason}")
            return self.decide("CheckFailed", f"check {st.failed_checks} of {strategy.analysis.failure_limit} failed: {verdict.reason}", "Warning")

        elapsed = obs.now - from_rfc3339(st.step_started_at or to_rfc3339(obs.now))
        needed = {
            "canary": strategy.canary.interval_seconds,
            "abtest": strategy.abtest.duration_seconds,
            "shadow": strategy.shadow.duration_seconds,
        }[strategy.type]()
        if elapsed < needed:
            return self.decide("Analysing", f"{verdict.reason}; {needed - elapsed:.0f}s left in this step")
        if verdict.verdict == "Inconclusive":
            if elapsed >= needed + strategy.progress_deadline_seconds():
                return self.rollback(f"no conclusive analysis within progressDeadline: {verdict.reason}")
            return self.decide("Analysing", verdict.reason)

        if strategy.type == "canary" and st.step is not None and st.step + 1 < len(strategy.canary.steps):
            st.step += 1
            st.failed_checks = 0
            st.step_started_at = to_rfc3339(obs.now)
            weight = strategy.canary.steps[st.step]
            self.set_weights(weight)
            return self.decide("Advanced", f"step {st.step + 1}: {weight}% to {cand.predictor} ({verdict.reason})", "Normal")
        if strategy.type == "abtest":
            winner, why = decide_abtest(obs.stable, obs.candidate, strategy.analysis)
            if winner != "candidate":
                return self.rollback(f"A/B test kept stable: {why}")
            return self.promote(f"A/B test winner: {why}") if strategy.auto_promote else self.await_promotion(why)
        if strategy.auto_promote:
            return self.promote(f"analysis passed: {verdict.reason}")
        return self.await_promotion(verdict.reason)

    def await_promotion(self, why: str) -> None:
        self.decide("AwaitingPromotion", f"{why}; set annotation {PROMOTE_ANNOTATION} to promote", "Normal")

    def settle_phase(self) -> None:
        st, obs = self.status, self.obs
        stable = st.stable
        action = st.last_decision.action if st.last_decision else None
        if st.candidate is not None:
            st.phase = "Paused" if action in ("Paused", "AwaitingPromotion") else "Progressing"
        elif stable is not None and stable.predictor in obs.failed:
            st.phase = "Failed"
        elif stable is not None and stable.predictor not in obs.ready:
            st.phase = "Progressing"
        elif st.rolled_back is not None:
            st.phase = "RolledBack"
        else:
            st.phase = "Serving"

    def predictors(self) -> tuple[Predictor, ...]:
        st = self.status
        shadow = st.strategy == "shadow" and st.candidate is not None
        result = []
        for model in (st.stable, st.candidate):
            if model is None:
                continue
            if shadow and model is st.candidate:
                result.append(Predictor(model.predictor, model.uri, self.spec.strategy.shadow.percent, shadow=True))
            else:
                result.append(Predictor(model.predictor, model.uri, st.weights.get(model.predictor, 0)))
        return tuple(result)


def advance(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, desired: ServedModel, obs: Observation
) -> Plan:
    """Decide the next state of a release. Pure: same inputs, same plan."""
    turn = _Turn(spec, status, obs)
    turn.run(desired)
    return Plan(turn.status, turn.predictors(), tuple(turn.events), turn.promoted)
