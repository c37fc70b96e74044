"""Why each customer is at risk: exact TreeSHAP contributions, grouped into drivers, rendered as sentences.

Contributions are in the churn model's log-odds before calibration; calibration is monotone, so the order of reasons
and their direction are the same for the calibrated probability.
"""

from __future__ import annotations

import logging
import time
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from pipeline import threads
from pipeline.models import CalibratedChurnModel, align
from pipeline.models.treeshap import TreeShap

log = logging.getLogger(__name__)
CHUNK_ROWS = 200_000


def _n(v: float, fmt: str = ".0f") -> str:
    return "unknown" if pd.isna(v) else format(v, fmt)


@dataclass(frozen=True)
class Driver:
    """A group of related features, the sentence that explains it with the customer's numbers, and an action."""

    name: str
    features: tuple[str, ...]
    sentence: Callable[[dict], str]
    action: str


def _lapsing(r: dict) -> str:
    usual = f"; usually buys every {_n(r.get('gap_mean_days'))} days" if pd.notna(r.get("gap_mean_days")) else ""
    return f"No purchase for {_n(r['recency_days'])} days{usual}"


DRIVERS = (
    Driver(
        "lapsing",
        (
            "recency_days",
            "overdue_ratio",
            "gap_mean_days",
            "gap_std_days",
            "gap_cv",
            "bgnbd_p_alive",
            "bgnbd_expected_purchases",
            "bgnbd_p_no_purchase",
        ),
        _lapsing,
        "win-back reminder",
    ),
    Driver(
        "buying_less",
        (
            "n_purchase_days",
            "repeat_buyer",
            "purchase_days_30d",
            "purchase_days_90d",
            "purchase_days_180d",
            "purchase_days_365d",
        ),
        lambda r: (
            f"Bought on {_n(r.get('purchase_days_90d'))} days in the last 90, "
            f"{_n(r.get('purchase_days_365d'))} in the last year"
        ),
        "personalised recommendations",
    ),
    Driver(
        "spending_less",
        (
            "spend_total",
            "spend_30d",
            "spend_90d",
            "spend_180d",
            "spend_365d",
            "avg_basket",
            "spend_trend",
            "gg_expected_spend",
        ),
        lambda r: (
            f"Spent {_n(r.get('spend_90d'), ',.0f')} in the last 90 days, "
            f"{_n(r.get('spend_365d'), ',.0f')} in the last year"
        ),
        "personalised recommendations",
    ),
    Driver(
        "open_complaint",
        ("open_complaints", "oldest_open_complaint_days"),
        lambda r: (
            f"{_n(r.get('open_complaints'))} complaint(s) still open, "
            f"the oldest for {_n(r.get('oldest_open_complaint_days'))} days"
        ),
        "resolve the open complaint and call the customer",
    ),
    Driver(
        "slow_resolution",
        ("mean_resolution_days", "max_resolution_days", "slow_resolutions_365d", "mean_satisfaction"),
        lambda r: (
            f"Complaints took up to {_n(r.get('max_resolution_days'))} days to resolve "
            f"(satisfaction {_n(r.get('mean_satisfaction'), '.1f')}/5)"
        ),
        "service-recovery call with a goodwill gesture",
    ),
    Driver(
        "complaints",
        (
            "n_complaints",
            "complaints_30d",
            "complaints_90d",
            "complaints_180d",
            "complaints_365d",
            "complaint_rate",
            "days_since_complaint",
            "max_severity",
            "complaints_delivery",
            "complaints_quality",
            "complaints_billing",
            "complaints_service",
            "complaints_other",
        ),
        lambda r: (
            f"{_n(r.get('complaints_365d'))} complaint(s) in the last year, "
            f"the last {_n(r.get('days_since_complaint'))} days ago"
        ),
        "check in on the customer's experience",
    ),
    Driver(
        "low_nps",
        ("nps_last", "nps_detractor", "nps_promoter", "days_since_nps", "n_surveys"),
        lambda r: f"Last NPS answer was {_n(r.get('nps_last'))}/10, {_n(r.get('days_since_nps'))} days ago",
        "follow-up call from customer care",
    ),
    Driver(
        "price_sensitive",
        ("discount_share",),
        lambda r: f"{_n(100 * r.get('discount_share', np.nan))}% of spend was on discount",
        "targeted discount",
    ),
    Driver(
        "new_customer",
        ("tenure_days", "account_age_days"),
        lambda r: f"First purchase only {_n(r.get('tenure_days'))} days ago",
        "onboarding journey",
    ),
    Driver(
        "returns",
        ("returns_rate",),
        lambda r: f"Returned {_n(100 * r.get('returns_rate', np.nan))}% of items bought",
        "check product fit",
    ),
    Driver(
        "brand_switching",
        ("brand_loyalty",),
        lambda r: (
            f"Only {_n(100 * r.get('brand_loyalty', np.nan))}% of purchases in a category go to their usual brand"
        ),
        "offer on their usual brand",
    ),
    Driver(
        "narrow_range",
        ("category_breadth",),
        lambda r: f"Buys in only {_n(r.get('category_breadth'))} categories",
        "cross-category recommendations",
    ),
    Driver(
        "not_member",
        ("loyalty_member",),
        lambda r: "Not a loyalty-programme member" if r.get("loyalty_member") == 0 else "Loyalty-programme member",
        "invite to the loyalty programme",
    ),
    Driver(
        "profile",
        ("region", "acquisition_channel"),
        lambda r: f"Profile: {r.get('acquisition_channel', 'unknown')} customer in {r.get('region', 'unknown')} region",
        "segment campaign",
    ),
)


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
    return pd.DataFrame(values, columns=model.features, index=frame.index)


_EXPLAINERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _explainer(classifier) -> TreeShap:
    """The compiled explainer of a fitted classifier (compiled once per model and process: about half a second)."""
    if classifier not in _EXPLAINERS:
        _EXPLAINERS[classifier] = TreeShap(classifier.booster_)
    return _EXPLAINERS[classifier]


def by_driver(shap_values: pd.DataFrame) -> pd.DataFrame:
    """Sum feature contributions into driver groups (features not in any group form their own)."""
    grouped = {}
    seen = set()
    for d in DRIVERS:
        cols = [c for c in d.features if c in shap_values.columns]
        seen.update(cols)
        if cols:
            grouped[d.name] = shap_values[cols].sum(axis=1)
    for c in shap_values.columns.difference(sorted(seen)):
        grouped[c] = shap_values[c]
    return pd.DataFrame(grouped, index=shap_values.index)


def reasons(frame: pd.DataFrame, driver_values: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The top ``n`` drivers that raise each customer's risk, as sentences, plus a suggested action.

    Each driver's sentence is rendered only for the customers it is a reason for, from that driver's columns, in
    blocks: a million customers never become a million full-row dicts.
    """
    by_name = {d.name: d for d in DRIVERS}
    values = driver_values.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    names = driver_values.columns.to_numpy()[order]
    positive = np.take_along_axis(values, order, axis=1) > 0
    out = {}
    for k in range(n):
        text = np.full(len(frame), "", dtype=object)
        for name in pd.unique(names[positive[:, k], k]):
            rows = np.flatnonzero(positive[:, k] & (names[:, k] == name))
            text[rows] = _sentences(frame, rows, by_name.get(name), name)
        out[f"reason_{k + 1}"] = text
    top = np.where(positive[:, 0], names[:, 0], "") if n else np.full(len(frame), "")
    out["top_driver"] = top
    out["suggested_action"] = np.array([by_name[t].action if t in by_name else "" for t in top], dtype=object)
    return pd.DataFrame(out, index=frame.index)


def _sentences(
    frame: pd.DataFrame, rows: np.ndarray, driver: Driver | None, name: str, block: int = 100_000
) -> list[str]:
    """The sentence of ``driver`` (or ``name = value`` for an ungrouped feature) for the given row positions."""
    columns = [c for c in (driver.features if driver else (name,)) if c in frame.columns]
    texts: list[str] = []
    for start in range(0, len(rows), block):
        part = frame.iloc[rows[start : start + block]][columns].to_dict("records")
        texts += [driver.sentence(r) for r in part] if driver else [f"{name} = {r.get(name)}" for r in part]
    return texts
