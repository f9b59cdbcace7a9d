"""Component: check the data against the project's schema before any training happens."""
from kfp.dsl import Artifact, Dataset, Input, Output


def validate(dataset: Input[Dataset], schema_json: str, target: str, output_uri: str, report: Output[Artifact]) -> str:
    """Fails, naming every offending column, when the data breaks the schema."""
    import json

    import pandas as pd

    from mlops_components import failures, schema_check

    with failures.recorded("validate", output_uri):
        frame = pd.read_csv(dataset.path)
        columns = json.loads(schema_json) if schema_json else None
        problems = schema_check.check(frame, columns, target)
        with open(report.path, "w") as handle:
            json.dump({"valid": not problems, "problems": problems}, handle, indent=2)
        report.metadata["valid"] = not problems
        if problems:
            raise failures.StepFailed(schema_check.describe(problems))
        return f"{len(frame)} rows match the schema"
