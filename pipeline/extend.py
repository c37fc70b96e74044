"""Short histories: forecasts learnt over a shorter horizon, extended to the horizon asked for with BG/NBD's shape.

When no cutoff before as_of has a whole ``horizon_days`` observed after it, the plan labels a shorter horizon L
(``Plan.trained_horizon_days``) and the model learns that. Its forecasts reach the full horizon H by the chain rule:

* P(no purchase in H) = P(no purchase in L) x P(no purchase in (L, H] | none in L); the model gives the first factor,
  and BG/NBD, fitted on the customer's own history as of the cutoff, the second: P_BG(none in H) / P_BG(none in L)
  (no purchase in H implies none in L, so the ratio is the conditional).
* Expected spend over H = expected spend over L x E_BG[purchases in H] / E_BG[purchases in L].

Where BG/NBD could not be fitted (too few customers), the periods are taken as alike: P(none in H) = P(none in L)^(H/L)
and spend grows with H/L. A customer's reasons scale with their risk, so they still add up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.btyd import TARGET_COLUMNS


def churn_factor(p: np.ndarray, frame: pd.DataFrame, label_days: int, target_days: int) -> np.ndarray:
    """The factor taking P(no purchase in label_days) to P(no purchase in target_days), per customer."""
    ratio = target_days / label_days
    plain = np.power(np.clip(p, 1e-12, 1.0), ratio - 1)
    if TARGET_COLUMNS[0] not in frame or "bgnbd_p_no_purchase" not in frame:
        return plain
    label = frame["bgnbd_p_no_purchase"].to_numpy(float)
    target = frame[TARGET_COLUMNS[0]].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        bg = np.clip(target / label, 0.0, 1.0)
    return np.where(np.isfinite(bg) & (label > 1e-12), bg, plain)


def value_factor(frame: pd.DataFrame, label_days: int, target_days: int) -> np.ndarray:
    """The factor taking expected spend over label_days to expected spend over target_days, per customer."""
    plain = np.full(len(frame), target_days / label_days)
    if TARGET_COLUMNS[1] not in frame or "bgnbd_expected_purchases" not in frame:
        return plain
    label = frame["bgnbd_expected_purchases"].to_numpy(float)
    target = frame[TARGET_COLUMNS[1]].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        bg = target / label
    return np.where(np.isfinite(bg) & (label > 1e-9), np.maximum(bg, 1.0), plain)


def predictions(scored: pd.DataFrame, frame: pd.DataFrame, label_days: int, target_days: int) -> pd.DataFrame:
    """``train.predict``'s columns over label_days, extended to target_days."""
    p = scored["churn_probability"].to_numpy()
    p_target = p * churn_factor(p, frame, label_days, target_days)
    grow = value_factor(frame, label_days, target_days)
    if_retained = scored["value_if_retained"].to_numpy() * grow
    return scored.assign(
        churn_probability=p_target,
        value_if_retained=if_retained,
        expected_value=scored["expected_value"].to_numpy() * grow,
        value_at_risk=p_target * if_retained,
    )
