"""The TrainingRun report: one self-contained HTML page for the people who decide on a model version.

Sections (ids are stable, tests and links rely on them):
  data        profile of the training data per column (type, missing, distinct, min/quantiles/max,
              IQR outliers, a distribution plot), the target's balance, the schema checks' results
  candidates  every hyperparameter combination with its metric and bootstrap interval
  model       the chosen model on the held-out rows: ROC and precision-recall curves, confusion
              matrix, calibration curve (classification) or residual plots (regression), and
              permutation feature importance
  champion    the comparison with the champion: both values, the paired difference's interval, the verdict

Every section is drawn on its own: a section that cannot be drawn says why and the others still appear.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import htmlreport as h
from . import modeling, schema_check, scoring

#: Columns drawn one plot each; wider data keeps the table but draws the first ones only.
MAX_PLOTTED_COLUMNS = 40
PERMUTATION_REPEATS = 5


def _safe(title: str, build: Callable[[], str]) -> str:
    try:
        return build()
    except Exception as exc:  # one broken panel must not cost the whole report
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return f'<p class="bad">{h.esc(title)} could not be drawn: {h.esc(detail)}</p>'


# -- data profile ---------------------------------------------------------------------------------------
def column_profile(series: pd.Series, declared: str | None = None) -> dict[str, Any]:
    present = series.dropna()
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    row: dict[str, Any] = {
        "column": str(series.name), "type": declared or modeling.infer_type(series),
        "missing": int(series.isna().sum()), "missingShare": float(series.isna().mean()) if len(series) else 0.0,
        "distinct": int(present.nunique()),
    }
    if numeric and len(present):
        q = present.quantile([0.0, 0.25, 0.5, 0.75, 1.0]).to_numpy(dtype=float)
        iqr = q[3] - q[1]
        low, high = q[1] - 1.5 * iqr, q[3] + 1.5 * iqr
        row.update({"min": q[0], "q25": q[1], "median": q[2], "q75": q[3], "max": q[4],
                    "mean": float(present.mean()), "std": float(present.std()) if len(present) > 1 else 0.0,
                    "outliers": int(((present < low) | (present > high)).sum())})
    else:
        top = present.astype(str).value_counts().head(3)
        row["top"] = ", ".join(f"{k} ({v})" for k, v in top.items())
    return row


def _distribution(series: pd.Series, numeric: bool) -> str:
    fig, ax = h.new_figure(2.6, 1.8)
    present = series.dropna()
    ax.xaxis.set_major_locator(h.plt.MaxNLocator(4))
    if numeric and len(present):
        ax.hist(present.to_numpy(dtype=float), bins=min(30, max(5, present.nunique())), color="#1f77b4")
    else:
        counts = present.astype(str).value_counts().head(12)
        ax.bar(range(len(counts)), counts.to_numpy(), color="#1f77b4")
        ax.set_xticks(range(len(counts)), [str(k)[:10] for k in counts.index], rotation=45, ha="right", fontsize=7)
    ax.set_title(str(series.name)[:40], fontsize=8)
    ax.tick_params(labelsize=6)
    ax.locator_params(axis="y", nbins=4)
    fig.subplots_adjust(left=0.16, right=0.97, top=0.86, bottom=0.28 if not numeric else 0.14)
    return h.figure(fig, f"distribution of {series.name}", dpi=70, tight=False)


def data_section(frame: pd.DataFrame, columns: list[dict[str, Any]] | None, target: str, task: str) -> str:
    declared = {c["name"]: c for c in columns or []}
    profiles = [column_profile(frame[c], declared.get(c, {}).get("type")) for c in frame.columns]
    rows = [[p["column"] + (" (target)" if p["column"] == target else ""), p["type"], p["missing"],
             f"{100 * p['missingShare']:.1f}%", p["distinct"], h.num(p.get("min")), h.num(p.get("q25")),
             h.num(p.get("median")), h.num(p.get("q75")), h.num(p.get("max")),
             p.get("outliers", "-"), p.get("top", "")] for p in profiles]
    parts = [f"<p>{len(frame)} rows, {len(frame.columns)} columns; outliers are values beyond 1.5 × IQR from "
             f"the quartiles.</p>",
             h.table(["column", "type", "missing", "missing %", "distinct", "min", "q25", "median", "q75", "max",
                      "outliers", "most frequent"], rows, numeric=[2, 3, 4, 5, 6, 7, 8, 9, 10])]
    plotted = list(frame.columns[:MAX_PLOTTED_COLUMNS])
    plots = [_safe(f"distribution of {c}", lambda c=c: _distribution(
        frame[c], "min" in profiles[list(frame.columns).index(c)])) for c in plotted]
    note = "" if len(frame.columns) <= MAX_PLOTTED_COLUMNS else \
        f"<p class=\"muted\">first {MAX_PLOTTED_COLUMNS} of {len(frame.columns)} columns drawn</p>"
    parts.append('<h3>Distributions</h3><div class="distributions">' + "".join(plots) + "</div>" + note)
    parts.append("<h3>Target balance</h3>" + _safe("target balance", lambda: _target_balance(frame, target, task)))
    parts.append("<h3>Schema checks</h3>" + _schema_checks(frame, columns, target))
    return "".join(parts)


def _target_balance(frame: pd.DataFrame, target: str, task: str) -> str:
    y = frame[target]
    fig, ax = h.new_figure(4.0, 2.6)
    if task == "classification":
        counts = y.astype(str).value_counts().sort_index()
        ax.bar(counts.index, counts.to_numpy(), color="#ff7f0e")
        ax.set_ylabel("rows")
        table = h.table(["class", "rows", "share"], [[k, v, f"{100 * v / counts.sum():.1f}%"] for k, v in counts.items()],
                        numeric=[1, 2])
        minority = counts.min() / counts.sum()
        verdict = (f'<p>Minority class share {100 * minority:.1f}%'
                   + (' <span class="bad">(imbalanced: below 10%)</span>' if minority < 0.1 else "") + ".</p>")
    else:
        ax.hist(y.dropna().to_numpy(dtype=float), bins=30, color="#ff7f0e")
        table = h.table(["statistic", "value"], [[k, h.num(v)] for k, v in y.describe().items()], numeric=[1])
        verdict = ""
    ax.set_title(f"target {target}")
    return h.figure(fig, f"target balance of {target}") + table + verdict


def _schema_checks(frame: pd.DataFrame, columns: list[dict[str, Any]] | None, target: str) -> str:
    problems = schema_check.check(frame, columns, target)
    if not columns:
        head = '<p>No schema declared (spec.dataset.schema): only the target column was checked: ' + (
            '<span class="ok">present</span>.</p>' if target not in problems else '<span class="bad">missing</span>.</p>')
        return head
    rows = []
    for c in columns:
        rule = ", ".join(x for x in (c["type"], f"min {c['min']:g}" if c.get("min") is not None else "",
                                     f"max {c['max']:g}" if c.get("max") is not None else "",
                                     f"categories {c['categories']}" if c.get("categories") else "",
                                     "nullable" if c.get("nullable") else "") if x)
        rows.append([c["name"], rule, "; ".join(problems.get(c["name"], [])) or "ok"])
    passed = not problems
    return (f'<p>{len(columns)} columns declared: '
            + ('<span class="ok">all checks passed</span>' if passed else '<span class="bad">problems found</span>')
            + ".</p>" + h.table(["column", "rule", "result"], rows))


# -- candidates -------------------------------------------------------------------------------------------
def candidates_section(selection: dict[str, Any], metric_name: str) -> str:
    results = selection.get("candidates") or []
    best = (selection.get("best") or {}).get("trial")
    rows = [["★" if r.get("trial") == best else "", r.get("trial"), r.get("candidate"), r.get("estimator"),
             ", ".join(f"{k}={v}" for k, v in sorted((r.get("hyperparameters") or {}).items())) or "(defaults)",
             h.num(r.get("value"), 4), h.num(r.get("lower"), 4), h.num(r.get("upper"), 4)] for r in results]
    table = h.table(["chosen", "trial", "candidate", "estimator", "hyperparameters", metric_name, "95% lower",
                     "95% upper"], rows, numeric=[5, 6, 7])

    def plot() -> str:
        fig, ax = h.new_figure(6.5, 0.4 * len(results) + 1.2)
        ys = np.arange(len(results))
        values = np.array([r["value"] for r in results], dtype=float)
        lower = np.array([r["value"] - (r["lower"] if r.get("lower") is not None else r["value"]) for r in results])
        upper = np.array([(r["upper"] if r.get("upper") is not None else r["value"]) - r["value"] for r in results])
        colors = ["#d62728" if r.get("trial") == best else "#1f77b4" for r in results]
        ax.errorbar(values, ys, xerr=[lower, upper], fmt="none", ecolor="#888", capsize=3)
        ax.scatter(values, ys, c=colors, zorder=3)
        ax.set_yticks(ys, [r["trial"] for r in results], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric_name} (bootstrap 95% interval)")
        ax.grid(alpha=0.3)
        return h.figure(fig, "candidates: metric and interval per hyperparameter combination")

    return (f"<p>{len(results)} hyperparameter combinations trained and scored on the same held-out rows; "
            f"the chosen one is marked ★.</p>" + table + _safe("candidates plot", plot))


# -- chosen model -----------------------------------------------------------------------------------------
def model_section(model, test: pd.DataFrame, features: list[str], target: str, task: str, metric_name: str,
                  seed: int) -> str:
    X, y = test[features], test[target].to_numpy()
    parts = []
    if task == "classification":
        out = scoring.predict(model, X, "roc_auc" if hasattr(model, "predict_proba") else "accuracy")
        parts += [_safe("ROC curve", lambda: _roc(y, out)), _safe("precision-recall curve", lambda: _pr(y, out)),
                  _safe("confusion matrix", lambda: _confusion(y, out)),
                  _safe("calibration curve", lambda: _calibration(y, out))]
    else:
        predicted = np.asarray(model.predict(X), dtype=float)
        parts += [_safe("residual plots", lambda: _residuals(y.astype(float), predicted))]
    parts.append(_safe("permutation importance", lambda: _importance(model, X, y, task, metric_name, seed)))
    return f"<p>On {len(test)} held-out rows.</p>" + "".join(parts)


def _positive_scores(out: scoring.Outputs, k: int) -> np.ndarray:
    s = out.scores
    return s[:, k] if s.ndim == 2 else (s if k == 1 else -s)


def _one_vs_rest(y: np.ndarray, out: scoring.Outputs) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if out.scores is None:
        raise ValueError("the model gives no scores (no predict_proba)")
    classes = out.classes or []
    if len(classes) == 2:
        return [(str(classes[1]), y == classes[1], _positive_scores(out, 1))]
    return [(str(c), y == c, out.scores[:, k]) for k, c in enumerate(classes)]


def _roc(y: np.ndarray, out: scoring.Outputs) -> str:
    from sklearn.metrics import auc, roc_curve

    fig, ax = h.new_figure()
    for label, truth, score in _one_vs_rest(y, out):
        fpr, tpr, _ = roc_curve(truth, score)
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="#999")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.legend(fontsize=7)
    return h.figure(fig, "ROC curve")


def _pr(y: np.ndarray, out: scoring.Outputs) -> str:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = h.new_figure()
    for label, truth, score in _one_vs_rest(y, out):
        precision, recall, _ = precision_recall_curve(truth, score)
        ax.plot(recall, precision, label=f"{label} (AP {average_precision_score(truth, score):.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall curve")
    ax.legend(fontsize=7)
    return h.figure(fig, "precision-recall curve")


def _confusion(y: np.ndarray, out: scoring.Outputs) -> str:
    from sklearn.metrics import confusion_matrix

    classes = out.classes or sorted(set(y))
    matrix = confusion_matrix(y, out.labels, labels=classes)
    fig, ax = h.new_figure(3.6, 3.2)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > matrix.max() / 2 else "black")
    ticks = [str(c)[:10] for c in classes]
    ax.set_xticks(range(len(classes)), ticks, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("confusion matrix")
    return h.figure(fig, "confusion matrix")


def _calibration(y: np.ndarray, out: scoring.Outputs) -> str:
    from sklearn.calibration import calibration_curve

    if out.scores is None or out.scores.ndim != 2:
        raise ValueError("the model gives no probabilities")
    fig, ax = h.new_figure()
    for label, truth, score in _one_vs_rest(y, out):
        prob_true, prob_pred = calibration_curve(truth, np.clip(score, 0, 1), n_bins=8, strategy="quantile")
        ax.plot(prob_pred, prob_true, marker="o", label=label)
    ax.plot([0, 1], [0, 1], "--", color="#999", label="perfect")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("calibration curve")
    ax.legend(fontsize=7)
    return h.figure(fig, "calibration curve")


def _residuals(y: np.ndarray, predicted: np.ndarray) -> str:
    residual = y - predicted
    fig, (a1, a2, a3) = h.plt.subplots(1, 3, figsize=(10, 3))
    a1.scatter(predicted, residual, s=8, alpha=0.6)
    a1.axhline(0, color="#999", linestyle="--")
    a1.set_xlabel("predicted")
    a1.set_ylabel("residual")
    a1.set_title("residuals vs predicted")
    a2.hist(residual, bins=30)
    a2.set_title("residual distribution")
    a3.scatter(y, predicted, s=8, alpha=0.6)
    lo, hi = float(min(y.min(), predicted.min())), float(max(y.max(), predicted.max()))
    a3.plot([lo, hi], [lo, hi], "--", color="#999")
    a3.set_xlabel("actual")
    a3.set_ylabel("predicted")
    a3.set_title("predicted vs actual")
    fig.tight_layout()
    return h.figure(fig, "residual plots")


SCORERS = {"roc_auc": "roc_auc", "accuracy": "accuracy", "f1": "f1_macro", "precision": "precision_macro",
           "recall": "recall_macro", "log_loss": "neg_log_loss", "rmse": "neg_root_mean_squared_error",
           "mae": "neg_mean_absolute_error", "r2": "r2"}


def _importance(model, X: pd.DataFrame, y: np.ndarray, task: str, metric_name: str, seed: int) -> str:
    from sklearn.inspection import permutation_importance

    scoring_name = SCORERS.get(metric_name)
    classes = getattr(model, "classes_", None)
    if metric_name == "roc_auc" and classes is not None and len(classes) > 2:
        scoring_name = "roc_auc_ovr"
    result = permutation_importance(model, X, y, scoring=scoring_name, n_repeats=PERMUTATION_REPEATS,
                                    random_state=seed)
    order = np.argsort(result.importances_mean)[::-1][:20]
    names = [str(X.columns[i]) for i in order]
    fig, ax = h.new_figure(6.0, 0.3 * len(order) + 1.2)
    ax.barh(range(len(order)), result.importances_mean[order], xerr=result.importances_std[order], color="#2ca02c")
    ax.set_yticks(range(len(order)), [n[:30] for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"drop in {metric_name} when the column is shuffled")
    ax.set_title("permutation feature importance")
    table = h.table(["feature", "importance (mean)", "std"],
                    [[names[k], h.num(result.importances_mean[i], 4), h.num(result.importances_std[i], 4)]
                     for k, i in enumerate(order)], numeric=[1, 2])
    return h.figure(fig, "permutation feature importance") + table


# -- champion ---------------------------------------------------------------------------------------------
def champion_section(comparison: dict[str, Any]) -> str:
    metric = comparison.get("metric", "")
    decision = comparison.get("decision", "-")
    css = "ok" if decision == "Blessed" else "bad"
    rows = [["verdict", decision], ["reason", comparison.get("reason", "")],
            [f"challenger {metric}", h.num(comparison.get("candidateValue"), 4)],
            ["minimum", h.num(comparison.get("minimum"), 4)],
            ["champion", comparison.get("champion") or "none (first model version)"],
            [f"champion {metric}", h.num(comparison.get("championValue"), 4)],
            ["paired difference, 95% interval",
             f"[{h.num(comparison.get('differenceLower'), 4)}, {h.num(comparison.get('differenceUpper'), 4)}]"
             if comparison.get("differenceLower") is not None else "-"]]
    head = f'<p>Verdict: <span class="{css}">{h.esc(decision)}</span> — {h.esc(comparison.get("reason", ""))}</p>'

    def plot() -> str:
        fig, ax = h.new_figure(4.5, 2.6)
        names = ["challenger"]
        values = [comparison.get("candidateValue")]
        if comparison.get("championValue") is not None:
            names.append(f"champion {comparison.get('champion') or ''}"[:30])
            values.append(comparison["championValue"])
        ax.bar(names, values, color=["#d62728", "#1f77b4"][: len(values)])
        if comparison.get("minimum") is not None:
            ax.axhline(comparison["minimum"], color="#555", linestyle="--", label="minimum")
            ax.legend(fontsize=7)
        low = min(v for v in values + [comparison.get("minimum") or values[0]] if v is not None)
        ax.set_ylim(max(0.0, low - 0.1 * abs(low) - 0.02), None)
        ax.set_ylabel(metric)
        ax.set_title("challenger vs champion")
        return h.figure(fig, "challenger vs champion")

    return head + h.table(["", "value"], rows) + _safe("comparison plot", plot)


# -- the page ----------------------------------------------------------------------------------------------
def build(*, run_name: str, dataset_uri: str, dataset_version: str, frame: pd.DataFrame, test: pd.DataFrame,
          model, selection: dict[str, Any], columns: list[dict[str, Any]] | None, target: str, task: str,
          metric_name: str, seed: int, generated: str) -> str:
    features = [f["name"] for f in modeling.feature_columns(test, columns, target)]
    sections = [
        ("data", "Data profile", _safe("data profile", lambda: data_section(frame, columns, target, task))),
        ("candidates", "Candidates", _safe("candidates", lambda: candidates_section(selection, metric_name))),
        ("model", "Chosen model", _safe("model evaluation", lambda: model_section(
            model, test, features, target, task, metric_name, seed))),
        ("champion", "Comparison with the champion",
         _safe("comparison", lambda: champion_section(selection.get("comparison") or {}))),
    ]
    best = selection.get("best") or {}
    subtitle = (f"dataset {dataset_uri} version {dataset_version} · chosen {best.get('trial')} "
                f"({best.get('estimator')}) {metric_name}={h.num(best.get('value'), 4)} · generated {generated}")
    return h.page(f"TrainingRun {run_name}", subtitle, sections)
