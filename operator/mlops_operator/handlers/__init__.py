"""kopf handlers: `kopf run -m mlops_operator.handlers`. They read, call mlops_operator.decisions, and write."""
from . import config, indexes, mlproject, modeldeployment, trainingrun  # noqa: F401  (registers handlers)
from .timers import drop_timer_finalizers

drop_timer_finalizers()
