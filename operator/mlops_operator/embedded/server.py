"""EmbeddedAPIServer: the in-memory Kubernetes API on a loopback port, for `mlops-operator dev` and tests."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp.web
import yaml

from . import errors
from .emulator import EmbeddedKubernetes
from .kubeconfig import write_kubeconfig
from .resources import Registry, ResourceType
from .store import ObjectStore

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster on big CRDs (Seldon's is 1 MB)
MAX_BODY_BYTES = 3 * 1024 * 1024  # the Kubernetes API server's request-size limit
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")


class EmbeddedAPIServer:
    """An async context manager serving EmbeddedKubernetes over HTTP at `url` (http://127.0.0.1:PORT).

    `apply()`/`get()`/`delete()` work from the server's own event loop and from other threads
    (they hop onto the loop), so sync code such as kubectl-driving tests can call them too.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 namespaces: Iterable[str] = DEFAULT_NAMESPACES,
                 request_history: int = 256, watch_history: int = 10_000) -> None:
        self.host = host
        self.port = port
        self.emulator = EmbeddedKubernetes(request_history=request_history, watch_history=watch_history,
                                           address=f"{host}:{port}")
        self._namespaces = tuple(namespaces)
        self._runner: aiohttp.web.BaseRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        for namespace in self._namespaces:
            self._apply_now({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace},
                             "status": {"phase": "Active"}})

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def store(self) -> ObjectStore:
        return self.emulator.store

    @property
    def registry(self) -> Registry:
        return self.emulator.registry

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the embedded API server is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the embedded API server is already started")
        self._loop = asyncio.get_running_loop()
        await self.emulator.__aenter__()
        loop = self._loop

        def make_request(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> aiohttp.web.BaseRequest:
            return aiohttp.web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=MAX_BODY_BYTES)

        # No access log: kopf and kubectl poll a lot. Bodies up to 3 MiB: big CRDs (Seldon's) exceed aiohttp's 1 MiB.
        server = aiohttp.web.Server(self.emulator, request_factory=make_request, access_log=None)
        runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0, handle_signals=False)
        try:
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:  # e.g. the port is taken: release what was set up
            await runner.cleanup()
            await self.emulator.__aexit__(None, None, None)
            raise
        self.port = runner.addresses[0][1] if runner.addresses else self.port
        self.emulator.address = f"{self.host}:{self.port}"
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.store.close_watches()
        await asyncio.sleep(0)  # let watch streams see the end and finish their responses
        await self._runner.cleanup()
        self._runner = None
        await self.emulator.__aexit__(None, None, None)

    async def __aenter__(self) -> "EmbeddedAPIServer":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()

    # -- Python access ------------------------------------------------------------------------

    def _on_loop(self, fn: Any, *args: Any) -> Any:
        """Run `fn` on the server's loop thread if called from elsewhere while it runs."""
        loop = self._loop
        if loop is None or not loop.is_running() or _running_loop() is loop:
            return fn(*args)

        async def call() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=30)

    def resource_for(self, obj: dict[str, Any]) -> ResourceType:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not api_version or not kind:
            raise ValueError("apiVersion and kind are required to apply an object")
        resource = self.registry.by_kind(api_version, kind)
        if resource is None:
            raise ValueError(f"no resource serves apiVersion={api_version!r} kind={kind!r}: apply its CRD first")
        return resource

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or merge-update any object (CRDs included); a `status` in `obj` is written too."""
        return self._on_loop(self._apply_now, obj)

    def _apply_now(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = self.resource_for(obj)
        meta = obj.get("metadata") or {}
        namespace = (meta.get("namespace") or "default") if resource.namespaced else None
        name = meta.get("name")
        status = obj.get("status")
        existing = self.store.find(resource, namespace, name) if name else None
        if existing is None:
            result = self.store.create(resource, namespace, obj)
        else:
            body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
            result, _ = self.store.patch(resource, namespace, name, "merge", body)
        if status is not None and resource.status_subresource and result.get("status") != status:
            result, _ = self.store.patch(resource, namespace, result["metadata"]["name"], "merge",
                                         {"status": status}, subresource="status")
        return result

    def apply_files(self, *paths: str | Path) -> list[dict[str, Any]]:
        """Apply every document of the given (multi-document) YAML files, in order.

        Kustomization files (`kustomize.config.k8s.io`) are build instructions, not API objects: skipped.
        """
        applied = []
        for path in paths:
            for document in yaml.load_all(Path(path).read_text(), Loader=_YAML_LOADER):
                if document and not str(document.get("apiVersion", "")).startswith("kustomize.config.k8s.io/"):
                    applied.append(self.apply(document))
        return applied

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The stored object, or None when absent."""
        resource = self.resource_for({"apiVersion": api_version, "kind": kind})
        namespace = (namespace or "default") if resource.namespaced else None
        return self._on_loop(self.store.find, resource, namespace, name)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Delete like `kubectl delete` (finalizers hold it); None when it was already absent."""
        resource = self.resource_for({"apiVersion": api_version, "kind": kind})
        namespace = (namespace or "default") if resource.namespaced else None
        try:
            return self._on_loop(self.store.delete, resource, namespace, name, None)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def write_kubeconfig(self, path: str | Path, context: str = "mlops-embedded", namespace: str = "default") -> Path:
        return write_kubeconfig(path, self.url, context, namespace)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ThreadedAPIServer:
    """EmbeddedAPIServer on its own event loop in a daemon thread, for sync code (`with` block)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self._args = (host, port)
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="embedded-kube-api", daemon=True)
        self.server: EmbeddedAPIServer | None = None

    def start(self) -> EmbeddedAPIServer:
        self._thread.start()

        async def boot() -> EmbeddedAPIServer:
            server = EmbeddedAPIServer(*self._args, **self._options)
            await server.start()
            return server

        try:
            self.server = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=30)
        except BaseException:
            self.stop()  # e.g. the port is taken: do not leave the loop thread behind
            raise
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=30)
            self.server = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> EmbeddedAPIServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
