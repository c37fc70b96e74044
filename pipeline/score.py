"""Score every customer with a purchase before as_of: risk, value, value at risk, rank and the reasons."""
from __future__ import annotations

import pandas as pd

from pipeline import explain
from pipeline.train import TrainedModels, predict


def run(trained: TrainedModels, features: pd.DataFrame, model_version: str, n_reasons: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scored list (ranked by value at risk) and the per-customer driver contributions."""
    scored = predict(trained, features)
    drivers = explain.by_driver(explain.contributions(trained.churn, features))
    words = explain.reasons(features, drivers, n_reasons)
    segment_cols = [c for c in ("rfm_segment", "loyalty_stage", "loyalty_quadrant", "region", "acquisition_channel",
                                "loyalty_member") if c in features]
    out = pd.concat([scored, words, features[["recency_days", "n_purchase_days", "spend_365d", *segment_cols]]], axis=1)
    out = out.sort_values(["value_at_risk", "churn_probability", "customer_id"], ascending=[False, False, True], kind="stable")
    out = out.assign(risk_rank=range(1, len(out) + 1), model_version=model_version, as_of=features["cutoff"].iloc[0])
    first = ["customer_id", "risk_rank", "churn_probability", "expected_value", "value_at_risk", "value_if_retained",
             *[f"reason_{k + 1}" for k in range(n_reasons)], "suggested_action", "top_driver", "model_version", "as_of"]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True), drivers.loc[out.index].reset_index(drop=True)
