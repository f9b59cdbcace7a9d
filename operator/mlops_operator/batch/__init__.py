"""Batch scoring: the BatchPrediction pipeline, compiled from the spec, run on the training backends."""
