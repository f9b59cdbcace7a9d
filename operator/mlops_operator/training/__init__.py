"""Training: compile the kfp v2 pipeline for a TrainingRun and run it on a backend (local or KFP)."""
