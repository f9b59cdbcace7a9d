"""The local Seldon controller's watch shell against the real embedded Kubernetes API."""
from __future__ import annotations


import pytest
from seldon_schema import errors_of, peer_validator
from serving_fixtures import group_alive, seldon_deployment, wait_until

from mlops_operator.decisions.seldon import Predictor, seldon_status
from mlops_operator.embedded import EmbeddedAPIServer
from mlops_operator.serving.controller import LocalSeldonController
from mlops_operator.serving.crd import seldon_deployment_crd

pytestmark = pytest.mark.e2e

NS, NAME = "default", "iris"


def sdep(*predictors: Predictor) -> dict:
    return seldon_deployment(NS, NAME, *predictors)




async def test_controller_realises_updates_and_deletes_via_the_api(model_dirs, tmp_path):
    stable, candidate = f"file://{model_dirs['stable']}", f"file://{model_dirs['flipped']}"
    async with EmbeddedAPIServer() as api:
        api.apply(seldon_deployment_crd())
        controller = LocalSeldonController(api.url, work_dir=tmp_path / "work")
        try:
            await controller.start()
            api.apply(sdep(Predictor("stable", stable, 90), Predictor("candidate", candidate, 10)))

            def available():
                obj = api.get("machinelearning.seldon.io/v1", "SeldonDeployment", NAME, NS)
                status = seldon_status(obj)
                return obj if status and status.state in ("Available", "Failed") else None

            obj = await wait_until(available, 180, "the SeldonDeployment to be Available")
            assert obj["status"]["state"] == "Available", obj["status"]
            assert errors_of(peer_validator(), obj) == []  # what we wrote fits Seldon's own schema
            status = seldon_status(obj)
            assert status.replicas == {"stable": 1, "candidate": 1}
            dep = controller.realiser.get(NS, NAME)
            assert status.address == dep.splitter.url
            pids = dep.pids()

            # A spec change arrives through the watch: weights move, processes stay.
            api.apply(sdep(Predictor("stable", stable, 30), Predictor("candidate", candidate, 70)))
            await wait_until(lambda: {r.predictor: r.traffic for r in dep.splitter.routes} == {"stable": 30,
                                                                                           "candidate": 70},
                           30, "the new weights")
            assert dep.pids() == pids

            # Deleting the object stops its processes.
            api.delete("machinelearning.seldon.io/v1", "SeldonDeployment", NAME, NS)
            await wait_until(lambda: controller.realiser.get(NS, NAME) is None, 30, "the deployment to go")
            await wait_until(lambda: not any(group_alive(pid) for pid in pids.values()), 30, "its processes to stop")

            # And a new one after that is realised again (the watch goes on).
            api.apply(sdep(Predictor("stable", stable, 100)))
            obj = await wait_until(available, 180, "the second SeldonDeployment")
            assert obj["status"]["state"] == "Available"
            last_pids = controller.realiser.get(NS, NAME).pids()
        finally:
            await controller.stop()
        assert not any(group_alive(pid) for pid in last_pids.values())
