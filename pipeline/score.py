"""Score every customer with a purchase before as_of: risk, value, value at risk, rank and the reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import explain, models
from pipeline.bundle import FALLBACK_VERSION
from pipeline.train import NotEnoughHistory, TrainedModels, predict

__all__ = ["FALLBACK_VERSION", "run_fallback", "run_on_spark", "score_customers", "score_rows"]
FILTER_COLUMNS = ("rfm_segment", "loyalty_stage", "loyalty_quadrant", "region", "acquisition_channel", "loyalty_member")
# Warning signs for the label-free fallback, in order of priority: (driver, test on the feature row).
WARNING_SIGNS = (
    ("open_complaint", lambda f: f.get("open_complaints", 0) > 0),
    ("lapsing", lambda f: (f["overdue_ratio"].fillna(0) >= 1.5) | (f["bgnbd_p_alive"] < 0.5)),
    ("slow_resolution", lambda f: f.get("max_resolution_days", 0) > 14),
    ("low_nps", lambda f: f.get("nps_detractor", 0) == 1),
    ("spending_less", lambda f: f["spend_trend"].fillna(0) <= -0.3),
    ("new_customer", lambda f: f["n_purchase_days"] == 1),
)


def score_customers(
    trained: TrainedModels, features: pd.DataFrame, model_version: str, n_reasons: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scored list (ranked by value at risk) and the per-customer driver contributions."""
    return _rank(*score_rows(trained, features, n_reasons), model_version, n_reasons)


def score_rows(trained: TrainedModels, features: pd.DataFrame, n_reasons: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Risk, value, reasons and filter columns of each customer, unranked (each row on its own: any batch of rows)."""
    scored = predict(trained, features)
    drivers = explain.by_driver(explain.contributions(trained.churn, features))
    return _rows(scored, drivers, features, n_reasons), drivers


def run_on_spark(
    session, trained: TrainedModels, features: pd.DataFrame, model_version: str, n_reasons: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same list as ``score_customers``, with predictions and exact reasons computed on Spark's executors.

    Each partition of the feature rows is scored by ``score_rows`` in a pandas UDF (``mapInPandas``; the fitted
    models travel with it); only the global ranking runs on the driver.
    """
    plain = _plain(features)
    sample_rows, sample_drivers = score_rows(trained, features.head(50), n_reasons)
    template = _plain(pd.concat([sample_rows, sample_drivers.add_prefix(DRIVER_PREFIX)], axis=1))
    schema = session.createDataFrame(template.head(1)).schema

    def score_partition(batches):
        for batch in batches:
            rows, drivers = score_rows(trained, batch, n_reasons)
            yield _plain(pd.concat([rows, drivers.add_prefix(DRIVER_PREFIX)], axis=1))[template.columns]

    out = session.createDataFrame(plain).mapInPandas(score_partition, schema).toPandas()
    out = out.astype({c: template[c].dtype for c in template.columns if template[c].dtype != object})
    out = out.astype(
        {
            c: features[c].dtype
            for c in out.columns
            if c in features and c != "customer_id" and isinstance(features[c].dtype, pd.CategoricalDtype)
        }
    )
    driver_cols = [c for c in out.columns if c.startswith(DRIVER_PREFIX)]
    drivers = out[driver_cols].rename(columns=lambda c: c[len(DRIVER_PREFIX) :])
    return _rank(out.drop(columns=driver_cols), drivers, model_version, n_reasons)


DRIVER_PREFIX = "driver__"


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as plain strings, for Spark (the models restore their training categories themselves)."""
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: "object" for c in cats}) if cats else frame


def bgnbd_predictions(features: pd.DataFrame) -> pd.DataFrame:
    """Churn and value from the per-cutoff BG/NBD and Gamma-Gamma features, which need no labels.

    churn = P(no purchase in the horizon); expected value = expected purchases x expected spend per purchase; value
    if retained = expected value / P(at least one purchase), i.e. spend given the customer buys, as for the model.
    """
    model = models.BgNbdBaseline()
    p, expected = model.predict_proba(features)[:, 1], model.predict_value(features)
    if_retained = models.value_if_retained(p, expected)
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "churn_probability": p,
            "value_if_retained": if_retained,
            "expected_value": expected,
            "value_at_risk": p * if_retained,
        },
        index=features.index,
    )


def run_fallback(features: pd.DataFrame, n_reasons: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score without a trained model: BG/NBD x Gamma-Gamma, with rule-based warning signs as the reasons."""
    needed = list(models.BgNbdBaseline.COLUMNS)
    if any(c not in features for c in needed) or features[needed].isna().all().any():
        raise NotEnoughHistory(
            "too little history for a labelled model, and too few customers (or repeat buyers) for "
            "the BG/NBD and Gamma-Gamma fallback; features.probabilistic must be on"
        )
    scored = bgnbd_predictions(features)
    n = len(WARNING_SIGNS)
    signs = pd.DataFrame(
        {
            name: np.where(np.asarray(test(features), bool), float(n - k), 0.0)
            for k, (name, test) in enumerate(WARNING_SIGNS)
        },
        index=features.index,
    )
    return _rank(_rows(scored, signs, features, n_reasons), signs, FALLBACK_VERSION, n_reasons)


def _rows(scored: pd.DataFrame, drivers: pd.DataFrame, features: pd.DataFrame, n_reasons: int) -> pd.DataFrame:
    """Each customer's scores, reasons in words and the columns a list is filtered by."""
    words = explain.reasons(features, drivers, n_reasons)
    segment_cols = [c for c in FILTER_COLUMNS if c in features]
    return pd.concat(
        [scored, words, features[["cutoff", "recency_days", "n_purchase_days", "spend_365d", *segment_cols]]], axis=1
    )


def _rank(
    rows: pd.DataFrame, drivers: pd.DataFrame, model_version: str, n_reasons: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The list in order of value at risk, with ranks, and the drivers in the same order."""
    out = rows.rename(columns={"cutoff": "as_of"})
    out = out.sort_values(
        ["value_at_risk", "churn_probability", "customer_id"], ascending=[False, False, True], kind="stable"
    )
    out = out.assign(risk_rank=range(1, len(out) + 1), model_version=model_version)
    first = [
        "customer_id",
        "risk_rank",
        "churn_probability",
        "expected_value",
        "value_at_risk",
        "value_if_retained",
        *[f"reason_{k + 1}" for k in range(n_reasons)],
        "suggested_action",
        "top_driver",
        "model_version",
        "as_of",
    ]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True), drivers.loc[
        out.index
    ].reset_index(drop=True)
