"""Why each customer is at risk: exact TreeSHAP contributions grouped into drivers, in probability points, in words.

Contributions come in the churn model's log-odds before calibration, are measured from the typical active customer
of the week (``Reference``) and converted to points of the calibrated probability the list shows (``to_points``).
Drivers, sentences and actions are configuration (configs/reasons).
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import sentences
from pipeline.config import ReasonsConfig
from pipeline.featurize import sampling
from pipeline.infra import threads
from pipeline.models import CalibratedChurnModel, align, logit
from pipeline.models.treeshap import TreeShap

log = logging.getLogger(__name__)
CHUNK_ROWS = 200_000


def contributions(model: CalibratedChurnModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Exact contributions per customer and feature to the blend's log-odds (see ``models.churn``).

    The trees' part is exact TreeSHAP (the same as LightGBM's ``pred_contrib``), computed by ``models.treeshap``
    (several times faster on the small trees the churn model uses), in chunks so memory stays bounded and a person
    can follow the progress; the other parts explain themselves.
    """
    values = np.zeros((len(frame), len(model.cols)))
    if model.weight("trees") > 0 and len(frame):
        X = align(frame, model.cols, model.categories_)
        explainer, started, parts = _explainer(model.classifier_), time.monotonic(), []
        for start in range(0, len(X), CHUNK_ROWS):
            parts.append(explainer.shap_values(X.iloc[start : start + CHUNK_ROWS], threads.count()))
            if len(X) > CHUNK_ROWS:
                log.info(
                    "reasons: exact TreeSHAP for %s of %s customers, %.0f s elapsed",
                    f"{min(start + CHUNK_ROWS, len(X)):,}",
                    f"{len(X):,}",
                    time.monotonic() - started,
                )
        values = model.weight("trees") * np.concatenate(parts)
    if len(frame):
        values = values + model.other_contributions(frame)
    return pd.DataFrame(values, columns=model.features, index=frame.index)


_EXPLAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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
    """``typical_<feature>``: the median over this week's active customers with a value (every customer where
    there is no active base), computed once for all batches: the same typical customer the points are measured
    from."""
    if "active" in features and features["active"].any():
        features = features[features["active"].to_numpy(bool)]
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


REFERENCE_MAX_ROWS = 50_000  # active customers the typical one is averaged over (a fixed sample, beyond this many)


@dataclass(frozen=True)
class Reference:
    """The typical active customer this week, whom every listed customer's points are measured against.

    ``centre``: each driver's mean log-odds contribution over this week's active customers (a fixed sample of at
    most ``REFERENCE_MAX_ROWS``); ``log_odds``: their mean log-odds; ``probability``: that, calibrated: the risk the
    report states ("compared with a typical active customer, whose risk is 21 %").
    """

    centre: pd.Series
    log_odds: float
    probability: float


def reference_rows(customer_ids: pd.Series) -> np.ndarray:
    """The positions of the active customers the reference is averaged over (all, up to the sample size)."""
    return sampling.by_customer(customer_ids, REFERENCE_MAX_ROWS, seed=0)


def reference(log_odds: pd.DataFrame, raw: np.ndarray, calibrator) -> Reference:
    """The reference of the customers given (their driver contributions in log-odds and raw probabilities)."""
    if not len(log_odds):
        return Reference(pd.Series(0.0, index=log_odds.columns), 0.0, float("nan"))
    mean = float(np.mean(logit(raw)))
    probability = float(calibrator.transform(np.array([1 / (1 + np.exp(-mean))]))[0])
    return Reference(log_odds.mean(), mean, probability)


def to_points(log_odds: pd.DataFrame, raw: np.ndarray, calibrator, ref: Reference) -> pd.DataFrame:
    """Driver contributions in points of calibrated churn probability (0-100), measured from the reference customer.

    Each driver's contribution is re-centred on the typical active customer (its contribution minus its mean over
    them), so together they are the customer's log-odds minus the reference's, exactly. Each customer's centred
    contributions are then scaled by one factor, so they still add up: to the difference between the customer's
    calibrated probability and the reference's, each driver keeping its share and sign. A customer exactly at the
    reference has no points. (Centring is exact for the linear and BG/NBD parts; for the trees it is the
    path-dependent TreeSHAP values' difference from their average, not TreeSHAP with another background.)
    """
    centred = log_odds - ref.centre.reindex(log_odds.columns).fillna(0.0)
    span = logit(raw) - ref.log_odds
    p = calibrator.transform(raw)
    scale = np.divide(100 * (p - ref.probability), span, out=np.zeros_like(span), where=np.abs(span) > 1e-9)
    return centred.mul(scale, axis=0)


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
            text[rows] = [f"{t} (+{p:.0f} pts)" for t, p in zip(text[rows], pts[rows], strict=True)]
            out[f"reason_{k + 1}_points"] = np.where(chosen[:, k], np.round(pts, 1), np.nan)
        out[f"reason_{k + 1}"] = text
    top = np.where(chosen[:, 0], np.asarray(names, dtype=object)[order[:, 0]], "") if n else np.full(len(frame), "")
    drivers = wording.reasons.drivers
    out["top_driver"] = top
    out["action"] = np.array([drivers[t].action if t in drivers else "none" for t in top], dtype=object)
    columns = [f"reason_{k + 1}" for k in range(n)] + [f"reason_{k + 1}_points" for k in range(n) if points]
    return pd.DataFrame(out, index=frame.index)[columns + ["top_driver", "action"]]
