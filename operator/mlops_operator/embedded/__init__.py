"""An embedded Kubernetes API server (built on kmock's KubernetesEmulator) for running without a cluster."""
from .emulator import EmbeddedKubernetes
from .errors import ApiError
from .server import EmbeddedAPIServer, ThreadedAPIServer

__all__ = ["ApiError", "EmbeddedAPIServer", "EmbeddedKubernetes", "ThreadedAPIServer"]
