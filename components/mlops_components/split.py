"""Component: seeded train/test split, stratified for classification."""
from kfp.dsl import Dataset, Input, Output


def split(dataset: Input[Dataset], target: str, task: str, test_size: float, seed: int, output_uri: str,
          train: Output[Dataset], test: Output[Dataset]) -> int:
    """Returns the seed it used, for lineage."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from mlops_components import failures

    with failures.recorded("split", output_uri):
        frame = pd.read_csv(dataset.path)
        frame = frame[frame[target].notna()].reset_index(drop=True)
        stratify = frame[target] if task == "classification" else None
        train_frame, test_frame = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
        train_frame.to_csv(train.path, index=False)
        test_frame.to_csv(test.path, index=False)
        for artifact, part in ((train, train_frame), (test, test_frame)):
            artifact.metadata.update({"rows": len(part), "seed": seed, "stratified": stratify is not None})
        return seed
