"""The release state machine: one pure function, `advance`, moves a ModelDeployment one step.

Like Flagger's advanceCanary, every strategy goes through the same function: given the spec, the last
status, the model version the user wants and what was observed (readiness, per-arm metrics, manual
annotations, the time), it returns the next status, the predictors Seldon should run, and the events
to record. The kopf handler only gathers the observation and writes the plan.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from collections.abc import Mapping
from typing import Any, Literal

from ..api.common import from_rfc3339, to_rfc3339
from ..api.modeldeployment import (
    ABORT_ANNOTATION,
    PROMOTE_ANNOTATION,
    QUALITY_METRICS,
    AnalysisLimits,
    ArmMetrics,
    Decision,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ChallengerStatus,
    QualityArm,
    QualityStatus,
    ServedModel,
    ShadowDeltaStatus,
    TournamentStatus,
)
from .analysis import arm_sample, assess, baseline_of, numeric, shadow_answers, since_baseline
from .arm_guardrails import check_challengers
from .challengers import decide as decide_challengers
from .seldon import Predictor
from .sequential import ArmSample, Comparison, compare
from .shadow_delta import ShadowBounds, delta, disagreement_upper, within_bounds


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
    #: The monitor's /summary of this deployment (per-predictor counts and sums, stable/shadow
    #: answer pairs); None when there is no monitor or it did not answer.
    monitor: Mapping[str, Any] | None = None
    #: Guardrail measurements of each running challenger since its A/B/n test started, by predictor.
    challenger_metrics: Mapping[str, ArmMetrics | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    #: What decided a rollback on quality: "quality" (the quality test) or "shadowDelta" (a shadow's bounds).
    cause: str | None = None


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

    Used when no quality metric is configured (guardrails only): the candidate wins when it meets
    the limits and its error rate is no worse than stable's. With `analysis.quality` the winner is
    decided by the always-valid test instead (see `_Turn.release`).
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

    def __init__(self, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, obs: Observation,
                 challengers: Mapping[str, ServedModel | None] | None = None):
        self.challengers = dict(challengers or {})
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
        st.last_check_at = None
        st.analysis = st.shadow_delta = None
        st.quality_baseline = None
        if strategy.analysis.quality is not None and st.stable is not None:
            sample, _ = self.sample(st.stable.predictor)
            st.quality_baseline = baseline_of(sample)
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
        st.failed_checks, st.last_check_at, st.quality_baseline = 0, None, None
        self.set_weights(None)
        self.decide("Promoted", reason, "Normal")

    def rollback(self, reason: str, cause: str | None = None) -> None:
        st = self.status
        st.rolled_back, st.candidate = st.candidate, None
        st.step, st.step_started_at, st.rollout_started_at = None, None, None
        st.last_check_at, st.quality_baseline = None, None
        self.set_weights(None)
        before = len(self.events)
        self.decide("RolledBack", reason, "Warning")
        if cause and len(self.events) > before:
            self.events[-1] = replace(self.events[-1], cause=cause)

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
        if self.spec.challengers:
            self.run_tournament(desired)
            return self.settle_phase()
        st.tournament = None

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
        if verdict.verdict != "Inconclusive" and self.check_due():
            # A guardrail check counts once per analysis interval (and only when conclusive).
            st.last_check_at = to_rfc3339(obs.now)
            if verdict.verdict == "Failure":
                st.failed_checks += 1
                st.step_started_at = to_rfc3339(obs.now)
                if st.failed_checks >= strategy.analysis.failure_limit:
                    return self.rollback(f"{st.failed_checks} failed checks: {verdict.reason}")
                return self.decide("CheckFailed", f"check {st.failed_checks} of {strategy.analysis.failure_limit} "
                                                  f"failed: {verdict.reason}", "Warning")
            st.failed_checks = 0  # failed checks count in a row

        quality = strategy.analysis.quality if strategy.type in ("canary", "abtest") else None
        comparison = self.judge_quality() if quality is not None else None
        if comparison is not None and comparison.verdict == "worse":
            return self.rollback(f"quality: {comparison.reason}", cause="quality")
        bounds = strategy.shadow.bounds if strategy.type == "shadow" and strategy.shadow.bounds else None
        shadow_gate = self.judge_shadow() if bounds is not None and bounds.is_set() else None
        if shadow_gate is not None and shadow_gate[0] == "beyond":
            return self.rollback(f"not promoted: {shadow_gate[1]}", cause="shadowDelta")

        elapsed = obs.now - from_rfc3339(st.step_started_at or to_rfc3339(obs.now))
        since_start = obs.now - from_rfc3339(st.rollout_started_at or to_rfc3339(obs.now))
        needed = {
            "canary": strategy.canary.interval_seconds,
            "abtest": strategy.abtest.duration_seconds,
            "shadow": strategy.shadow.duration_seconds,
        }[strategy.type]()
        if verdict.verdict == "Failure":  # breached since the last counted check: hold, never advance
            return self.decide("Analysing", f"guardrail: {verdict.reason}; next check within "
                                            f"{strategy.check_interval_seconds():.0f}s")
        if elapsed < needed:
            waiting = comparison.reason if comparison is not None else (shadow_gate[1] if shadow_gate else verdict.reason)
            return self.decide("Analysing", f"{waiting}; {needed - elapsed:.0f}s left in this step")

        if comparison is not None:
            assert quality is not None
            expired = since_start >= quality.max_duration_seconds()
            if strategy.type == "abtest":
                if comparison.verdict == "better":
                    why = f"A/B test winner: {comparison.reason}"
                    return self.promote(why) if strategy.auto_promote else self.await_promotion(why)
                if expired:
                    return self.rollback(f"A/B test kept stable at maxDuration {quality.max_duration}: {comparison.reason}",
                                         cause="quality")
                return self.wait_quality(comparison)
            if comparison.verdict not in ("better", "non-inferior"):
                if expired:
                    return self.rollback(f"no quality verdict within maxDuration {quality.max_duration}: {comparison.reason}",
                                         cause="quality")
                return self.wait_quality(comparison)
            reason = f"quality: {comparison.reason}"
        elif shadow_gate is not None:
            assert bounds is not None
            if shadow_gate[0] != "within":
                if since_start >= bounds.max_duration_seconds():
                    return self.rollback(f"not promoted: not within bounds by maxDuration {bounds.max_duration}: "
                                         f"{shadow_gate[1]}", cause="shadowDelta")
                action = "WaitingForData" if shadow_gate[0] == "insufficient" else "Analysing"
                return self.decide(action, shadow_gate[1])
            reason = shadow_gate[1]
        else:
            if verdict.verdict == "Inconclusive":
                if elapsed >= needed + strategy.progress_deadline_seconds():
                    return self.rollback(f"no conclusive analysis within progressDeadline: {verdict.reason}")
                return self.decide("Analysing", verdict.reason)
            reason = verdict.reason

        if strategy.type == "canary" and st.step is not None and st.step + 1 < len(strategy.canary.steps):
            st.step += 1
            st.step_started_at = to_rfc3339(obs.now)
            weight = strategy.canary.steps[st.step]
            self.set_weights(weight)
            return self.decide("Advanced", f"step {st.step + 1}: {weight}% to {cand.predictor} ({reason})", "Normal")
        if strategy.type == "abtest":
            winner, why = decide_abtest(obs.stable, obs.candidate, strategy.analysis)
            if winner != "candidate":
                return self.rollback(f"A/B test kept stable: {why}")
            return self.promote(f"A/B test winner: {why}") if strategy.auto_promote else self.await_promotion(why)
        if strategy.auto_promote:
            return self.promote(f"analysis passed: {reason}")
        return self.await_promotion(reason)

    # --- analysis -----------------------------------------------------------------------------

    def check_due(self) -> bool:
        last = self.status.last_check_at
        return last is None or self.obs.now - from_rfc3339(last) >= self.spec.strategy.check_interval_seconds()

    def sample(self, predictor: str) -> tuple[ArmSample | None, str]:
        """The quality metric's labelled sums of one predictor, from the monitor's summary."""
        quality = self.spec.strategy.analysis.quality
        assert quality is not None
        if self.obs.monitor is None:
            return None, "no answer from the monitor"
        entry = (self.obs.monitor.get("predictors") or {}).get(predictor)
        return arm_sample(entry, QUALITY_METRICS[quality.metric])

    def judge_quality(self) -> Comparison | None:
        """Candidate vs stable on the quality metric (labelled requests since the release started)."""
        st, quality = self.status, self.spec.strategy.analysis.quality
        assert quality is not None and st.candidate is not None and st.stable is not None
        metric = QUALITY_METRICS[quality.metric]
        stable, why_s = self.sample(st.stable.predictor)
        candidate, why_c = self.sample(st.candidate.predictor)
        if stable is None or candidate is None:
            why = why_s or why_c
            st.analysis = QualityStatus(metric=quality.metric, verdict="insufficient", reason=f"{quality.metric}: {why}",
                                        min_effect=quality.min_effect, alpha=quality.alpha)
            st.quality = None
            return Comparison(metric=metric, verdict="insufficient", reason=st.analysis.reason, estimate=float("nan"),
                              lo=float("nan"), hi=float("nan"), stable_mean=float("nan"), candidate_mean=float("nan"),
                              stable_n=0, candidate_n=0, alpha=quality.alpha, min_effect=quality.min_effect,
                              higher_is_better=metric == "accuracy")
        stable = since_baseline(stable, st.quality_baseline)
        result = compare(stable, candidate, metric=metric, min_effect=quality.min_effect, alpha=quality.alpha,
                         power=quality.power, min_samples=quality.min_samples)
        finite = lambda v: None if v != v else round(float(v), 6)  # noqa: E731  (NaN -> None)
        missing = max(0, quality.min_samples - stable.n) + max(0, quality.min_samples - candidate.n)
        st.analysis = QualityStatus(
            metric=quality.metric, verdict=result.verdict, reason=result.reason,
            stable=QualityArm(samples=stable.n, estimate=finite(result.stable_mean)),
            candidate=QualityArm(samples=candidate.n, estimate=finite(result.candidate_mean)),
            difference=finite(result.estimate),
            interval=None if result.lo != result.lo else [finite(result.lo), finite(result.hi)],
            min_effect=quality.min_effect, alpha=quality.alpha, missing=missing or None,
        )
        show = lambda v: "-" if v != v else f"{v:.3g}"  # noqa: E731
        st.quality = f"{quality.metric} {show(result.candidate_mean)} vs {show(result.stable_mean)}"
        return result

    def wait_quality(self, comparison: Comparison) -> None:
        missing = self.status.analysis.missing if self.status.analysis else None
        if comparison.verdict == "insufficient":
            return self.decide("WaitingForData", f"waiting for {missing or 'more'} more labelled requests "
                                                 f"({comparison.reason})")
        return self.decide("Analysing", f"inconclusive, waiting for more labelled requests: {comparison.reason}")

    def judge_shadow(self) -> tuple[str, str]:
        """('within' | 'beyond' | 'undecided' | 'insufficient', why) for the shadow's answers vs stable's."""
        st, strategy = self.status, self.spec.strategy
        bounds = strategy.shadow.bounds
        assert bounds is not None and st.stable is not None and st.candidate is not None
        pairs = (self.obs.monitor or {}).get("pairs") or []
        stable, shadow = shadow_answers(pairs, st.stable.predictor, st.candidate.predictor)
        n = len(stable)
        if n < bounds.min_pairs:
            st.shadow_delta = ShadowDeltaStatus(pairs=n, reason=f"{n} of {bounds.min_pairs} answer pairs")
            return "insufficient", f"waiting for {bounds.min_pairs - n} more stable/shadow answer pairs ({n} of {bounds.min_pairs})"
        quality = strategy.analysis.quality
        regression = (quality is not None and quality.metric in ("mae", "rmse")) or (
            bounds.max_mean_abs_diff is not None and bounds.max_disagreement is None)
        a, b = numeric(stable), numeric(shadow)
        if regression and (a is None or b is None):
            return "beyond", f"shadow answers are not numbers over {n} pairs; regression bounds cannot hold"
        if regression:
            result = delta(a, b, kind="regression", alpha=bounds.alpha)
        else:
            scores = (a, b) if a is not None and b is not None else (None, None)
            result = delta(stable, shadow, kind="classification", stable_scores=scores[0], shadow_scores=scores[1],
                           alpha=bounds.alpha)
        ok, why = within_bounds(result, ShadowBounds(bounds.max_disagreement, bounds.max_ks, bounds.max_js,
                                                     bounds.max_mean_abs_diff))
        beyond = [
            label for label, value, limit in (("KS statistic", result.ks, bounds.max_ks),
                                              ("Jensen-Shannon distance", result.js, bounds.max_js),
                                              ("mean absolute difference", result.mean_abs_diff, bounds.max_mean_abs_diff))
            if limit is not None and value is not None and value > limit
        ]
        if bounds.max_disagreement is not None and result.disagreement is not None:
            d = round(result.disagreement * n)
            lower = 1.0 - disagreement_upper(n - d, n, bounds.alpha)  # always-valid lower bound
            if lower > bounds.max_disagreement:
                beyond.append(f"disagreement lower bound {lower:.4g}")
        r = lambda v: None if v is None else round(float(v), 6)  # noqa: E731
        st.shadow_delta = ShadowDeltaStatus(
            pairs=n, disagreement=r(result.disagreement), disagreement_upper=r(result.disagreement_upper),
            ks=r(result.ks), js=r(result.js), mean_abs_diff=r(result.mean_abs_diff),
            qq=[[r(level), r(x), r(y)] for level, x, y in result.qq], within_bounds=ok, reason=why)
        shown = result.disagreement if result.disagreement is not None else result.mean_abs_diff
        st.quality = f"shadow delta {shown:.3g} over {n}" if shown is not None else None
        if ok:
            return "within", why
        if beyond:
            return "beyond", why
        return "undecided", f"not yet within bounds, waiting for more pairs: {why}"

    def await_promotion(self, why: str) -> None:
        self.decide("AwaitingPromotion", f"{why}; set annotation {PROMOTE_ANNOTATION} to promote", "Normal")

    # --- A/B/n: challengers against stable ------------------------------------------------------

    def run_tournament(self, desired: ServedModel) -> None:
        st, obs, quality = self.status, self.obs, self.spec.strategy.analysis.quality
        assert quality is not None  # the spec's validation
        now = to_rfc3339(obs.now)
        if st.stable is None:
            st.stable = desired
            self.set_weights(None)
            self.decide("Deployed", f"first version {desired.predictor}", "Normal")
            self.promoted = desired
            return
        if st.candidate is not None:
            self.rollback(f"the release of {st.candidate.predictor} gives way to the A/B/n test of spec.challengers")
        missing = [name for name, model in self.challengers.items() if model is None]
        if missing or len(self.challengers) != len(self.spec.challengers):
            return self.decide("Waiting", f"challengers {', '.join(missing) or '?'}: model version not resolved yet")
        keys = [self.challengers[c.name].key for c in self.spec.challengers]
        t = st.tournament
        if t is None or t.keys != keys or t.stable_key != desired.key:
            if st.stable.key != desired.key:  # a new spec.model with challengers: it becomes stable first
                st.stable, st.rolled_back = desired, None
                self.promoted = desired
            sample, _ = self.sample(st.stable.predictor)
            st.quality_baseline = baseline_of(sample)
            st.last_check_at = None
            t = st.tournament = TournamentStatus(
                stable_key=desired.key, keys=keys, started_at=now,
                challengers=[ChallengerStatus(name=c.name, model=self.challengers[c.name]) for c in self.spec.challengers])
            self.decide("Started", f"A/B/n test of {', '.join(keys)} against {st.stable.predictor}", "Normal")
        if t.outcome != "running":
            self.tournament_weights()
            return
        deadline = obs.now - from_rfc3339(t.started_at) >= self.spec.strategy.progress_deadline_seconds()
        weights = {c.name: c.weight for c in self.spec.challengers}
        for arm in t.challengers:
            if arm.stopped:
                continue
            why = None
            if arm.model.predictor in obs.failed:
                why = f"failed: {obs.failed[arm.model.predictor]}"
            elif arm.model.predictor not in obs.ready and deadline:
                why = f"not ready within progressDeadline {self.spec.strategy.progress_deadline}"
            if why:
                self.stop_challenger(arm, why)
            else:
                arm.weight = weights[arm.name] if arm.model.predictor in obs.ready else 0
        self.challenger_guardrails(t)
        samples = {}
        stable, why = self.sample(st.stable.predictor)
        for arm in t.challengers:
            sample, reason = self.sample(arm.model.predictor)
            why = why or reason
            samples[arm.name] = sample
        if stable is None or any(v is None for v in samples.values()):
            self.tournament_weights()
            return self.decide("WaitingForData", f"{quality.metric}: {why}")
        stable = since_baseline(stable, st.quality_baseline)
        expired = obs.now - from_rfc3339(t.started_at) >= quality.max_duration_seconds()
        result = decide_challengers(
            stable, samples, metric=QUALITY_METRICS[quality.metric], min_effect=quality.min_effect,
            alpha=quality.alpha, power=quality.power, min_samples=quality.min_samples,
            stopped=[a.name for a in t.challengers if a.stopped], expired=expired)
        finite = lambda v: None if v != v else round(float(v), 6)  # noqa: E731
        by_name = {c.name: c for c in result.challengers}
        for arm in t.challengers:
            c = by_name[arm.name].comparison
            arm.verdict, arm.samples, arm.estimate = c.verdict, c.candidate_n, finite(c.candidate_mean)
            arm.interval = None if c.lo != c.lo else [finite(c.lo), finite(c.hi)]
            if not arm.stopped:  # a stopped arm keeps why it was stopped
                arm.reason = c.reason
            if by_name[arm.name].stopped and not arm.stopped:
                self.stop_challenger(arm, f"worse than stable: {c.reason}")
        t.alpha_per_pair, t.reason = result.alpha_per_pair, result.reason
        st.analysis = QualityStatus(metric=quality.metric, verdict=result.outcome, reason=result.reason,
                                    stable=QualityArm(samples=stable.n, estimate=finite(stable.mean)),
                                    min_effect=quality.min_effect, alpha=quality.alpha)
        st.quality = f"{quality.metric} stable {_show(stable.mean)}, " + ", ".join(
            f"{a.name} {_show(a.estimate)}" for a in t.challengers)
        if result.outcome == "winner":
            winner = next(a for a in t.challengers if a.name == result.winner)
            t.outcome, t.winner = "winner", winner.name
            st.stable = self.promoted = winner.model
            st.quality_baseline = None
            self.tournament_weights()
            return self.decide("Promoted", f"A/B/n winner {winner.name}: {result.reason}", "Normal")
        if result.outcome == "keep-stable":
            t.outcome = "keep-stable"
            st.quality_baseline = None
            self.tournament_weights()
            return self.decide("StableKept", f"A/B/n test kept stable: {result.reason}", "Normal")
        self.tournament_weights()
        short = [f"{a.name} has {a.samples}" for a in t.challengers if not a.stopped and a.samples < quality.min_samples]
        if stable.n < quality.min_samples or short:
            need = ", ".join(([f"stable has {stable.n}"] if stable.n < quality.min_samples else []) + short)
            return self.decide("WaitingForData", f"waiting for labelled requests ({quality.min_samples} per arm; "
                                                 f"{need}): {result.reason}")
        self.decide("Analysing", result.reason)

    def challenger_guardrails(self, t: TournamentStatus) -> None:
        """Once per analysis interval: a running, serving challenger breaching a guardrail failureLimit
        times in a row loses, with the numbers in its Event."""
        if not self.check_due():
            return
        serving = [a for a in t.challengers if not a.stopped and a.model.predictor in self.obs.ready]
        checks = check_challengers({a.name: self.obs.challenger_metrics.get(a.model.predictor) for a in serving},
                                   self.spec.strategy.analysis, {a.name: a.failed_checks for a in serving})
        if any(c.verdict != "Inconclusive" for c in checks.values()):  # a check counts only when conclusive
            self.status.last_check_at = to_rfc3339(self.obs.now)
        for arm in serving:
            check = checks[arm.name]
            arm.failed_checks = check.failed_checks
            if check.lost:
                self.stop_challenger(arm, check.reason)

    def stop_challenger(self, arm: ChallengerStatus, why: str) -> None:
        arm.stopped, arm.weight, arm.reason = True, 0, why
        self.events.append(Event("Warning", "ChallengerStopped", f"challenger {arm.name} stopped, its traffic "
                                                                   f"goes to stable: {why}"))

    def tournament_weights(self) -> None:
        st, t = self.status, self.status.tournament
        active = [a for a in t.challengers if not a.stopped] if t and t.outcome == "running" else []
        share = sum(a.weight for a in active)
        st.weights = {st.stable.predictor: 100 - share, **{a.model.predictor: a.weight for a in active}}
        st.traffic = "/".join(str(w) for w in st.weights.values()) if active else "100"

    def settle_phase(self) -> None:
        st, obs = self.status, self.obs
        stable = st.stable
        action = st.last_decision.action if st.last_decision else None
        if st.tournament is not None and st.tournament.outcome == "running" and self.spec.challengers:
            st.phase = "Progressing"
        elif st.candidate is not None:
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
        t = st.tournament
        if t is not None and t.outcome == "running" and self.spec.challengers:
            result.append(Predictor(st.stable.predictor, st.stable.uri, st.weights.get(st.stable.predictor, 100)))
            result.extend(Predictor(a.model.predictor, a.model.uri, a.weight) for a in t.challengers if not a.stopped)
            return tuple(result)
        for model in (st.stable, st.candidate):
            if model is None:
                continue
            if shadow and model is st.candidate:
                result.append(Predictor(model.predictor, model.uri, self.spec.strategy.shadow.percent, shadow=True))
            else:
                result.append(Predictor(model.predictor, model.uri, st.weights.get(model.predictor, 0)))
        return tuple(result)


def _show(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3g}"


def advance(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, desired: ServedModel, obs: Observation,
    challengers: Mapping[str, ServedModel | None] | None = None,
) -> Plan:
    """Decide the next state of a release. Pure: same inputs, same plan.

    `challengers`: the model version of each of spec.challengers by name (None: not resolved yet)."""
    turn = _Turn(spec, status, obs, challengers)
    turn.run(desired)
    return Plan(turn.status, turn.predictors(), tuple(turn.events), turn.promoted)
