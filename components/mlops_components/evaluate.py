"""Component: score one trained model on the held-out rows, with a seeded bootstrap 95% interval."""
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output


def evaluate(trial_json: str, model: Input[Model], test: Input[Dataset], schema_json: str, target: str,
             metric_name: str, bootstrap_samples: int, seed: int, output_uri: str,
             metrics: Output[Metrics], classification_metrics: Output[ClassificationMetrics]) -> str:
    """Returns JSON: trial, candidate, estimator, hyperparameters, value, lower, upper."""
    import json

    import joblib
    import numpy as np
    import pandas as pd

    from mlops_components import failures, modeling, scoring

    trial = json.loads(trial_json)
    with failures.recorded(f"evaluate {trial['id']}", output_uri):
        frame = pd.read_csv(test.path)
        columns = json.loads(schema_json) if schema_json else None
        features = [f["name"] for f in modeling.feature_columns(frame, columns, target)]
        fitted = joblib.load(model.path)
        truth = frame[target].to_numpy()
        outputs = scoring.predict(fitted, frame[features], metric_name)
        value = scoring.score(metric_name, truth, outputs)
        interval = scoring.bootstrap_interval(metric_name, truth, outputs, bootstrap_samples, seed)
        metrics.log_metric(metric_name, value)
        if interval:
            metrics.log_metric(f"{metric_name}_ci_lower", interval[0])
            metrics.log_metric(f"{metric_name}_ci_upper", interval[1])
        if outputs.classes is not None:
            from sklearn.metrics import confusion_matrix, roc_curve

            labels = [str(c) for c in outputs.classes]
            matrix = confusion_matrix(truth, outputs.labels, labels=outputs.classes)
            classification_metrics.log_confusion_matrix(labels, matrix.tolist())
            if len(outputs.classes) == 2 and outputs.scores is None and hasattr(fitted, "predict_proba"):
                outputs = scoring.predict(fitted, frame[features], "roc_auc")
            if len(outputs.classes) == 2 and outputs.scores is not None:
                positive = outputs.scores[:, 1] if outputs.scores.ndim == 2 else outputs.scores
                fpr, tpr, thresholds = roc_curve(truth == outputs.classes[1], positive)
                keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 100)).astype(int))
                finite = np.clip(thresholds[keep], -1e12, 1e12)
                classification_metrics.log_roc_curve(fpr[keep].tolist(), tpr[keep].tolist(), finite.tolist())
        return json.dumps({
            "trial": trial["id"], "candidate": trial["candidate"], "estimator": trial["estimator"],
            "hyperparameters": trial["hyperparameters"], "value": value,
            "lower": interval[0] if interval else None, "upper": interval[1] if interval else None,
        }, sort_keys=True)
