"""KFP backend: submit the compiled package to a Kubeflow Pipelines API (v2beta1) with kfp.Client.

The run's display name is the TrainingRun name; before creating a run the backend looks for one
with that name in the experiment, so a retried submit (operator restart, API timeout after the
server accepted the run) never creates a second one. API errors are retried with bounded
exponential backoff, then reported as a Lost outcome: never an exception into the handler.
The register step writes result.json (and a failing step error.json) under the run's output
location, where poll reads them (file://, http(s):// or s3:// via mlops_components.locations), with
the object store's credentials from the configured Secret (storage.secretName). Before a submit the
backend checks that the store answers for the output location: a missing bucket or wrong keys fail the
run at once with the store's code, an unreachable endpoint is reported Lost (tried again).
"""
from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mlops_components import locations
from mlops_components.locations import S3Config, StorageError
from mlops_components.failures import ERROR_FILE
from mlops_operator.settings import Settings

from .backend import PipelineJob, TrainingJob, TrainingOutcome, TrainingRequest, compose_status
from .pipeline import CompiledPipeline, PipelineInputs
from .storage import StorageSecretError, StorageSettings, describe, unreachable

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Where runs write their outputs when nothing else is configured: KFP's own MinIO bucket.
DEFAULT_ARTIFACT_ROOT = Settings.artifact_root

#: Seconds a create-run call may take (connect, read) before it is retried.
RUN_SERVICE_TIMEOUT = 30.0

#: KFP v2beta1 RuntimeState -> outcome state.
STATES = {
    "RUNTIME_STATE_UNSPECIFIED": "Pending", "PENDING": "Pending",
    "RUNNING": "Running", "PAUSED": "Running", "CANCELING": "Running",
    "SUCCEEDED": "Succeeded", "SKIPPED": "Failed", "FAILED": "Failed", "CANCELED": "Failed",
}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0

    def delays(self):
        delay = self.initial_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)


class ApiUnavailable(RuntimeError):
    """The KFP API kept failing after every retry."""


class ApiRejected(RuntimeError):
    """The KFP API refused the request (4xx): retrying cannot help."""


def _retryable(exc: BaseException) -> bool:
    status = getattr(exc, "status", None)
    return not (isinstance(status, int) and 400 <= status < 500 and status not in (408, 429))


class KfpBackend:
    def __init__(self, endpoint: str, experiment: str, namespace: str | None = None,
                 image: str | None = None, artifact_root: str = DEFAULT_ARTIFACT_ROOT,
                 package_dir: Path | None = None, retry: RetryPolicy = RetryPolicy(),
                 client_factory: Callable[[], Any] | None = None,
                 storage: StorageSettings = StorageSettings()) -> None:
        self.storage = storage
        self.endpoint = endpoint.rstrip("/")
        self.experiment = experiment
        self.namespace = namespace
        self.image = image
        self.artifact_root = artifact_root.rstrip("/")
        self.package_dir = Path(package_dir or tempfile.gettempdir()) / "mlops-kfp-packages"
        self.retry = retry
        self._client_factory = client_factory or self._default_client
        self._client = None
        self._experiment_lock = threading.Lock()
        self._experiment_cache: str | None = None

    # -- the interface ---------------------------------------------------------------------------

    async def submit(self, request: TrainingRequest) -> TrainingOutcome:
        return await self.submit_job(TrainingJob(request))

    async def poll(self, request: TrainingRequest, run_id: str) -> TrainingOutcome:
        return await self.poll_job(TrainingJob(request), run_id)

    async def submit_job(self, job: PipelineJob) -> TrainingOutcome:
        """Any PipelineJob (training, batch scoring)."""
        s3 = await self._access(job, check=True)
        if isinstance(s3, TrainingOutcome):
            return s3
        return await asyncio.to_thread(self._guarded, lambda j: self._submit(j, s3), job)

    async def poll_job(self, job: PipelineJob, run_id: str) -> TrainingOutcome:
        s3 = await self._access(job, check=False)
        if isinstance(s3, TrainingOutcome):
            return s3
        return await asyncio.to_thread(self._guarded, lambda j: self._poll(j, run_id, s3), job)

    async def _access(self, job: PipelineJob, check: bool) -> S3Config | TrainingOutcome:
        """The operator's credentials (from the Secret) and, before a submit, proof the output location answers."""
        try:
            return await self.storage.reach(job.namespace, self.output_uri(job), check)
        except (StorageSecretError, StorageError) as exc:
            return self._storage_outcome(exc)

    @staticmethod
    def _storage_outcome(exc: Exception) -> TrainingOutcome:
        state = "Lost" if isinstance(exc, StorageError) and unreachable(exc) else "Failed"
        return TrainingOutcome(state=state, message=describe(exc),  # type: ignore[arg-type]
                               status=compose_status({"backend": "kfp", "state": state}, None))

    # -- blocking implementation (runs in a worker thread) --------------------------------------

    def output_uri(self, job: TrainingRequest | PipelineJob) -> str:
        job = TrainingJob(job) if isinstance(job, TrainingRequest) else job
        return job.remote_output(self.artifact_root)

    def inputs(self, request: TrainingRequest) -> PipelineInputs:
        return TrainingJob(request).inputs(self.output_uri(request), self.image)

    def _default_client(self):
        import kfp

        with warnings.catch_warnings():  # "only works with KFP >= 2.0.0-beta.2": we target v2beta1
            warnings.simplefilter("ignore", FutureWarning)
            return kfp.Client(host=self.endpoint, namespace=self.namespace or "kubeflow")

    def _guarded(self, action: Callable[[PipelineJob], TrainingOutcome], request: PipelineJob) -> TrainingOutcome:
        try:
            return action(request)
        except StorageError as exc:  # the result could not be read: the store's code goes to status
            return self._storage_outcome(exc)
        except ApiUnavailable as exc:
            return TrainingOutcome(state="Lost", message=str(exc),
                                   status=compose_status({"backend": "kfp", "state": "Lost"}, None))
        except ApiRejected as exc:
            return TrainingOutcome(state="Failed", message=str(exc),
                                   status=compose_status({"backend": "kfp", "state": "Failed"}, None))

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """fn() with bounded exponential backoff on API / network errors."""
        delays = self.retry.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                if self._client is None:
                    self._client = self._client_factory()
                return fn()
            except Exception as exc:  # ApiException, urllib3 errors, refused connections...
                if not _retryable(exc):
                    raise ApiRejected(f"KFP API at {self.endpoint} rejected {what}: {_short(exc)}") from exc
                delay = next(delays, None)
                if delay is None:
                    raise ApiUnavailable(f"KFP API at {self.endpoint}: {what} failed after {attempt} attempts: "
                                         f"{_short(exc)}") from exc
                log.warning("KFP %s failed (attempt %d), retrying in %.2fs: %s", what, attempt, delay, _short(exc))
                time.sleep(delay)

    def _experiment_id(self) -> str:
        """The experiment's id, resolved once: concurrent submissions must not each create it."""
        with self._experiment_lock:
            if self._experiment_cache is None:
                self._experiment_cache = self._call("create_experiment", self._get_or_create_experiment)
            return self._experiment_cache

    def _get_or_create_experiment(self) -> str:
        try:
            return self._client.create_experiment(name=self.experiment, namespace=self.namespace).experiment_id
        except ValueError as exc:  # kfp.Client: "Multiple experiments is found with name ..."
            if not str(exc).startswith("Multiple experiments"):
                raise
        except Exception as exc:
            if getattr(exc, "status", None) != 409:  # another creator won the race: read theirs
                raise
        # Duplicates exist (created elsewhere, or by an older version): use the oldest, deterministically.
        predicate = {"key": "display_name", "operation": "EQUALS", "string_value": self.experiment}
        found = self._client.list_experiments(filter=json.dumps({"predicates": [predicate]}), sort_by="created_at",
                                              namespace=self.namespace, page_size=1)
        return found.experiments[0].experiment_id

    def _find_run(self, experiment_id: str, run_name: str) -> Run | None:
        flt = json.dumps({"predicates": [{"key": "display_name", "operation": "EQUALS", "stringValue": run_name}]})
        query = {"experiment_id": experiment_id, "filter": flt, "page_size": "10", "sort_by": "created_at desc"}
        response = self._call("list_runs", lambda: run_service(self._client, "GET", "", query=query))
        runs = [Run.of(r) for r in response.get("runs") or [] if r.get("display_name") == run_name]
        return runs[0] if runs else None

    def _submit(self, request: PipelineJob, s3: S3Config | None = None) -> TrainingOutcome:
        try:
            compiled = request.compile(self.output_uri(request), self.image, self.storage)
        except ValueError as exc:
            return TrainingOutcome(state="Failed", message=f"pipeline not built: {exc}",
                                   status=compose_status({"backend": "kfp", "state": "Failed"}, None))
        experiment_id = self._experiment_id()
        delays = self.retry.delays()
        while True:
            existing = self._find_run(experiment_id, request.run_name)
            if existing is not None:
                return self._outcome(request, existing, compiled.digest, s3)
            try:
                created = create_run(self._client, experiment_id, request.run_name, compiled)
                return self._outcome(request, created, compiled.digest, s3)
            except Exception as exc:  # the server may have created it anyway: look again first
                if not _retryable(exc):
                    raise ApiRejected(f"KFP API at {self.endpoint} rejected the run: {_short(exc)}") from exc
                delay = next(delays, None)
                if delay is None:
                    raise ApiUnavailable(f"KFP API at {self.endpoint}: create run failed: {_short(exc)}") from exc
                log.warning("KFP create run failed, retrying in %.2fs: %s", delay, _short(exc))
                time.sleep(delay)

    def _poll(self, request: PipelineJob, run_id: str, s3: S3Config | None = None) -> TrainingOutcome:
        run = Run.of(self._call("get_run", lambda: run_service(self._client, "GET", f"/{run_id}")))
        # The digest was reported at submit; the poll's request may lack the champion it was built with.
        return self._outcome(request, run, None, s3)

    def _outcome(self, request: PipelineJob, run: Run, digest: str | None, s3: S3Config | None = None) -> TrainingOutcome:
        raw_state = run.state
        state = STATES.get(raw_state, "Running")
        url = f"{self.endpoint}/#/runs/details/{run.run_id}"
        message = f"KFP run {raw_state.lower()}"
        result = None
        if state == "Succeeded":
            result = self._read_json(locations.join(self.output_uri(request), "result.json"), s3)
            if result is None:
                state, message = "Failed", f"KFP run succeeded but wrote no result at {self.output_uri(request)}"
        elif state == "Failed":
            message = self._failure_message(request, run, raw_state, s3)
        pipeline = {"backend": "kfp", "digest": digest, "runId": run.run_id, "url": url, "state": raw_state}
        return TrainingOutcome(state=state, message=message, run_id=run.run_id, url=url,  # type: ignore[arg-type]
                               status=compose_status(pipeline, result))

    def _failure_message(self, request: PipelineJob, run: Run, raw_state: str, s3: S3Config | None = None) -> str:
        error = self._read_json(locations.join(self.output_uri(request), ERROR_FILE), s3)
        if error:
            return f"step {error.get('step')} failed: {error.get('message')}"
        if raw_state == "CANCELED":
            return "KFP run was canceled"
        if run.failed_steps:
            step, message = run.failed_steps[0]
            return f"step {step} failed: {message}"
        if run.error:
            return f"KFP run failed: {run.error}"
        return f"KFP run {raw_state.lower()}"

    @staticmethod
    def _read_json(uri: str, s3: S3Config | None = None) -> dict | None:
        """The document at `uri`; None when missing; a StorageError when the store refuses (wrong keys...)."""
        try:
            return json.loads(locations.read_bytes(uri, s3))
        except StorageError as exc:
            if exc.not_found:
                return None
            raise
        except Exception as exc:  # missing or unreadable: the caller words the consequence
            log.info("could not read %s: %s", uri, _short(exc))
            return None


@dataclass(frozen=True)
class Run:
    """What an outcome reads of a KFP v2beta1 Run, straight from its JSON. kfp_server_api's generated models
    make a Configuration per object, and each resets the level of two loggers, which empties every logger's
    level cache in the process: with 1,000 runs, kopf's log calls were paying for it (issue 8, py-spy)."""

    run_id: str
    display_name: str
    state: str
    error: str  # the run's error message, if any
    failed_steps: tuple[tuple[str, str], ...]  # (step, its error message) of the tasks that failed

    @classmethod
    def of(cls, doc: dict) -> "Run":
        tasks = ((doc.get("run_details") or {}).get("task_details")) or []
        return cls(run_id=doc.get("run_id") or "", display_name=doc.get("display_name") or "",
                   state=doc.get("state") or "RUNTIME_STATE_UNSPECIFIED",
                   error=(doc.get("error") or {}).get("message") or "",
                   failed_steps=tuple((t.get("display_name") or "", (t.get("error") or {}).get("message") or "")
                                      for t in tasks if t.get("state") == "FAILED" and (t.get("error") or {}).get("message")))


def run_service(client, method: str, path: str, body: bytes | None = None, query: dict[str, str] | None = None) -> dict:
    """One call to KFP's run service (`/apis/v2beta1/runs` + path), as JSON, through the client's own connection
    pool and authentication. The generated client walks and re-serialises the whole pipeline spec per run
    (the operator's largest CPU cost at 1,000 TrainingRuns, issue 8) and builds its models expensively (see
    Run). The one place that uses kfp's internals (`Client._run_api`, its ApiClient; kfp pinned to 2.17.0,
    tests/training/test_kfp_submission.py fails loudly if they move)."""
    from kfp_server_api.exceptions import ApiException
    from kfp_server_api.rest import RESTResponse

    api_client = client._run_api.api_client
    headers = {**api_client.default_headers, "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if api_client.cookie:
        headers["Cookie"] = api_client.cookie
    api_client.update_params_for_auth(headers, [], ["Bearer"])
    url = f"{api_client.configuration.host}/apis/v2beta1/runs{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    response = RESTResponse(api_client.rest_client.pool_manager.request(
        method, url, headers=headers, body=body, timeout=RUN_SERVICE_TIMEOUT))
    if not 200 <= response.status <= 299:
        raise ApiException(http_resp=response)
    return json.loads(response.data or b"{}")


def create_run(client, experiment_id: str, name: str, compiled: CompiledPipeline) -> Run:
    """What `kfp.Client.run_pipeline(arguments=...)` sends, with the body serialised by us (see run_service)."""
    return Run.of(run_service(client, "POST", "", body=compiled.run_body(experiment_id, name)))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
