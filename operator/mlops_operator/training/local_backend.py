"""Local backend: a compiled pipeline runs under kfp.local in a child process per run (TrainingRun or batch).

Everything lives in the run directory (see runfiles), so the outcome survives an operator restart
and a second submit of the same run name finds the first one instead of starting another. Only
when the runner died without a verdict (its process gone, no state.json) does submit start it
again, at most MAX_ATTEMPTS times; poll reports such a run as Lost.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from mlops_components import catalog

from . import runfiles
from .backend import PipelineJob, TrainingJob, TrainingOutcome, TrainingRequest, compose_status
from .pipeline import PipelineInputs


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
    def __init__(self, data_dir: Path, image: str = catalog.DEFAULT_IMAGE, python: str = sys.executable) -> None:
        self.data_dir = Path(data_dir)
        self.image = image
        self.python = python
        self._children: dict[Path, subprocess.Popen] = {}

    def directory(self, request: TrainingRequest) -> Path:
        return TrainingJob(request).local_directory(self.data_dir)

    def inputs(self, request: TrainingRequest) -> PipelineInputs:
        return TrainingJob(request).inputs(self.directory(request).as_uri(), self.image)

    async def submit(self, request: TrainingRequest) -> TrainingOutcome:
        return await self.submit_job(TrainingJob(request))

    async def poll(self, request: TrainingRequest, run_id: str) -> TrainingOutcome:
        return await self.poll_job(TrainingJob(request))

    # -- any PipelineJob (training, batch scoring) ---------------------------------------------

    def job_directory(self, job: PipelineJob) -> Path:
        return Path(job.local_directory(self.data_dir))

    async def submit_job(self, job: PipelineJob) -> TrainingOutcome:
        return await asyncio.to_thread(self._submit, job)

    async def poll_job(self, job: PipelineJob) -> TrainingOutcome:
        return await asyncio.to_thread(self._poll, job)

    def _submit(self, job: PipelineJob) -> TrainingOutcome:
        directory = self.job_directory(job)
        if (directory / runfiles.LAUNCH).exists():
            current = self._poll(job)
            if current.state != "Lost":
                return current
            return self._relaunch(job, current)
        try:
            compiled = job.compile(directory.as_uri(), self.image)
        except ValueError as exc:  # bad candidates / hyperparameters: the user's to fix
            return TrainingOutcome(state="Failed", message=f"pipeline not built: {exc}",
                                   status=compose_status({"backend": "local", "state": "Failed"}, None))
        directory.mkdir(parents=True, exist_ok=True)
        if not runfiles.claim(directory / runfiles.LAUNCH, {"digest": compiled.digest, "attempt": 1}):
            return self._poll(job)
        compiled.write(directory / runfiles.PIPELINE)
        return self._launch(job, compiled.digest, attempt=1)

    def _launch(self, job: PipelineJob, digest: str, attempt: int) -> TrainingOutcome:
        directory = self.job_directory(job)
        with open(directory / runfiles.LOG, "ab") as log:
            child = subprocess.Popen(
                [self.python, "-m", "mlops_operator.training.local_runner", str(directory)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory,
                start_new_session=True,  # an operator stopped with ^C leaves the training finishing
            )
        self._children[directory] = child
        runfiles.write_json(directory / runfiles.LAUNCH, {"digest": digest, "pid": child.pid, "attempt": attempt})
        return self._outcome(job, "Running", f"pipeline started (attempt {attempt})", digest)

    def _relaunch(self, job: PipelineJob, lost: TrainingOutcome) -> TrainingOutcome:
        """The runner died without a verdict (e.g. the operator's pod restarted): run it again, a bounded number of times."""
        directory = self.job_directory(job)
        launch = runfiles.read_json(directory / runfiles.LAUNCH) or {}
        attempt = int(launch.get("attempt", 1))
        if attempt >= MAX_ATTEMPTS or not (directory / runfiles.PIPELINE).exists():
            return lost
        for leftover in (runfiles.ERROR, runfiles.RESULT):
            (directory / leftover).unlink(missing_ok=True)
        return self._launch(job, launch.get("digest", ""), attempt=attempt + 1)

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

    def _poll(self, job: PipelineJob) -> TrainingOutcome:
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
        result = runfiles.read_json(directory / runfiles.RESULT) if final["state"] == "Succeeded" else None
        return self._outcome(job, final["state"], final.get("message", ""), digest, result)

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
