"""Component: pick the best candidate and put it through the champion gate on the same held-out rows."""
from typing import List

from kfp.dsl import Dataset, Input, Model, Output


def select_and_compare(models: Input[List[Model]], evaluations: List[str], test: Input[Dataset], schema_json: str,
                       target: str, metric_json: str, champion_policy_json: str, champion_run: str,
                       champion_model_uri: str, bootstrap_samples: int, seed: int, output_uri: str,
                       best_model: Output[Model]) -> str:
    """Returns JSON: best (its evaluation), candidates (all evaluations), comparison (camelCase)."""
    import json
    import shutil
    import tempfile

    import joblib
    import pandas as pd

    from mlops_components import failures, modeling, scoring
    from mlops_components.champions import load_champion
    from mlops_operator.api.mlproject import ChampionPolicy, SuccessMetric
    from mlops_operator.decisions.champion import compare

    with failures.recorded("select_and_compare", output_uri):
        metric = SuccessMetric.model_validate_json(metric_json)
        policy = ChampionPolicy.model_validate_json(champion_policy_json)
        results = [json.loads(e) for e in evaluations]
        direction = 1.0 if metric.lower_is_better() else -1.0
        results.sort(key=lambda r: (direction * r["value"], r["trial"]))
        best = results[0]
        chosen = next(m for m in models if m.metadata.get("trial") == best["trial"])
        shutil.copyfile(chosen.path, best_model.path)
        best_model.metadata.update({k: best[k] for k in ("trial", "candidate", "estimator", "hyperparameters")})

        frame = pd.read_csv(test.path)
        columns = json.loads(schema_json) if schema_json else None
        features = frame[[f["name"] for f in modeling.feature_columns(frame, columns, target)]]
        truth = frame[target].to_numpy()
        champion_value, differences, note = None, None, ""
        champion_name = champion_run or champion_model_uri or None
        if champion_model_uri:
            try:
                with tempfile.TemporaryDirectory() as scratch:
                    champion = load_champion(champion_model_uri, scratch)
                champion_out = scoring.predict(champion, features, metric.name)
                champion_value = scoring.score(metric.name, truth, champion_out)
                challenger_out = scoring.predict(joblib.load(best_model.path), features, metric.name)
                differences = scoring.paired_differences(
                    metric.name, truth, challenger_out, champion_out, bootstrap_samples, seed)
            except Exception as exc:  # a champion unusable on this data cannot block a new model
                note = f"champion {champion_name} could not be scored on these rows ({exc}); "
        verdict = compare(metric, policy, best["value"], champion_value, differences, champion=champion_name)
        if note:
            verdict = verdict.model_copy(update={"reason": note + verdict.reason})
        return json.dumps({"best": best, "candidates": results, "comparison": verdict.wire()}, sort_keys=True)
