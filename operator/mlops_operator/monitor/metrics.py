"""Prometheus series of the monitor, computed at scrape time from the store's counts.

A collector on the monitor's own CollectorRegistry reads the per-predictor counts, so the series
always agree with what is stored (also right after a restart, which rebuilds the counts from disk).
They cover the retained hours: when retention drops an hour the counters go down, which
Prometheus treats as a counter reset.

  mlops_monitor_records_total{namespace,deployment,predictor}            requests recorded
  mlops_monitor_responses_total{...}                                     responses recorded
  mlops_monitor_refused_total{...,reason}                                events refused (drops)
  mlops_monitor_labelled_total{...}                                      records with a label
  mlops_monitor_labelled_rows_total{...,outcome="correct"|"incorrect"}    classification
  mlops_monitor_error_sum / _abs_error_sum / _squared_error_sum{...}     regression (prediction - label)
  mlops_monitor_quartic_error_sum{...}                                   regression, (prediction - label)^4
  mlops_monitor_log_loss_rows_total{...}                                 classification rows with probabilities
  mlops_monitor_log_loss_sum / _log_loss_squared_sum{...}                their -log p(label), p clipped at 1e-15
  mlops_monitor_predictions_total{...,class}                             predicted classes
  mlops_monitor_prediction_score_bucket{...,le}                          regression predictions (the +Inf
                                                                         bucket is the count; buckets below 0
                                                                         mean prometheus-client omits _sum)
  mlops_monitor_feature_bin_total{...,feature,bin}                        inputs in training-reference bins
  mlops_monitor_unbinned_total{...}                                      requests with no reference to bin
  mlops_monitor_drift_psi / _js / _ks / _wasserstein{...,feature}         statistics of the latest closed window
  mlops_monitor_drift_p_value{...,feature}                               its guard p-value (KS or chi-square)
  mlops_monitor_quality_bad_values_total{...,feature,kind}               inputs outside the schema, by kind
  mlops_monitor_unanswered_total{...}                                    responses without predictions
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .store import SCORE_BUCKETS, Store

LABELS = ["namespace", "deployment", "predictor"]


class StoreCollector:
    def __init__(self, store: Store, drift=None):
        self.store = store
        self.drift = drift

    def collect(self):
        totals = self.store.totals()
        fam = {
            "records": CounterMetricFamily("mlops_monitor_records", "Inference requests recorded.", labels=LABELS),
            "responses": CounterMetricFamily("mlops_monitor_responses", "Inference responses recorded.", labels=LABELS),
            "labelled": CounterMetricFamily("mlops_monitor_labelled", "Records joined with a label.", labels=LABELS),
            "unbinned": CounterMetricFamily("mlops_monitor_unbinned", "Requests without a training reference to bin their features.", labels=LABELS),
        }
        outcomes = CounterMetricFamily("mlops_monitor_labelled_rows", "Labelled rows by outcome (classification).", labels=LABELS + ["outcome"])
        errors = {name: GaugeMetricFamily(f"mlops_monitor_{name}", f"Sum over labelled rows of {what} (regression).", labels=LABELS)
                  for name, what in (("error_sum", "prediction - label"), ("abs_error_sum", "|prediction - label|"),
                                     ("squared_error_sum", "(prediction - label)^2"),
                                     ("quartic_error_sum", "(prediction - label)^4"))}
        errors.update({name: GaugeMetricFamily(f"mlops_monitor_{name}", f"Sum over labelled rows with class "
                                               f"probabilities of {what} (classification).", labels=LABELS)
                       for name, what in (("log_loss_sum", "-log p(label)"),
                                          ("log_loss_squared_sum", "(log p(label))^2"))})
        fam["log_loss_rows"] = CounterMetricFamily("mlops_monitor_log_loss_rows", "Labelled rows with class "
                                                   "probabilities (their log loss is summed).", labels=LABELS)
        classes = CounterMetricFamily("mlops_monitor_predictions", "Predicted classes.", labels=LABELS + ["class"])
        scores = HistogramMetricFamily("mlops_monitor_prediction_score", "Regression predictions.", labels=LABELS)
        bins = CounterMetricFamily("mlops_monitor_feature_bin", "Input values per training-reference bin.", labels=LABELS + ["feature", "bin"])
        for key, c in sorted(totals.items()):
            labels = list(key)
            for name, family in fam.items():
                family.add_metric(labels, getattr(c, name))
            outcomes.add_metric(labels + ["correct"], c.correct)
            outcomes.add_metric(labels + ["incorrect"], c.incorrect)
            for name, family in errors.items():
                family.add_metric(labels, getattr(c, name))
            for cls, n in sorted(c.classes.items()):
                classes.add_metric(labels + [cls], n)
            if c.scores:
                running, buckets = 0, []
                for bound in SCORE_BUCKETS:
                    running += c.scores.get(bound, 0)
                    buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
                scores.add_metric(labels, buckets, c.score_sum)
            for (feature, label), n in sorted(c.bins.items()):
                bins.add_metric(labels + [feature, label], n)
        refused = CounterMetricFamily("mlops_monitor_refused", "Events refused (dropped) by reason.", labels=LABELS + ["reason"])
        for key, n in sorted(self.store.refused.items()):
            refused.add_metric(list(key), n)
        yield from fam.values()
        yield outcomes
        yield from errors.values()
        yield classes
        yield scores
        yield bins
        yield refused
        if self.drift is not None:
            yield from self._drift()

    def _drift(self):
        stats = {name: GaugeMetricFamily(f"mlops_monitor_drift_{name}", f"{what} of the latest closed drift window "
                                         "against the model version's training reference.", labels=LABELS + ["feature"])
                 for name, what in (("psi", "PSI"), ("js", "Jensen-Shannon distance"), ("ks", "KS statistic (total "
                                    "variation for categorical features)"), ("wasserstein", "Wasserstein distance in "
                                    "reference standard deviations"), ("p_value", "Guard p-value (KS or chi-square)"))}
        for ns, dep, pred, feature, s in self.drift.latest_statistics():
            for name, family in stats.items():
                value = s["p"] if name == "p_value" else s[name]
                if value == value:  # NaN: not computable (e.g. Wasserstein of a categorical feature)
                    family.add_metric([ns, dep, pred, feature], value)
        bad = CounterMetricFamily("mlops_monitor_quality_bad_values", "Input values outside the schema, by kind.",
                                  labels=LABELS + ["feature", "kind"])
        unanswered = CounterMetricFamily("mlops_monitor_unanswered", "Responses without predictions (the model "
                                         "could not answer).", labels=LABELS)
        totals: dict = {}
        for ns, dep, pred, track in self.drift.quality():
            for feature, q in track.quality.items():
                for kind in ("missing", "wrong_type", "out_of_range", "unknown_category"):
                    key = (ns, dep, pred, feature, kind)
                    totals[key] = totals.get(key, 0) + getattr(q, kind)
            key = (ns, dep, pred)
            totals[key] = totals.get(key, 0) + track.unanswered
        for key, n in sorted(totals.items()):
            (bad if len(key) == 5 else unanswered).add_metric(list(key), n)
        yield from stats.values()
        yield bad
        yield unanswered


def registry_for(store: Store, drift=None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, drift))
    return registry
