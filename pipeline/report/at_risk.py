"""The at-risk list a retention team acts on: the top customers by value at risk, with their reasons."""

from __future__ import annotations

import pandas as pd

from pipeline.score import FILTER_COLUMNS

AT_RISK_COLUMNS = [
    "risk_rank",
    "customer_id",
    "churn_probability",
    "value_at_risk",
    "expected_value",
    "value_if_retained",
    "reason_1",
    "reason_2",
    "reason_3",
    "suggested_action",
    "model_version",
]


def at_risk_list(scored: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """The top ``top_n`` customers by value at risk, with the columns a retention team acts on."""
    cols = [c for c in AT_RISK_COLUMNS if c in scored] + [c for c in FILTER_COLUMNS if c in scored]
    return scored.head(top_n)[cols]
