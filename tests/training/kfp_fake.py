"""A small Kubeflow Pipelines API (v2beta1 REST) on 127.0.0.1 for the calls kfp.Client makes.

It keeps experiments and runs in memory, filters by display_name like the real server, can
answer 503 for a while (an outage), and can really execute a submitted pipeline spec: it hands
the IR to the local runner (kfp.local) in a child process and reports the run RUNNING, then
SUCCEEDED or FAILED from that process's result, as a cluster would.

Like a cluster's KFP driver, it gives each step the environment its IR asks for: plain `env`, and the
Secret entries named by the kfp-kubernetes platform spec (`secretAsEnv`), read through `secrets`
(a Secret's name -> its decoded data; the tests read the embedded API). The runner process itself
gets no object-store credentials, so a step that reads or writes s3:// proves the IR's wiring.
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import yaml
from aiohttp import web
from tests.local_http import serve

API = "/apis/v2beta1"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _equalities(filter_text: str | None) -> list[tuple[str, str]]:
    """The EQUALS predicates of a KFP list filter, parsed once per request."""
    predicates = json.loads(filter_text).get("predicates", []) if filter_text else []
    return [(p["key"], p.get("stringValue", p.get("string_value"))) for p in predicates
            if p.get("operation") in ("EQUALS", 1)]


def _matches(item: dict, equalities: list[tuple[str, str]]) -> bool:
    return all(item.get(key) == value for key, value in equalities)


def _with_runtime_parameters(pipeline_spec: dict, values: dict) -> dict:
    """The spec the run executes (set in place): its runtime config's values for the root parameters, as KFP's driver
    resolves them; an unknown parameter or a required one without a value is refused, as KFP does."""
    spec = pipeline_spec.get("pipeline_spec", pipeline_spec)
    parameters = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    unknown = set(values) - set(parameters)
    if unknown:
        raise LookupError(f"runtime parameters not in the pipeline: {sorted(unknown)}")
    missing = [name for name, p in parameters.items() if name not in values and "defaultValue" not in p
               and not p.get("isOptional")]
    if missing:
        raise LookupError(f"required pipeline parameters without a value: {missing}")
    for name, value in values.items():  # in place: the spec was parsed from this request
        parameters[name]["defaultValue"] = value
    return pipeline_spec


class FakeKfp:
    def __init__(self, workdir: Path, execute: bool = False,
                 secrets: Callable[[str], dict[str, str] | None] | None = None) -> None:
        self.workdir = workdir
        self.execute = execute
        self.secrets = secrets
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.submitted: dict[str, dict] = {}  # run id -> the pipeline_spec of its create request, as sent
        self.processes: dict[str, subprocess.Popen] = {}
        self.outage = 0  # answer this many API requests with 503
        self.lose_create_response = 0  # create the run, then answer 503 (a timeout after acceptance)
        self.reject_create = False
        self.requests: list[tuple[str, str, int]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> "FakeKfp":
        app = web.Application(middlewares=[self._outage_middleware])
        app.router.add_get(f"{API}/healthz", self.healthz)
        app.router.add_get(f"{API}/experiments", self.list_experiments)
        app.router.add_post(f"{API}/experiments", self.create_experiment)
        app.router.add_get(f"{API}/runs", self.list_runs)
        app.router.add_post(f"{API}/runs", self.create_run)
        app.router.add_get(f"{API}/runs/{{run_id}}", self.get_run)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        if self._runner:
            await self._runner.cleanup()

    # -- handlers ----------------------------------------------------------------------------

    @web.middleware
    async def _outage_middleware(self, request: web.Request, handler):
        if self.outage > 0 and not request.path.endswith("/healthz"):
            self.outage -= 1
            self.requests.append((request.method, request.path, 503))
            return web.json_response({"error": "upstream connect error", "code": 14}, status=503)
        response = await handler(request)
        self.requests.append((request.method, request.path, response.status))
        return response

    async def healthz(self, request):
        return web.json_response({"multi_user": False})

    async def list_experiments(self, request):
        equalities = _equalities(request.query.get("filter"))
        found = [e for e in self.experiments.values() if _matches(e, equalities)]
        return web.json_response({"experiments": found, "total_size": len(found)} if found else {})

    async def create_experiment(self, request):
        body = await request.json()
        if any(e["display_name"] == body["display_name"] and e.get("namespace") == body.get("namespace")
               for e in self.experiments.values()):  # names are unique per namespace, as on a real server
            return web.json_response({"error": "experiment already exists", "code": 6}, status=409)
        experiment = {"experiment_id": str(uuid.uuid4()), "display_name": body["display_name"],
                      "namespace": body.get("namespace"), "created_at": _now(), "storage_state": "AVAILABLE"}
        self.experiments[experiment["experiment_id"]] = experiment
        return web.json_response(experiment)

    async def list_runs(self, request):
        experiment, equalities = request.query.get("experiment_id"), _equalities(request.query.get("filter"))
        found = [self._refresh(r) for r in self.runs.values()
                 if (experiment is None or r["experiment_id"] == experiment) and _matches(r, equalities)]
        return web.json_response({"runs": found, "total_size": len(found)} if found else {})

    async def create_run(self, request):
        body = await request.json()
        if self.reject_create:
            return web.json_response({"error": "invalid pipeline spec", "code": 3}, status=400)
        try:
            pipeline_spec = _with_runtime_parameters(body["pipeline_spec"],
                                                     (body.get("runtime_config") or {}).get("parameters") or {})
        except LookupError as exc:
            return web.json_response({"error": str(exc), "code": 3}, status=400)
        run_id = str(uuid.uuid4())
        run = {"run_id": run_id, "display_name": body["display_name"], "experiment_id": body["experiment_id"],
               "state": "PENDING", "created_at": _now(), "storage_state": "AVAILABLE"}
        self.runs[run_id] = run
        self.submitted[run_id] = pipeline_spec
        if self.execute:
            self._launch(run_id, pipeline_spec)
        if self.lose_create_response > 0:
            self.lose_create_response -= 1
            return web.json_response({"error": "deadline exceeded", "code": 4}, status=503)
        return web.json_response(run)

    async def get_run(self, request):
        run = self.runs.get(request.match_info["run_id"])
        if run is None:
            return web.json_response({"error": "run not found", "code": 5}, status=404)
        return web.json_response(self._refresh(run))

    # -- the "cluster" ------------------------------------------------------------------------

    def finish(self, run_id: str, state: str, failed_task: str | None = None, message: str = "") -> None:
        run = self.runs[run_id]
        run["state"] = state
        run["finished_at"] = _now()
        if failed_task:
            run["error"] = {"code": 2, "message": f"task {failed_task} failed"}
            run["run_details"] = {"task_details": [
                {"run_id": run_id, "task_id": "t1", "display_name": failed_task, "state": "FAILED",
                 "error": {"code": 2, "message": message}}]}

    def _launch(self, run_id: str, pipeline_spec: dict) -> None:
        directory = self.workdir / run_id
        directory.mkdir(parents=True)
        if "pipeline_spec" in pipeline_spec:  # with a platform spec, as kfp.Client sends it
            spec, platform = pipeline_spec["pipeline_spec"], pipeline_spec.get("platform_spec") or {}
        else:
            spec, platform = pipeline_spec, {}
        try:
            spec = self._with_secret_env(spec, platform)
        except LookupError as exc:  # a pod that cannot start: its Secret or key is missing
            self.runs[run_id]["state"] = "RUNNING"
            self.finish(run_id, "FAILED", failed_task=exc.args[0], message=f"CreateContainerConfigError: {exc.args[1]}")
            return
        (directory / "pipeline.yaml").write_text(yaml.safe_dump(spec))
        # No object-store settings or keys from the test process: only what the IR hands each step.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_S3_"))}
        with open(directory / "runner.log", "wb") as log:
            self.processes[run_id] = subprocess.Popen(
                [sys.executable, "-m", "mlops_operator.training.local_runner", str(directory)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.runs[run_id]["state"] = "RUNNING"

    def _with_secret_env(self, spec: dict, platform: dict) -> dict:
        """The IR with each executor's secretAsEnv entries resolved into its container env."""
        spec = json.loads(json.dumps(spec))
        wanted = ((platform.get("platforms") or {}).get("kubernetes") or {}).get("deploymentSpec", {}).get("executors", {})
        for name, config in wanted.items():
            container = spec["deploymentSpec"]["executors"][name]["container"]
            for entry in config.get("secretAsEnv", []):
                secret = entry.get("secretName") or entry["secretNameParameter"]["runtimeValue"]["constant"]
                data = self.secrets(secret) if self.secrets else None
                if data is None:
                    raise LookupError(name, f'secret "{secret}" not found')
                for pair in entry.get("keyToEnv", []):
                    if pair["secretKey"] not in data:
                        raise LookupError(name, f'couldn\'t find key {pair["secretKey"]} in Secret {secret}')
                    container.setdefault("env", []).append({"name": pair["envVar"], "value": data[pair["secretKey"]]})
        return spec

    def _refresh(self, run: dict) -> dict:
        process = self.processes.get(run["run_id"])
        if process is not None and run["state"] == "RUNNING" and process.poll() is not None:
            if process.returncode == 0:
                self.finish(run["run_id"], "SUCCEEDED")
            else:
                self.finish(run["run_id"], "FAILED", failed_task="pipeline", message=f"exit code {process.returncode}")
        return run

    def created_runs(self) -> int:
        return len(self.runs)


class ThreadedKfp:
    """Runs a FakeKfp on its own event loop in a thread, for tests whose operator runs in another process."""

    def __init__(self, fake: FakeKfp):
        self.fake = fake
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeKfp:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self._loop).result(30)
        return self.fake

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

