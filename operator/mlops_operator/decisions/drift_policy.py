"""What live drift means for an MLProject (and a ModelDeployment): conditions, episodes, drift retrains.

The monitor judges windows (`GET /drift`, `decisions.drift.decide` under the project's policy); the
handler turns its JSON into `Observation`s, one per deployment's stable predictor. Here, purely:

- **Conditions.** `Drifted` is True while any observation drifts, naming the top drifting features
  with their statistics; False when every observation has a clean verdict; Unknown while windows
  are still filling (e.g. right after a new model version is rolled out) or the monitor cannot be
  asked. `DataQuality` is False while served inputs break the schema (counts per feature and kind).
- **Episodes.** A drift episode starts when a model version starts drifting and ends at the first
  clean verdict; its id is "<model version>@<start time>", kept in status.drift. A new model
  version that drifts again is a new episode.
- **Retrain.** At most ONE TrainingRun with trigger drift per episode. Deduplication is derived
  from the objects, so it holds across operator restarts: the run's name is derived from the
  episode, the run carries its episode (annotation) and evidence (status.drift), and an episode
  lost with a status write is recovered from the newest drift run of the same model version; a
  cooldown counted from the creation time of the last drift run and a cap on unfinished drift
  runs bound what any path can start.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..api.common import from_rfc3339, to_rfc3339
from ..api.mlproject import DriftPolicy, SuccessMetric
from ..api.trainingrun import TERMINAL_PHASES
from .project import RunSummary, _slug

EPISODE_ANNOTATION = "mlops.dev/drift-episode"
TOP = 3


@dataclass(frozen=True)
class Observation:
    """One predictor's latest drift verdict, as the monitor reported it."""

    deployment: str
    predictor: str
    model_version: str
    model_uri: str
    verdict: str  # Drifted | NoDrift | Inconclusive
    reason: str
    features: tuple[dict[str, Any], ...] = ()
    window: dict[str, Any] = field(default_factory=dict)
    prediction_verdict: str | None = None
    prediction_features: tuple[dict[str, Any], ...] = ()
    quality: dict[str, Any] = field(default_factory=dict)
    unanswered: int = 0

    @property
    def drifted_features(self) -> list[dict[str, Any]]:
        return [f for f in self.features if f.get("drifted")]

    def describe(self, top: int = TOP) -> str:
        worst = [_feature_text(f) for f in self.drifted_features[:top]]
        text = f"{self.deployment}/{self.predictor} (model {self.model_version or '?'}): {self.reason}"
        if worst:
            text += ": " + "; ".join(worst)
        if self.prediction_verdict == "Drifted":
            text += "; predictions drifted too"
        return text


def _feature_text(f: dict[str, Any]) -> str:
    def num(key: str, digits: str = ".3f") -> str:
        value = f.get(key)
        return format(value, digits) if isinstance(value, (int, float)) else "n/a"

    return f"{f.get('feature')} (psi {num('psi')}, js {num('js')}, ks {num('ks')}, p {num('adjustedP', '.2g')})"


def observations(report: dict[str, Any], deployment: str, predictor: str | None) -> list[Observation]:
    """Observations of one deployment from the monitor's /drift JSON: its stable predictor (all, when unknown)."""
    out = []
    for name, entry in sorted((report.get("predictors") or {}).items()):
        if predictor and name != predictor:
            continue
        inputs = entry.get("input") or {}
        outputs = entry.get("prediction") or {}
        out.append(Observation(
            deployment=deployment, predictor=name, model_version=str(entry.get("modelVersion") or ""),
            model_uri=str(entry.get("modelUri") or ""), verdict=inputs.get("verdict") or "Inconclusive",
            reason=inputs.get("reason") or "no input reference", features=tuple(inputs.get("features") or ()),
            window=dict(inputs.get("window") or {}), prediction_verdict=outputs.get("verdict"),
            prediction_features=tuple(outputs.get("features") or ()), quality=dict(entry.get("quality") or {}),
            unanswered=int(entry.get("unanswered") or 0)))
    return out


def drift_condition(obs: Sequence[Observation], monitor_ok: bool = True) -> tuple[str, str, str]:
    """(status, reason, message) of a `Drifted` condition over observations.

    Also what a ModelDeployment's `Drifted` condition is, from the observation of its stable predictor.
    """
    if not monitor_ok:
        return "Unknown", "MonitorUnavailable", "the monitor could not be asked for drift"
    drifting = [o for o in obs if o.verdict == "Drifted"]
    if drifting:
        drifting.sort(key=lambda o: -max((f.get("effect") or 0.0) for f in o.drifted_features or [{}]))
        return "True", "DriftDetected", "; ".join(o.describe() for o in drifting)
    predicted = [o for o in obs if o.prediction_verdict == "Drifted"]
    if predicted:
        o = predicted[0]
        feats = ", ".join(str(f.get("feature")) for f in o.prediction_features if f.get("drifted"))
        return "True", "PredictionDrift", (f"{o.deployment}/{o.predictor} (model {o.model_version}): the model's "
                                           f"outputs drifted from its held-out predictions ({feats})")
    if obs and all(o.verdict == "NoDrift" for o in obs):
        return "False", "NoDrift", "; ".join(f"{o.deployment}/{o.predictor} (model {o.model_version}): {o.reason}"
                                             for o in obs)
    if not obs:
        return "Unknown", "NoTraffic", "no recorded traffic with a training reference yet"
    waiting = [o for o in obs if o.verdict != "NoDrift"]
    return "Unknown", "Inconclusive", "; ".join(f"{o.deployment}/{o.predictor} (model {o.model_version}): {o.reason}"
                                                for o in waiting)


def quality_condition(obs: Sequence[Observation]) -> tuple[str, str, str]:
    """(status, reason, message) of a `DataQuality` condition: True while served inputs fit the schema."""
    problems = []
    for o in obs:
        features = (o.quality.get("features") or {})
        bad = {name: q for name, q in features.items() if q.get("bad")}
        parts = [f"{name}: " + ", ".join(f"{q[k]} {label}" for k, label in (
            ("missing", "missing"), ("wrongType", "wrong type"), ("outOfRange", "out of range"),
            ("unknownCategory", "unknown category")) if q.get(k)) for name, q in sorted(bad.items())]
        if o.quality.get("unknownInputs"):
            parts.append(f"{o.quality['unknownInputs']} requests with inputs the schema does not know")
        if o.unanswered:
            parts.append(f"{o.unanswered} requests the model could not answer")
        if parts:
            problems.append(f"{o.deployment}/{o.predictor}: " + "; ".join(parts))
    if problems:
        return "False", "SchemaViolations", " | ".join(problems)
    if not obs:
        return "Unknown", "NoTraffic", "no recorded traffic yet"
    return "True", "InputsValid", "every served input fits the schema"


@dataclass(frozen=True)
class Retrain:
    """A drift retrain to start: its name, episode and evidence (TrainingRun status.drift)."""

    name: str
    episode: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class DriftPlan:
    status: dict[str, Any]  # MLProject status.drift
    drifted: tuple[str, str, str]
    quality: tuple[str, str, str]
    retrain: Retrain | None = None
    waiting: str | None = None  # why a wanted retrain does not start (for an event)
    events: tuple[tuple[str, str, str], ...] = ()


def _worst(obs: Sequence[Observation]) -> Observation | None:
    drifting = [o for o in obs if o.verdict == "Drifted" or o.prediction_verdict == "Drifted"]
    return max(drifting, key=lambda o: max((f.get("effect") or 0.0) for f in o.drifted_features or [{}]),
               default=None)


def drift_run_name(project: str, episode: str) -> str:
    """The TrainingRun name of an episode's retrain: readable start time, digest of the whole episode."""
    since = episode.rsplit("@", 1)[-1]
    digest = hashlib.sha256(f"d:{episode}".encode()).hexdigest()[:6]
    return f"{_slug(project, 30)}-drift-{_slug(since.replace(':', ''), 15)}-{digest}"


def evidence(o: Observation, episode: str, since: str) -> dict[str, Any]:
    return {"episode": episode, "deployment": o.deployment, "predictor": o.predictor, "modelVersion": o.model_version,
            "since": since, "reason": o.reason, "window": o.window,
            "features": [dict(f) for f in (o.drifted_features or list(o.prediction_features))[:5]]}


MIN_LABELLED_FOR_QUALITY = 50


def live_metric(metric: SuccessMetric, arm: dict[str, Any] | None) -> float | None:
    """The project metric on a predictor's labelled live rows (monitor /summary), where counts give it:
    accuracy, mae, rmse; None for the others (roc_auc needs scores) or with fewer than 50 labelled rows."""
    if not arm:
        return None
    rows = int(arm.get("rows") or 0)
    if metric.name == "accuracy":
        n = int(arm.get("correct") or 0) + int(arm.get("incorrect") or 0)
        return int(arm.get("correct") or 0) / n if n >= MIN_LABELLED_FOR_QUALITY else None
    if rows < MIN_LABELLED_FOR_QUALITY:
        return None
    if metric.name == "mae":
        return float(arm.get("absErrorSum") or 0.0) / rows
    if metric.name == "rmse":
        return math.sqrt(float(arm.get("squaredErrorSum") or 0.0) / rows)
    return None


def plan_drift(project: str, policy: DriftPolicy, previous: dict[str, Any] | None, obs: Sequence[Observation],
               runs: Sequence[RunSummary], *, monitor_ok: bool, other_runs_starting: int = 0,
               allow_concurrent: bool = False, promoted_at: str | None = None, now: float,
               metric: SuccessMetric | None = None, live: dict[str, float] | None = None) -> DriftPlan:
    """Conditions, the episode and at most one drift retrain (pure).

    `live` maps a model version to its live metric (`live_metric`); the first time it fails the
    project's minimum, staleness records the seconds from promotion to that moment."""
    prev = dict(previous or {})
    drifted = drift_condition(obs, monitor_ok)
    quality = quality_condition(obs) if monitor_ok else ("Unknown", "MonitorUnavailable", drifted[2])
    status: dict[str, Any] = {k: v for k, v in prev.items() if k in ("episode", "since", "modelVersion",
                                                                      "lastRetrain", "clearedAt", "staleness")}
    status.update(verdict=drifted[1], message=drifted[2])
    events: list[tuple[str, str, str]] = []
    worst = _worst(obs)
    drift_runs = sorted((r for r in runs if r.trigger == "drift"), key=lambda r: (r.created or "", r.name))

    if drifted[0] == "True" and worst is not None:
        if not status.get("episode") or status.get("modelVersion") != worst.model_version:
            # Recover an episode whose status write was lost: the newest drift run of this model version
            # created after the last clean verdict is this episode's retrain.
            cleared = from_rfc3339(prev["clearedAt"]) if prev.get("clearedAt") else None
            adopted = next((r for r in reversed(drift_runs) if r.episode and r.episode.startswith(worst.model_version + "@")
                            and (cleared is None or (r.created and from_rfc3339(r.created) >= cleared))), None)
            if adopted is not None:
                episode, since = adopted.episode, adopted.episode.rsplit("@", 1)[1]
            else:
                since = to_rfc3339(now)
                episode = f"{worst.model_version}@{since}"
                events.append(("Warning", "DriftDetected", drifted[2]))
                stale = list(status.get("staleness") or [])
                if promoted_at and not any(s.get("modelVersion") == worst.model_version for s in stale):
                    seconds = max(0.0, now - from_rfc3339(promoted_at))
                    stale.append({"modelVersion": worst.model_version, "promotedAt": promoted_at,
                                  "firstDriftAt": since, "secondsToDrift": round(seconds, 1)})
                    status["staleness"] = stale[-10:]
            status.update(episode=episode, since=since, modelVersion=worst.model_version)
        status["features"] = [dict(f) for f in worst.drifted_features[:5]]
        status["window"] = worst.window
        status["deployment"], status["predictor"] = worst.deployment, worst.predictor
    elif drifted[0] == "False":
        if status.get("episode"):
            events.append(("Normal", "DriftCleared", drifted[2]))
            status["clearedAt"] = to_rfc3339(now)
        for key in ("episode", "since", "modelVersion", "features", "window", "deployment", "predictor"):
            status.pop(key, None)

    if metric is not None and metric.minimum is not None and promoted_at:
        for version, value in sorted((live or {}).items()):
            if metric.passes(value):
                continue
            stale = [dict(x) for x in status.get("staleness") or []]
            entry = next((x for x in stale if x.get("modelVersion") == version), None)
            if entry is None:
                entry = {"modelVersion": version, "promotedAt": promoted_at}
                stale.append(entry)
            if "qualityBelowMinimumAt" not in entry:
                entry.update(qualityBelowMinimumAt=to_rfc3339(now), liveMetric={metric.name: round(value, 6)},
                             secondsToQualityBelowMinimum=round(max(0.0, now - from_rfc3339(promoted_at)), 1))
                events.append(("Warning", "LiveQualityBelowMinimum",
                               f"model {version}: live {metric.name} {value:.4g} fails the minimum {metric.minimum:g}"))
                status["staleness"] = stale[-10:]

    retrain = waiting = None
    episode = status.get("episode")
    if policy.retrain and drifted[0] == "True" and episode and worst is not None:
        unfinished = [r for r in drift_runs if r.phase not in TERMINAL_PHASES]
        last = drift_runs[-1] if drift_runs else None
        name = drift_run_name(project, episode)
        if any(r.episode == episode or r.name == name for r in drift_runs):
            pass  # this episode's retrain exists: one per episode
        elif len(unfinished) >= policy.max_concurrent_retrains:
            waiting = f"{len(unfinished)} drift retrain(s) unfinished (maxConcurrentRetrains {policy.max_concurrent_retrains})"
        elif last is not None and last.created and now - from_rfc3339(last.created) < policy.cooldown_seconds:
            left = policy.cooldown_seconds - (now - from_rfc3339(last.created))
            waiting = f"cooldown: {left:.0f}s left after drift retrain {last.name}"
        elif not allow_concurrent and (other_runs_starting or any(
                r.phase not in TERMINAL_PHASES and r.phase != "AwaitingApproval" for r in runs)):
            waiting = "another TrainingRun is unfinished (training.allowConcurrentRuns is false)"
        else:
            retrain = Retrain(name, episode, evidence(worst, episode, status["since"]))
    if retrain is not None:
        status["lastRetrain"] = {"trainingRun": retrain.name, "episode": episode, "time": to_rfc3339(now)}
    return DriftPlan(status, drifted, quality, retrain, waiting, tuple(events))


def deployment_conditions(report: dict[str, Any] | None, deployment: str,
                          stable_predictor: str | None) -> dict[str, tuple[str, str, str]]:
    """A ModelDeployment's `Drifted` and `DataQuality` conditions (status, reason, message) from the monitor's
    /drift JSON (`monitor.client.drift(...)`, None when it could not be asked), judged on its stable predictor."""
    obs = observations(report, deployment, stable_predictor) if report is not None else []
    return {"Drifted": drift_condition(obs, report is not None),
            "DataQuality": quality_condition(obs) if report is not None else
            ("Unknown", "MonitorUnavailable", "the monitor could not be asked for data quality")}


#: Error slices kept in MLProject status, and how often they are refreshed (the monitor reads every row).
SLICES_TOP = 5
SLICES_REFRESH_SECONDS = 60.0


def slices_due(previous: dict[str, Any] | None, now: float) -> bool:
    return now - float((previous or {}).get("errorSlicesAt") or 0.0) >= SLICES_REFRESH_SECONDS


def worst_slices(reports: dict[str, dict[str, Any] | None], top: int = SLICES_TOP) -> list[dict[str, Any]]:
    """Where the served models fail most: feature bins ranked by how far their live error exceeds
    their predictor's overall error, across the project's deployments (monitor /slices reports)."""
    found = []
    for deployment, report in sorted(reports.items()):
        for predictor, entry in sorted(((report or {}).get("predictors") or {}).items()):
            overall = entry.get("error")
            if overall is None:
                continue
            for s in entry.get("slices") or []:
                found.append({"deployment": deployment, "predictor": predictor, "modelUri": entry.get("modelUri"),
                              "feature": s["feature"], "bin": s["bin"], "rows": s["rows"], "error": s["error"],
                              "overall": overall, "measure": entry.get("measure")})
    found.sort(key=lambda s: (-(s["error"] - s["overall"]), -s["rows"], s["deployment"], s["feature"], s["bin"]))
    return [s for s in found if s["error"] > s["overall"]][:top]
