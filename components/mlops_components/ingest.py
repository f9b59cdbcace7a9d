"""Component: fetch the dataset and fingerprint it (sha256 of its canonical CSV) for lineage."""
from kfp.dsl import Dataset, Output


def ingest(dataset_uri: str, dataset_format: str, target: str, output_uri: str, dataset: Output[Dataset]) -> str:
    """Writes the data as CSV to `dataset`; returns the content digest."""
    from mlops_components import datasets, failures

    with failures.recorded("ingest", output_uri):
        frame = datasets.load(dataset_uri, dataset_format, target)
        content = datasets.canonical_csv(frame)
        with open(dataset.path, "wb") as handle:
            handle.write(content)
        digest = datasets.digest(frame)
        dataset.metadata.update({"digest": digest, "rows": len(frame), "columns": len(frame.columns),
                                 "source": dataset_uri})
        return digest
