"""An embedded Kubernetes API server for running the operator, kubectl and tests without a cluster.

Built on kmock's KubernetesEmulator (see `emulator.py` for what is kept and what is replaced)::

    async with EmbeddedAPIServer() as api:           # http://127.0.0.1:<free port>
        api.apply_files(*Path("crds").glob("*.yaml"))
        api.write_kubeconfig(".dev/kubeconfig")      # for kubectl
        ...                                          # kopf: ConnectionInfo(server=api.url)

    with ThreadedAPIServer() as api:                 # the same, on a background thread, for sync code
        api.apply({...})

Also runnable alone: `python -m mlops_operator.embedded --kubeconfig .dev/kubeconfig --apply crds/*.yaml`.
"""
from .emulator import EmbeddedKubernetes
from .errors import ApiError
from .server import EmbeddedAPIServer, ThreadedAPIServer

__all__ = ["ApiError", "EmbeddedAPIServer", "EmbeddedKubernetes", "ThreadedAPIServer"]
