"""Descriptive labels retention teams filter by: RFM segment, loyalty-ladder stage and loyalty quadrant.

They are computed from the features of the same (customer, cutoff), so they are as point-in-time correct as the
features. RFM quintiles rank each customer among everyone with a purchase before the same cutoff.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import LoyaltyConfig

SEGMENT_COLUMNS = ["r_score", "f_score", "m_score", "rfm_segment", "loyalty_stage", "loyalty_quadrant"]

# (segment, rule on R and FM = rounded mean of F and M), first match wins; every (R, F, M) gets exactly one segment.
RFM_SEGMENTS = [
    ("champions", lambda r, f, fm: (r >= 4) & (fm >= 4)),
    ("can't lose", lambda r, f, fm: (r <= 2) & (fm >= 5)),
    ("at risk", lambda r, f, fm: (r <= 2) & (fm >= 3)),
    ("loyal", lambda r, f, fm: (r >= 3) & (fm >= 3)),
    ("new customers", lambda r, f, fm: (r >= 5) & (f <= 1)),
    ("potential loyalists", lambda r, f, fm: r >= 4),
    ("need attention", lambda r, f, fm: r == 3),
    ("hibernating", lambda r, f, fm: r == 2),
    ("lost", lambda r, f, fm: r <= 1),
]
STAGES = ["first-time buyer", "repeat buyer", "loyal", "advocate", "lapsed"]
QUADRANTS = ["true", "latent", "spurious", "none", "unknown"]


def _quintile(values: pd.Series, cutoffs: pd.Series, ascending: bool) -> pd.Series:
    """1-5 by percentile rank within each cutoff (ties share the average rank); 5 = best."""
    pct = values.groupby(cutoffs, observed=True).rank(pct=True, method="average", ascending=ascending)
    return np.ceil(pct * 5).clip(1, 5).astype("int8")


def rfm_segments(frame: pd.DataFrame, rules: LoyaltyConfig = LoyaltyConfig()) -> pd.DataFrame:
    """R, F and M quintile scores (recency: fewer days is better) and the named segment.

    A repeat buyer overdue by more than ``active_max_overdue_ratio`` of their usual gaps has an R of at most 2, however
    recent that is for the base: a customer who usually buys every week and has been silent for two months is not a
    champion but at risk (or can't lose).
    """
    r = _quintile(frame["recency_days"], frame["cutoff"], ascending=False)
    if "overdue_ratio" in frame:
        lapsed = frame["overdue_ratio"].to_numpy(dtype=float) > rules.active_max_overdue_ratio
        r = r.where(~lapsed, np.minimum(r, 2)).astype("int8")
    f = _quintile(frame["n_purchase_days"], frame["cutoff"], ascending=True)
    m = _quintile(frame["spend_total"], frame["cutoff"], ascending=True)
    fm = np.floor((f.astype(float) + m) / 2 + 0.5)
    segment = np.select(
        [rule(r, f, fm) for _, rule in RFM_SEGMENTS], [name for name, _ in RFM_SEGMENTS], default="lost"
    )
    names = [name for name, _ in RFM_SEGMENTS]
    return pd.DataFrame(
        {"r_score": r, "f_score": f, "m_score": m, "rfm_segment": pd.Categorical(segment, categories=names)},
        index=frame.index,
    )


def loyalty_stage(frame: pd.DataFrame, rules: LoyaltyConfig) -> pd.Categorical:
    """The loyalty ladder: first-time buyer -> repeat buyer -> loyal -> advocate (loyal and a promoter); a repeat
    buyer silent for more than ``active_max_overdue_ratio`` of their usual gaps has lapsed off it."""
    n = frame["n_purchase_days"]
    lapsed = (n >= rules.repeat_min_purchase_days) & (frame["overdue_ratio"].fillna(0) > rules.active_max_overdue_ratio)
    loyal = (
        (n >= rules.loyal_min_purchase_days)
        & (frame["tenure_days"] >= rules.loyal_min_tenure_days)
        & (frame["overdue_ratio"].fillna(np.inf) <= rules.active_max_overdue_ratio)
    )
    promoter = (
        frame["nps_last"].ge(rules.advocate_min_nps) if "nps_last" in frame else pd.Series(False, index=frame.index)
    )
    stage = np.select(
        [loyal & promoter, loyal, lapsed, n >= rules.repeat_min_purchase_days],
        ["advocate", "loyal", "lapsed", "repeat buyer"],
        default="first-time buyer",
    )
    return pd.Categorical(stage, categories=STAGES)


def loyalty_quadrant(frame: pd.DataFrame, rules: LoyaltyConfig) -> pd.Categorical:
    """Attitudinal (last NPS) x behavioural (repeat buyer still buying at their usual rhythm) loyalty.

    true = both, latent = says yes but does not buy again, spurious = buys out of inertia without saying yes,
    none = neither, unknown = no NPS answer before the cutoff (or no survey table).
    """
    behaves = (frame["n_purchase_days"] >= rules.repeat_min_purchase_days) & (
        frame["overdue_ratio"].fillna(np.inf) <= rules.active_max_overdue_ratio
    )
    if "nps_last" not in frame:
        return pd.Categorical(["unknown"] * len(frame), categories=QUADRANTS)
    answered = frame["nps_last"].notna()
    says = frame["nps_last"].ge(rules.attitudinal_min_nps)
    quadrant = np.select(
        [~answered, says & behaves, says, behaves], ["unknown", "true", "latent", "spurious"], default="none"
    )
    return pd.Categorical(quadrant, categories=QUADRANTS)


def add(frame: pd.DataFrame, rules: LoyaltyConfig) -> pd.DataFrame:
    """The feature frame with the segment columns appended."""
    out = pd.concat([frame, rfm_segments(frame, rules)], axis=1)
    out["loyalty_stage"] = loyalty_stage(frame, rules)
    out["loyalty_quadrant"] = loyalty_quadrant(frame, rules)
    return out
