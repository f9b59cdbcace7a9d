"""Component: write the model directory, publish it at the run's output location, and report the result."""
from kfp.dsl import Dataset, Input, Model, Output


def register(best_model: Input[Model], train: Input[Dataset], test: Input[Dataset], selection_json: str,
             schema_json: str, target: str, task: str, metric_name: str, model_name: str, dataset_uri: str,
             dataset_version: str, dataset_digest: str, pipeline_digest: str, code_version: str, seed: int,
             champion_run: str, output_uri: str, report_uri: str, model_dir: Output[Model]) -> str:
    """Returns the TrainingRun status fields (camelCase JSON): model, metric, candidates, comparison, lineage, report."""
    import json
    from pathlib import Path

    import joblib
    import pandas as pd

    from mlops_components import failures, locations, modeldir, modeling

    with failures.recorded("register", output_uri):
        selection = json.loads(selection_json)
        best = selection["best"]
        frame = pd.read_csv(train.path)
        columns = json.loads(schema_json) if schema_json else None
        features = modeling.feature_columns(frame, columns, target)
        from mlops_operator.api.common import display_number

        metric = {"name": metric_name, "value": best["value"], "lower": best["lower"], "upper": best["upper"],
                  "display": display_number(best["value"])}
        candidates = [{"candidate": r["candidate"], "estimator": r["estimator"],
                       "hyperparameters": r["hyperparameters"], "value": r["value"]} for r in selection["candidates"]]
        directory = Path(model_dir.path)
        digest = modeldir.write(
            directory, joblib.load(best_model.path), name=model_name, version=model_name, features=features,
            target=target, task=task, train_frame=frame, heldout_frame=pd.read_csv(test.path),
            metrics={"metric": metric, "candidates": candidates, "comparison": selection["comparison"]},
            schema=columns,
        )
        if output_uri:
            model_uri = locations.join(output_uri, "model")
            locations.copy_directory(directory, model_uri)
        else:
            model_uri = model_dir.uri
        result = {
            "model": {"uri": model_uri, "digest": digest, "candidate": best["candidate"],
                      "estimator": best["estimator"], "hyperparameters": best["hyperparameters"]},
            "metric": metric,
            "candidates": candidates,
            "comparison": selection["comparison"],
            "lineage": {"datasetUri": dataset_uri, "datasetVersion": dataset_version, "datasetDigest": dataset_digest,
                        "pipelineDigest": pipeline_digest, "codeVersion": code_version, "seed": seed,
                        "parentChampion": champion_run or None},
            "report": {"uri": report_uri} if report_uri else None,
        }
        result = {k: ({kk: vv for kk, vv in v.items() if vv is not None} if isinstance(v, dict) else v)
                  for k, v in result.items() if v is not None}
        model_dir.metadata.update({"modelUri": model_uri, "digest": digest,
                                   "decision": selection["comparison"]["decision"]})
        text = json.dumps(result, sort_keys=True)
        if output_uri:
            locations.write_bytes(locations.join(output_uri, "result.json"), text.encode())
        return text
