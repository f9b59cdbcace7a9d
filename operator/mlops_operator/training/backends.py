"""The backends of one operator run: made on first use, one per configuration, kept in the operator's state.

Sharing matters: the local backend tracks the runner processes it started across reconciles, and
the KFP backend reuses its client and experiment. TrainingRuns and BatchPredictions of the same
configuration share one instance. Picking the backend lives here, apart from the interface in
`backend.py`, so neither implementation imports the module that chooses between them.
"""
from __future__ import annotations

from typing import Any

from mlops_operator.api.mlproject import MLProjectSpec
from mlops_operator.settings import Settings

from .backend import TrainingBackend
from .kfp_backend import KfpBackend
from .local_backend import LocalBackend
from .storage import StorageSettings


class Backends:
    def __init__(self) -> None:
        self._made: dict[tuple, TrainingBackend] = {}

    def for_project(self, settings: Settings, project: MLProjectSpec) -> TrainingBackend:
        """The backend the project asks for (training.backend), else the operator's default."""
        return self.get(settings, project.training.backend, project.training.kfp, project.storage)

    def get(self, settings: Settings, kind: str | None, kfp: Any = None, storage: Any = None) -> TrainingBackend:
        """Backend `kind` (else the operator's default) with a project's kfp and storage overrides, if any."""
        kind = kind or settings.training_backend
        resolved = StorageSettings.resolve(settings, storage)
        if kind == "local":
            # With an object store configured, models go there (artifact root), so Seldon's pods can load them.
            root = settings.artifact_root if resolved.configured else None
            key: tuple = ("local", str(settings.data_dir), settings.components_image, resolved, root)
            if key not in self._made:
                self._made[key] = LocalBackend(data_dir=settings.data_dir, image=settings.components_image,
                                               storage=resolved, artifact_root=root)
            return self._made[key]
        if kind == "kfp":
            endpoint = (kfp.endpoint if kfp else None) or settings.kfp_endpoint
            if not endpoint:
                raise ValueError("training.kfp.endpoint: the kfp backend needs an endpoint (or MLOPS_KFP_ENDPOINT)")
            backend = KfpBackend(endpoint=endpoint, experiment=(kfp.experiment if kfp else None) or settings.kfp_experiment,
                                 namespace=kfp.namespace if kfp else None, image=settings.components_image,
                                 artifact_root=settings.artifact_root, package_dir=settings.data_dir / "packages",
                                 storage=resolved)
            key = ("kfp", backend.endpoint, backend.experiment, backend.namespace, backend.image,
                   backend.artifact_root, str(backend.package_dir), backend.storage)
            return self._made.setdefault(key, backend)
        raise ValueError(f"training.backend: unknown backend {kind!r}; use local or kfp")

    def close(self) -> None:
        """Forget the backends. Runs they started go on (a restarted operator finds them, as on KFP)."""
        self._made.clear()

    def terminate(self) -> None:
        """Stop the local runner processes too (tests, and a laptop's `mlops-operator dev` exit)."""
        for backend in list(self._made.values()):
            terminate = getattr(backend, "terminate", None)
            if terminate is not None:
                terminate()
        self._made.clear()
