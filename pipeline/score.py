"""Score every customer with a purchase before as_of: risk, value, value at risk, rank and the reasons."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import explain, models
from pipeline.train import NotEnoughHistory, TrainedModels, predict

FALLBACK_VERSION = "bgnbd-gamma-gamma (no labelled history)"
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


def run(trained: TrainedModels, features: pd.DataFrame, model_version: str, n_reasons: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scored list (ranked by value at risk) and the per-customer driver contributions."""
    scored = predict(trained, features)
    drivers = explain.by_driver(explain.contributions(trained.churn, features))
    return _assemble(scored, drivers, features, model_version, n_reasons)


def bgnbd_predictions(features: pd.DataFrame) -> pd.DataFrame:
    """Churn and value from the per-cutoff BG/NBD and Gamma-Gamma features, which need no labels.

    churn = P(no purchase in the horizon); expected value = expected purchases x expected spend per purchase; value
    if retained = expected value / P(at least one purchase), i.e. spend given the customer buys, as for the model.
    """
    model = models.BgNbdBaseline()
    p, expected = model.predict_proba(features)[:, 1], model.predict_value(features)
    if_retained = models.value_if_retained(p, expected)
    return pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), "churn_probability": p,
                         "value_if_retained": if_retained, "expected_value": expected, "value_at_risk": p * if_retained},
                        index=features.index)


def run_fallback(features: pd.DataFrame, n_reasons: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score without a trained model: BG/NBD x Gamma-Gamma, with rule-based warning signs as the reasons."""
    needed = list(models.BgNbdBaseline.COLUMNS)
    if any(c not in features for c in needed) or features[needed].isna().all().any():
        raise NotEnoughHistory("too little history for a labelled model, and too few customers (or repeat buyers) for "
                               "the BG/NBD and Gamma-Gamma fallback; features.probabilistic must be on")
    scored = bgnbd_predictions(features)
    n = len(WARNING_SIGNS)
    signs = pd.DataFrame({name: np.where(np.asarray(test(features), bool), float(n - k), 0.0)
                          for k, (name, test) in enumerate(WARNING_SIGNS)}, index=features.index)
    return _assemble(scored, signs, features, FALLBACK_VERSION, n_reasons)


def _assemble(scored: pd.DataFrame, drivers: pd.DataFrame, features: pd.DataFrame, model_version: str,
              n_reasons: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    words = explain.reasons(features, drivers, n_reasons)
    segment_cols = [c for c in FILTER_COLUMNS if c in features]
    out = pd.concat([scored, words, features[["recency_days", "n_purchase_days", "spend_365d", *segment_cols]]], axis=1)
    out = out.sort_values(["value_at_risk", "churn_probability", "customer_id"], ascending=[False, False, True], kind="stable")
    out = out.assign(risk_rank=range(1, len(out) + 1), model_version=model_version, as_of=features["cutoff"].iloc[0])
    first = ["customer_id", "risk_rank", "churn_probability", "expected_value", "value_at_risk", "value_if_retained",
             *[f"reason_{k + 1}" for k in range(n_reasons)], "suggested_action", "top_driver", "model_version", "as_of"]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True), drivers.loc[out.index].reset_index(drop=True)
