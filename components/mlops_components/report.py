"""Component: the TrainingRun report, one self-contained HTML file beside the model and a KFP HTML artifact."""
from kfp.dsl import HTML, Dataset, Input, Model, Output


def report(dataset: Input[Dataset], test: Input[Dataset], best_model: Input[Model], selection_json: str,
           schema_json: str, target: str, task: str, metric_name: str, seed: int, run_name: str, dataset_uri: str,
           dataset_version: str, output_uri: str, html_report: Output[HTML]) -> str:
    """Returns the report's URI (`<output_uri>/report.html`, or the artifact's URI without an output location)."""
    import json
    from datetime import datetime, timezone
    from pathlib import Path

    import joblib
    import pandas as pd

    from mlops_components import failures, locations, training_report

    with failures.recorded("report", output_uri):
        text = training_report.build(
            run_name=run_name, dataset_uri=dataset_uri, dataset_version=dataset_version,
            frame=pd.read_csv(dataset.path), test=pd.read_csv(test.path), model=joblib.load(best_model.path),
            selection=json.loads(selection_json), columns=json.loads(schema_json) if schema_json else None,
            target=target, task=task, metric_name=metric_name, seed=seed,
            generated=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        Path(html_report.path).write_text(text, encoding="utf-8")
        uri = html_report.uri
        if output_uri:
            uri = locations.join(output_uri, "report.html")
            locations.write_bytes(uri, text.encode("utf-8"))
        html_report.metadata.update({"reportUri": uri})
        return uri
