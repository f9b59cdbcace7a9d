"""Component: fit one candidate at one grid point as a full sklearn Pipeline."""
from kfp.dsl import Dataset, Input, Model, Output


def train(trial_json: str, train: Input[Dataset], schema_json: str, target: str, task: str, seed: int,
          output_uri: str, model: Output[Model]) -> str:
    """Saves the fitted Pipeline with joblib; returns the trial id."""
    import json

    import joblib
    import pandas as pd

    from mlops_components import failures, modeling

    trial = json.loads(trial_json)
    with failures.recorded(f"train {trial['id']}", output_uri):
        frame = pd.read_csv(train.path)
        columns = json.loads(schema_json) if schema_json else None
        features = modeling.feature_columns(frame, columns, target)
        pipeline = modeling.make_pipeline(trial, features, task, seed)
        pipeline.fit(frame[[f["name"] for f in features]], frame[target])
        joblib.dump(pipeline, model.path)
        model.metadata.update({"trial": trial["id"], "candidate": trial["candidate"],
                               "estimator": trial["estimator"], "hyperparameters": trial["hyperparameters"],
                               "framework": "sklearn"})
        return trial["id"]
