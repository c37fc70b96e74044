"""Why each customer is at risk: exact TreeSHAP contributions grouped into drivers, in probability points, in words.

Contributions come in the churn model's log-odds before calibration and are converted to points of the calibrated
probability the list shows (``to_points``). Drivers, sentences and actions are configuration (configs/reasons).
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import sentences, threads
from pipeline.config import ReasonsConfig
from pipeline.models import CalibratedChurnModel, align
from pipeline.models.treeshap import TreeShap

log = logging.getLogger(__name__)
CHUNK_ROWS = 200_000


def contributions(model: CalibratedChurnModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Exact TreeSHAP values per customer and feature (log-odds), the same as LightGBM's ``pred_contrib``.

    Computed by ``models.treeshap`` (several times faster on the small trees the churn model uses), in chunks so
    memory stays bounded and a person can follow the progress.
    """
    X = align(frame, model.features, model.categories)
    explainer, started, parts = _explainer(model.classifier), time.monotonic(), []
    for start in range(0, len(X), CHUNK_ROWS):
        parts.append(explainer.shap_values(X.iloc[start : start + CHUNK_ROWS], threads.count()))
        if len(X) > CHUNK_ROWS:
            log.info(
                "reasons: exact TreeSHAP for %s of %s customers, %.0f s elapsed",
                f"{min(start + CHUNK_ROWS, len(X)):,}",
                f"{len(X):,}",
                time.monotonic() - started,
            )
    values = np.concatenate(parts) if parts else np.empty((0, len(model.features)))
    if model.blended and len(frame):  # the other parts' exact contributions, in the blend's weights
        values = model.tree_weight * values + model.other_contributions(frame)
    return pd.DataFrame(values, columns=model.features, index=frame.index)


_EXPLAINERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _explainer(classifier) -> TreeShap:
    """The compiled explainer of a fitted classifier (compiled once per model and process: about half a second)."""
    if classifier not in _EXPLAINERS:
        _EXPLAINERS[classifier] = TreeShap(classifier.booster_)
    return _EXPLAINERS[classifier]


@dataclass(frozen=True)
class Wording:
    """How reasons are worded: the drivers and actions of configs/reasons, the currency and the complaint cut-off."""

    reasons: ReasonsConfig
    currency: str = "EUR"
    stale_complaint_days: int = 90
    n_reasons: int = 3

    @functools.cached_property
    def templates(self) -> dict[str, list[sentences.Template]]:
        return {
            name: [sentences.Template.parse(s.text, s.when) for s in d.sentences]
            for name, d in self.reasons.drivers.items()
        }

    @property
    def typical_features(self) -> list[str]:
        """The features whose typical value (median over the scored customers) some template compares with."""
        names = {n for ts in self.templates.values() for t in ts for n in t.names}
        return sorted(n[len("typical_") :] for n in names if n.startswith("typical_"))


def typical_values(features: pd.DataFrame, wording: Wording) -> dict[str, float]:
    """``typical_<feature>``: the median over every scored customer with a value (computed once for all batches)."""
    found = {}
    for name in wording.typical_features:
        if name in features and not isinstance(features[name].dtype, pd.CategoricalDtype):
            median = features[name].median()
            if pd.notna(median):
                found[f"typical_{name}"] = float(median)
    return found


def by_driver(shap_values: pd.DataFrame, reasons: ReasonsConfig) -> pd.DataFrame:
    """Sum feature contributions into the configured driver groups (features in no group form their own)."""
    grouped, seen = {}, set()
    for name, driver in reasons.drivers.items():
        cols = [c for c in driver.features if c in shap_values.columns]
        seen.update(cols)
        if cols:
            grouped[name] = shap_values[cols].sum(axis=1)
    for c in shap_values.columns.difference(sorted(seen)):
        grouped[c] = shap_values[c]
    return pd.DataFrame(grouped, index=shap_values.index)


def to_points(log_odds: pd.DataFrame, raw: np.ndarray, calibrator) -> pd.DataFrame:
    """Driver contributions in points of calibrated churn probability (0-100) instead of log-odds.

    Each customer's contributions are scaled by one factor, so they still add up: together they are the difference
    between the customer's calibrated probability and the model's baseline (its expected log-odds, calibrated), and
    each driver keeps its share and sign. A customer exactly at the baseline has no points.
    """
    f = _logit(raw)
    f0 = f - log_odds.to_numpy().sum(axis=1)
    p, p0 = calibrator.transform(raw), calibrator.transform(1 / (1 + np.exp(-f0)))
    span = f - f0
    scale = np.divide(100 * (p - p0), span, out=np.zeros_like(span), where=np.abs(span) > 1e-9)
    return log_odds.mul(scale, axis=0)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def reasons(
    frame: pd.DataFrame, driver_values: pd.DataFrame, wording: Wording, typical: dict, points: bool = True
) -> pd.DataFrame:
    """The top drivers that raise each customer's risk, as sentences, plus the action the top one suggests.

    ``driver_values`` are probability points (``points=True``: a driver counts from ``reasons.min_points`` and its
    points follow the sentence, "(+12 pts)") or priorities of rule-based warning signs (any positive value counts).
    A driver is a reason only where one of its sentences applies to the customer; each driver's sentences are
    rendered only for the customers it raises, in one column-wise pass.
    """
    n, least = wording.n_reasons, (wording.reasons.min_points if points else 1e-12)
    variables = {**typical, "stale_complaint_days": wording.stale_complaint_days}
    names = list(driver_values.columns)
    values = driver_values.to_numpy(dtype=float)
    texts = np.full(values.shape, "", dtype=object)
    for j, name in enumerate(names):
        rows = np.flatnonzero(values[:, j] >= least)
        if len(rows) and name in wording.templates:
            texts[rows, j] = sentences.render(frame.iloc[rows], wording.templates[name], variables, wording.currency)
    ranked = np.where(texts != "", values, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :n]
    chosen = np.take_along_axis(ranked, order, axis=1) > -np.inf
    out = {}
    for k in range(n):
        text = np.where(chosen[:, k], np.take_along_axis(texts, order[:, k : k + 1], axis=1)[:, 0], "")
        if points:  # the points follow the sentence, for the customers this is a reason for only
            pts = np.take_along_axis(values, order[:, k : k + 1], axis=1)[:, 0]
            rows = np.flatnonzero(chosen[:, k])
            text[rows] = [f"{t} (+{p:.0f} pts)" for t, p in zip(text[rows], pts[rows])]
            out[f"reason_{k + 1}_points"] = np.where(chosen[:, k], np.round(pts, 1), np.nan)
        out[f"reason_{k + 1}"] = text
    top = np.where(chosen[:, 0], np.asarray(names, dtype=object)[order[:, 0]], "") if n else np.full(len(frame), "")
    drivers = wording.reasons.drivers
    out["top_driver"] = top
    out["action"] = np.array([drivers[t].action if t in drivers else "none" for t in top], dtype=object)
    columns = [f"reason_{k + 1}" for k in range(n)] + [f"reason_{k + 1}_points" for k in range(n) if points]
    return pd.DataFrame(out, index=frame.index)[columns + ["top_driver", "action"]]
