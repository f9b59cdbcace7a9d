"""Local backend: a compiled pipeline runs under kfp.local in a child process per run (TrainingRun or batch).

Everything lives in the run directory (see runfiles), so the outcome survives an operator restart
and a second submit of the same run name finds the first one instead of starting another. Only
when the runner died without a verdict (its process gone, no state.json) does submit start it
again, at most MAX_ATTEMPTS times; poll reports such a run as Lost.

With an object store configured (`artifact_root` s3://...), the pipeline writes its model, result and
report there instead of the run directory, so Seldon's pods can load the model; the runner process gets
the store's settings and the Secret's keys as environment variables (never written to disk).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from mlops_components import catalog, locations
from mlops_components.locations import S3Config, StorageError

from . import runfiles
from .backend import PipelineJob, TrainingJob, TrainingOutcome, TrainingRequest, compose_status
from .pipeline import PipelineInputs
from .storage import StorageSecretError, StorageSettings, describe, unreachable


#: Runner processes started for one run before giving up on it (restarts killed the others).
MAX_ATTEMPTS = 3


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead, whatever kill(0) says
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


class LocalBackend:
    def __init__(self, data_dir: Path, image: str = catalog.DEFAULT_IMAGE, python: str = sys.executable,
                 storage: StorageSettings = StorageSettings(), artifact_root: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.image = image
        self.python = python
        self.storage = storage
        self.artifact_root = artifact_root.rstrip("/") if artifact_root else None
        self._children: dict[Path, subprocess.Popen] = {}

    def directory(self, request: TrainingRequest) -> Path:
        return TrainingJob(request).local_directory(self.data_dir)

    def output_uri(self, job: TrainingRequest | PipelineJob) -> str:
        """Where the pipeline writes: the object store's artifact root when configured, else the run directory."""
        job = TrainingJob(job) if isinstance(job, TrainingRequest) else job
        if self.artifact_root:
            return job.remote_output(self.artifact_root)
        return self.job_directory(job).as_uri()

    def inputs(self, request: TrainingRequest) -> PipelineInputs:
        return TrainingJob(request).inputs(self.output_uri(request), self.image, self.storage)

    async def submit(self, request: TrainingRequest) -> TrainingOutcome:
        return await self.submit_job(TrainingJob(request))

    async def poll(self, request: TrainingRequest, run_id: str) -> TrainingOutcome:
        return await self.poll_job(TrainingJob(request))

    # -- any PipelineJob (training, batch scoring) ---------------------------------------------

    def job_directory(self, job: PipelineJob) -> Path:
        return Path(job.local_directory(self.data_dir))

    async def submit_job(self, job: PipelineJob) -> TrainingOutcome:
        s3 = await self._access(job, check=True)
        if isinstance(s3, TrainingOutcome):
            return s3
        return await asyncio.to_thread(self._guarded, lambda: self._submit(job, s3))

    async def poll_job(self, job: PipelineJob) -> TrainingOutcome:
        s3 = await self._access(job, check=False)
        if isinstance(s3, TrainingOutcome):
            return s3
        return await asyncio.to_thread(self._guarded, lambda: self._poll(job, s3))

    async def _access(self, job: PipelineJob, check: bool) -> S3Config | TrainingOutcome:
        """The operator's credentials for the output location (and, before a submit, proof that it answers)."""
        if not self.artifact_root:
            return S3Config()
        try:
            return await self.storage.reach(job.namespace, self.output_uri(job), check)
        except (StorageSecretError, StorageError) as exc:
            return self._storage_outcome(job, exc)

    def _storage_outcome(self, job: PipelineJob, exc: Exception) -> TrainingOutcome:
        state = "Lost" if isinstance(exc, StorageError) and unreachable(exc) else "Failed"
        return self._outcome(job, state, describe(exc), None)

    def _guarded(self, action) -> TrainingOutcome:
        try:
            return action()
        except StorageError as exc:  # reading the result: the store's refusal goes to status, not a traceback
            return TrainingOutcome(state="Lost" if unreachable(exc) else "Failed", message=describe(exc),
                                   status=compose_status({"backend": "local", "state": "Failed"}, None))

    def _submit(self, job: PipelineJob, s3: S3Config | None = None) -> TrainingOutcome:
        s3 = s3 or S3Config()
        directory = self.job_directory(job)
        if (directory / runfiles.LAUNCH).exists():
            current = self._poll(job, s3)
            if current.state != "Lost":
                return current
            return self._relaunch(job, current, s3)
        try:
            compiled = job.compile(self.output_uri(job), self.image, self.storage)
        except ValueError as exc:  # bad candidates / hyperparameters: the user's to fix
            return TrainingOutcome(state="Failed", message=f"pipeline not built: {exc}",
                                   status=compose_status({"backend": "local", "state": "Failed"}, None))
        directory.mkdir(parents=True, exist_ok=True)
        if not runfiles.claim(directory / runfiles.LAUNCH, {"digest": compiled.digest, "attempt": 1}):
            return self._poll(job, s3)
        compiled.write(directory / runfiles.PIPELINE)
        return self._launch(job, compiled.digest, attempt=1, s3=s3)

    def _launch(self, job: PipelineJob, digest: str, attempt: int, s3: S3Config | None = None) -> TrainingOutcome:
        directory = self.job_directory(job)
        env = {**os.environ, **self.storage.env_with(s3 or S3Config())} if self.artifact_root else None
        with open(directory / runfiles.LOG, "ab") as log:
            child = subprocess.Popen(
                [self.python, "-m", "mlops_operator.training.local_runner", str(directory)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory,
                start_new_session=True,  # an operator stopped with ^C leaves the training finishing
                env=env,
            )
        self._children[directory] = child
        runfiles.write_json(directory / runfiles.LAUNCH, {"digest": digest, "pid": child.pid, "attempt": attempt})
        return self._outcome(job, "Running", f"pipeline started (attempt {attempt})", digest)

    def _relaunch(self, job: PipelineJob, lost: TrainingOutcome, s3: S3Config | None = None) -> TrainingOutcome:
        """The runner died without a verdict (e.g. the operator's pod restarted): run it again, a bounded number of times."""
        directory = self.job_directory(job)
        launch = runfiles.read_json(directory / runfiles.LAUNCH) or {}
        attempt = int(launch.get("attempt", 1))
        if attempt >= MAX_ATTEMPTS or not (directory / runfiles.PIPELINE).exists():
            return lost
        for leftover in (runfiles.ERROR, runfiles.RESULT):
            (directory / leftover).unlink(missing_ok=True)
        return self._launch(job, launch.get("digest", ""), attempt=attempt + 1, s3=s3)

    def _outcome(self, job: PipelineJob, state: str, message: str, digest: str | None,
                 result: dict | None = None) -> TrainingOutcome:
        directory = self.job_directory(job)
        relative = directory.relative_to(self.data_dir.resolve() / "runs") if directory.is_relative_to(
            self.data_dir.resolve() / "runs") else Path(job.namespace) / job.run_name
        run_id = f"local/{relative.as_posix()}"
        url = directory.as_uri()
        pipeline = {"backend": "local", "digest": digest, "runId": run_id, "url": url, "state": state}
        return TrainingOutcome(state=state, message=message, run_id=run_id, url=url,  # type: ignore[arg-type]
                               status=compose_status(pipeline, result))

    def _poll(self, job: PipelineJob, s3: S3Config | None = None) -> TrainingOutcome:
        directory = self.job_directory(job)
        launch = runfiles.read_json(directory / runfiles.LAUNCH)
        if launch is None:
            return self._outcome(job, "Lost", f"no local run {job.run_name} in {directory}", None)
        digest = launch.get("digest")
        final = runfiles.read_json(directory / runfiles.STATE)
        if final is None:
            child = self._children.get(directory)
            pid = launch.get("pid")
            running = child.poll() is None if child is not None else (pid is None or _pid_alive(pid))
            if running:
                return self._outcome(job, "Running", "pipeline running", digest)
            final = runfiles.read_json(directory / runfiles.STATE)  # it may have just finished
            if final is None:
                return self._outcome(job, "Lost", f"runner exited without a result; see {directory / runfiles.LOG}", digest)
        self._children.pop(directory, None)
        if final["state"] != "Succeeded":
            return self._outcome(job, final["state"], final.get("message", ""), digest)
        result = self._result(job, s3 or S3Config())
        if result is None:
            return self._outcome(job, "Failed", f"pipeline succeeded but wrote no result at {self.output_uri(job)}",
                                 digest)
        return self._outcome(job, "Succeeded", final.get("message", ""), digest, result)

    def _result(self, job: PipelineJob, s3: S3Config) -> dict | None:
        if not self.artifact_root:
            return runfiles.read_json(self.job_directory(job) / runfiles.RESULT)
        try:
            return json.loads(locations.read_bytes(locations.join(self.output_uri(job), runfiles.RESULT), s3))
        except StorageError as exc:
            if exc.not_found:
                return None
            raise

    def terminate(self) -> None:
        """Stop runner processes this backend started (shutdown and tests)."""
        for child in list(self._children.values()):
            if child.poll() is None:
                # The runner leads its own process group: its kfp.local step processes go with it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
        self._children.clear()
