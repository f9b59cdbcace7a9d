"""The custom resources' API: pydantic models are the source of truth for the CRD schemas."""
from .batchprediction import BatchPrediction, BatchPredictionSpec, BatchPredictionStatus
from .common import API_VERSION, GROUP, VERSION, Condition, find_condition, parse_duration, set_condition
from .mlproject import MLProject, MLProjectSpec, MLProjectStatus
from .modeldeployment import ModelDeployment, ModelDeploymentSpec, ModelDeploymentStatus
from .trainingrun import TrainingRun, TrainingRunSpec, TrainingRunStatus

__all__ = [
    "BatchPrediction", "BatchPredictionSpec", "BatchPredictionStatus",
    "API_VERSION", "GROUP", "VERSION", "Condition", "find_condition", "parse_duration", "set_condition",
    "MLProject", "MLProjectSpec", "MLProjectStatus",
    "ModelDeployment", "ModelDeploymentSpec", "ModelDeploymentStatus",
    "TrainingRun", "TrainingRunSpec", "TrainingRunStatus",
]
