"""kopf handlers: `kopf run -m mlops_operator.handlers`. They read, call mlops_operator.decisions, and write."""
from . import batchprediction, config, indexes, mlproject, modeldeployment, trainingrun  # noqa: F401  (registers handlers)
from .kopf_internals import drop_spawning_finalizers

drop_spawning_finalizers()
