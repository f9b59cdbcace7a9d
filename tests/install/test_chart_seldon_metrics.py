"""The chart's default metrics provider reads Seldon Core's executors, and refuses settings that cannot."""
from __future__ import annotations

import helm_python as helm
import pytest

from mlops_operator.metrics.executor import EXECUTOR_METRICS_URL, check_url_template

from .render import one, render_chart


def _env(objects) -> dict[str, str]:
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_default_scrape_reads_seldon_executors():
    env = _env(render_chart())
    assert env["MLOPS_METRICS_PROVIDER"] == "scrape"
    assert env["MLOPS_SELDON_METRICS_URL"] == EXECUTOR_METRICS_URL
    assert check_url_template(env["MLOPS_SELDON_METRICS_URL"])  # the operator accepts what the chart sets


def test_a_custom_executor_url_reaches_the_operator():
    url = "http://{service}.{namespace}.svc.corp.local:9000/metrics"
    assert _env(render_chart({"metrics": {"scrape": {"seldonUrl": url}}}))["MLOPS_SELDON_METRICS_URL"] == url


@pytest.mark.parametrize("url", ["", "http://model.{namespace}:8000/prometheus"])
def test_scrape_without_a_service_template_is_refused(url):
    with pytest.raises(helm.HelmError, match=r"metrics.scrape.seldonUrl must contain \{service\}"):
        render_chart({"metrics": {"scrape": {"seldonUrl": url}}})


def test_prometheus_provider_does_not_need_the_executor_url():
    env = _env(render_chart({"metrics": {"provider": "prometheus", "prometheusUrl": "http://prom:9090",
                                         "scrape": {"seldonUrl": ""}}}))
    assert env["MLOPS_METRICS_PROVIDER"] == "prometheus"
