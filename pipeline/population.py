"""Who a retention team can still keep: the active base, decided from the customers' own purchase rhythm.

A customer is **active** at a cutoff while their silence (days since their last purchase) is no longer than

* the base's return window: the ``population.return_quantile`` share (0.9) of all repeat purchases before the cutoff
  came within this many days of the purchase before them ("nine in ten returns come within 36 days"), or
* for a repeat buyer, their own: the silence their own usual gap would reach with the same probability if they buy
  at a steady rate (a Poisson process, as BG/NBD assumes of a live customer): mean gap x -ln(1 - quantile), 2.3
  usual gaps at 0.9. A customer who buys every 100 days is not gone after 60 days of silence, however brisk the base.

Everyone else is in the **win-back** group: silent longer than nearly every customer who came back took. The churn
model learns, is calibrated, backtested and promoted on the active base of each cutoff; the win-back group gets
its own estimate. ``population.max_silence_days`` replaces the base's window by a number of days a person chose.

The window comes from the histogram of the gaps between consecutive purchase days before the cutoff (exact counts
from the feature engine), so it is the same on every engine and thread count.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.config import PopulationConfig

COLUMNS = ("return_window_days", "active")  # what the feature frames carry (never model inputs)


def window_days(gaps: pd.DataFrame, cfg: PopulationConfig) -> float:
    """The base's return window: the configured days, or the quantile of repeat-purchase gaps (``gap_days``, ``n``).

    No repeat purchase before the cutoff (a brand-new base): no window from the data, so everyone counts as active.
    """
    if cfg.max_silence_days is not None:
        return float(cfg.max_silence_days)
    known = gaps.dropna(subset=["gap_days"])
    known = known[known["n"] > 0].sort_values("gap_days")
    if known.empty:
        return float("inf")
    share = np.cumsum(known["n"].to_numpy(float)) / known["n"].sum()
    k = int(np.searchsorted(share, cfg.return_quantile - 1e-12, side="left"))
    return float(known["gap_days"].to_numpy(float)[min(k, len(known) - 1)])


def own_gap_multiple(cfg: PopulationConfig) -> float:
    """How many of a repeat buyer's own usual gaps they may be silent and still be active (0 = the base's rule only)."""
    return -math.log(1.0 - cfg.return_quantile) if cfg.own_rhythm else 0.0


def is_active(features: pd.DataFrame, window: float, cfg: PopulationConfig) -> np.ndarray:
    """Whether each customer is in the active base (see the module docstring)."""
    recency = features["recency_days"].to_numpy(float)
    own = own_gap_multiple(cfg) * features["gap_mean_days"].to_numpy(float)
    allowed = np.fmax(window, np.nan_to_num(own, nan=0.0))
    return recency <= allowed


def describe(window: float, cfg: PopulationConfig) -> str:
    """The rule in words, for the report and the model card."""
    if not np.isfinite(window):
        return "every customer (no repeat purchase yet to learn a return window from)"
    base = (
        f"bought in the last {window:,.0f} days (set by population.max_silence_days)"
        if cfg.max_silence_days is not None
        else f"bought in the last {window:,.0f} days ({cfg.return_quantile:.0%} of repeat purchases come within "
        f"{window:,.0f} days of the one before)"
    )
    if not cfg.own_rhythm:
        return base
    return f"{base}, or within {own_gap_multiple(cfg):.1f} times their own usual gap"
