"""Components of the batch-scoring pipeline: prepare (check model and input), score (one shard), summarize.

Each is a kfp lightweight component running the components image, which installs this project, so
the work lives in mlops_components.batch_rows and the functions here only move parameters.
"""
from typing import List


def batch_prepare(model_uri: str, input_uri: str, input_format: str, keep_columns_json: str,
                  output_uri: str) -> str:
    """Fails (ModelNotFound, InputMissing, SchemaMismatch, EmptyInput) when the batch cannot be scored at all.

    Returns JSON: the model's features, task and digest, and the input's digest."""
    import json
    import tempfile
    from pathlib import Path

    from mlops_components import batch_rows, failures

    with failures.recorded("prepare", output_uri):
        scratch = Path(tempfile.mkdtemp(prefix="batch-prepare-"))
        model = batch_rows.load_model(model_uri, scratch / "model")
        dataset = batch_rows.open_input(input_uri, input_format, model.features, scratch)
        batch_rows.check_columns(dataset, model.features, json.loads(keep_columns_json or "[]"))
        batch_rows.check_first_chunk(dataset, model.features)
        return json.dumps({"features": model.features, "task": model.task, "modelDigest": model.digest,
                           "inputDigest": batch_rows.input_digest(input_uri, input_format, dataset)}, sort_keys=True)


def batch_score(plan_json: str, model_uri: str, input_uri: str, input_format: str, schema_json: str,
                keep_columns_json: str, chunk_size: int, shard: int, shards: int, predictions_uri: str,
                output_uri: str) -> str:
    """Score one shard of the input, chunk by chunk; returns its tally (JSON counts, output files)."""
    import json
    import tempfile
    from pathlib import Path

    from mlops_components import batch_rows, failures

    with failures.recorded(f"score-{shard}", output_uri):
        scratch = Path(tempfile.mkdtemp(prefix=f"batch-score-{shard}-"))
        model = batch_rows.load_model(model_uri, scratch / "model")
        dataset = batch_rows.open_input(input_uri, input_format, model.features, scratch)
        tally = batch_rows.score_shard(
            model, dataset, schema_columns=json.loads(schema_json) if schema_json else None,
            keep=json.loads(keep_columns_json or "[]"), chunk_size=chunk_size, shard=shard, shards=shards,
            output_uri=predictions_uri, scratch=scratch)
        return json.dumps(tally.document(), sort_keys=True)


def batch_summarize(tallies: List[str], plan_json: str, model_uri: str, predictions_uri: str, output_uri: str,
                    drift_statistic: str, drift_threshold: float, training_run: str, input_uri: str,
                    input_version: str, pipeline_digest: str) -> str:
    """Add up the shards, judge drift against the model's training reference, write summary.json and result.json."""
    import json

    from mlops_components import batch_rows, failures, locations

    with failures.recorded("summarize", output_uri):
        plan = json.loads(plan_json)
        total = batch_rows.merge([json.loads(t) for t in tallies])
        reference = None
        try:
            reference = json.loads(locations.read_bytes(locations.join(model_uri, "reference.json")))
        except (OSError, ValueError):
            pass
        scored = total["scored"]
        distribution = {"classes": total["classes"] or None,
                        "meanScore": (total["scoreSum"] / scored) if scored and total["scoreMax"] is not None else None,
                        "minScore": total["scoreMin"], "maxScore": total["scoreMax"]}
        summary = {
            "rows": total["rows"], "scored": scored, "rejected": total["rejected"],
            "rejectedBy": dict(sorted(total["reasons"].items(), key=lambda kv: -kv[1])[:20]),
            "predictions": {k: v for k, v in distribution.items() if v is not None},
            "drift": batch_rows.drift_summary(reference, total["featureCounts"], None, drift_statistic, drift_threshold),
            "predictionDrift": batch_rows.drift_summary(reference, total["predictionCounts"], "predictions",
                                                        drift_statistic, drift_threshold),
        }
        digest = batch_rows.output_digest(total["files"])
        output = {"uri": locations.join(predictions_uri, batch_rows.PREDICTIONS_DIR), "digest": digest,
                  "rejectedUri": locations.join(predictions_uri, batch_rows.REJECTED_DIR),
                  "summaryUri": locations.join(predictions_uri, batch_rows.SUMMARY_FILE)}
        lineage = {"trainingRun": training_run or None, "modelUri": model_uri, "modelDigest": plan.get("modelDigest"),
                   "inputUri": input_uri, "inputVersion": input_version or None, "inputDigest": plan.get("inputDigest"),
                   "pipelineDigest": pipeline_digest}
        document = {**summary, "output": output, "lineage": {k: v for k, v in lineage.items() if v is not None},
                    "files": total["files"]}
        locations.write_bytes(locations.join(predictions_uri, batch_rows.SUMMARY_FILE),
                              json.dumps(document, indent=2, sort_keys=True).encode())
        result = {"rowsScored": scored, "rowsRejected": total["rejected"], "output": output,
                  "lineage": document["lineage"],
                  "summary": {k: v for k, v in summary.items() if k not in ("rows", "scored", "rejected") and v}}
        text = json.dumps(result, sort_keys=True)
        locations.write_bytes(locations.join(output_uri, "result.json"), text.encode())
        return text
