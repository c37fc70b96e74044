"""Who goes on the weekly save list, who goes to the win-back group, and what a contact is expected to save.

A customer outside the active base (silent longer than nearly every returning customer took: see
``pipeline.population``) is not someone a retention call saves: they go to the **win-back** group. Customers of the
active base at more risk than a typical active one are ranked by the value a contact is expected to save: value at
risk x the save rate of the suggested action - its cost; where that is not positive the action is "none". The save
list is the top of that ranking (by count, by threshold, or at the backtest's profit-optimal size); a seeded random
share of it is held out (not contacted) so that what contacting saves can be measured later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import ListSize, ReasonsConfig, RetentionConfig

SAVE, WIN_BACK, NOT_LISTED = "save list", "win-back", "not listed"
BANDS = ("low", "medium", "high")


def risk_band(p: pd.Series, cfg: RetentionConfig) -> pd.Categorical:
    """High, medium or low by the configured probability thresholds."""
    band = np.select([p >= cfg.high_risk, p >= cfg.medium_risk], ["high", "medium"], default="low")
    return pd.Categorical(band, categories=BANDS, ordered=True)


def outside_active_base(scored: pd.DataFrame) -> np.ndarray:
    """The win-back group: the customers outside the active base (a list without the column: nobody)."""
    if "active" not in scored:
        return np.zeros(len(scored), dtype=bool)
    return ~scored["active"].to_numpy(bool)


def above_typical(scored: pd.DataFrame) -> np.ndarray:
    """Customers at more risk than a typical active customer (``reference_probability``): below it a customer is
    doing better than most, and a retention contact is as likely to disturb as to save them. Where there is no
    reference (a list scored without the churn model's points), everyone qualifies."""
    if "reference_probability" not in scored:
        return np.ones(len(scored), dtype=bool)
    reference = scored["reference_probability"].to_numpy(dtype=float)
    return np.isnan(reference) | (scored["churn_probability"].to_numpy(dtype=float) > reference)


def saveable_value(
    scored: pd.DataFrame, reasons: ReasonsConfig, save_rates: dict[str, float] | None = None
) -> np.ndarray:
    """Value at risk x the suggested action's save rate - its cost (the expected gain of one contact). The rate is
    the measured one where ``save_rates`` has it, else the configured one."""
    actions = reasons.actions
    rates = {k: a.save_rate for k, a in actions.items()} | (save_rates or {})
    rate = scored["action"].map(rates).fillna(0.0).to_numpy(dtype=float)
    cost = scored["action"].map({k: a.cost for k, a in actions.items()}).fillna(0.0).to_numpy(dtype=float)
    return scored["value_at_risk"].to_numpy(dtype=float) * rate - cost


def list_count(eligible: int, saveable: np.ndarray, cfg: RetentionConfig, top_n: int, optimal_share) -> int:
    """How many eligible customers (sorted by saveable value, best first) go on the list."""
    if cfg.list_size == ListSize.threshold:
        return int((saveable >= max(cfg.min_saveable, 1e-12)).sum())
    if cfg.list_size == ListSize.optimal and optimal_share is not None:
        return min(eligible, int(round(optimal_share * len(saveable))))
    return min(eligible, top_n)


def seeded_draw(customer_ids: pd.Series, as_of: pd.Timestamp, seed: int, salt: str = "") -> np.ndarray:
    """One uniform number per customer, fixed by the seed, the week and ``salt`` (a re-run draws the same)."""
    key = f"{seed:08d}{as_of:%Y%m%d}{salt}"[-16:].rjust(16, "0")
    return pd.util.hash_array(customer_ids.astype(str).to_numpy(dtype=object), hash_key=key) / np.float64(2**64)


def held_out(customer_ids: pd.Series, as_of: pd.Timestamp, share: float, seed: int) -> np.ndarray:
    """A seeded random share of the listed customers, drawn afresh each week, that is not contacted."""
    if share <= 0 or not len(customer_ids):
        return np.zeros(len(customer_ids), dtype=bool)
    return seeded_draw(customer_ids, as_of, seed) < share


def expected_gains(
    scored: pd.DataFrame, reasons: ReasonsConfig, save_rates: dict[str, float] | None, uplift: pd.DataFrame | None
) -> pd.DataFrame:
    """Every customer's expected gain of every action (one column each): uplift x value if retained - cost where the
    uplift model learned the action, else value at risk x its save rate - cost."""
    actions = {k: a for k, a in reasons.actions.items() if k != "none"}
    rates = {k: a.save_rate for k, a in actions.items()} | (save_rates or {})
    at_risk = scored["value_at_risk"].to_numpy(dtype=float)
    value = scored["value_if_retained"].to_numpy(dtype=float) if "value_if_retained" in scored else at_risk
    out = {}
    for key, action in actions.items():
        if uplift is not None and key in uplift:
            out[key] = uplift[key].to_numpy(dtype=float) * value - action.cost
        else:
            out[key] = at_risk * rates[key] - action.cost
    return pd.DataFrame(out, index=scored.index)


def assign(
    scored: pd.DataFrame,
    cfg: RetentionConfig,
    reasons: ReasonsConfig,
    top_n: int,
    seed: int,
    optimal_share: float | None = None,
    save_rates: dict[str, float] | None = None,
    uplift: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The scored customers with their risk band, group, saveable value, list rank, hold-out flag and action.
    ``save_rates``: each action's save rate where past lists measured it (``pipeline.effects``), else the config's.
    ``uplift``: per customer, the uplift of each action the uplift model learned, when it won its out-of-time test:
    the list then ranks by the largest expected gain over those actions and suggests that action."""
    as_of = pd.Timestamp(scored["as_of"].iloc[0]) if len(scored) else pd.Timestamp(0)
    winback = outside_active_base(scored)
    reason_action = scored["action"].to_numpy(dtype=object)
    gains = expected_gains(scored, reasons, save_rates, uplift)
    if uplift is not None and uplift.shape[1]:
        learned = gains[[a for a in uplift.columns if a in gains]]
        chosen = np.asarray(learned.columns, dtype=object)[learned.to_numpy().argmax(axis=1)]
        saveable = learned.to_numpy().max(axis=1)
    else:
        chosen = reason_action
        saveable = saveable_value(scored, reasons, save_rates)
    worth = (saveable > 0) & ~winback & (above_typical(scored) if cfg.above_typical_only else True)
    order = np.lexsort((scored["customer_id"].to_numpy(dtype=str), -scored["value_at_risk"].to_numpy(), -saveable))
    ranked = order[worth[order]]
    listed = ranked[: list_count(len(ranked), saveable[ranked], cfg, top_n, optimal_share)]
    on_list = np.zeros(len(scored), dtype=bool)
    on_list[listed] = True
    holdout = np.zeros(len(scored), dtype=bool)
    holdout[listed] = held_out(scored["customer_id"].iloc[listed], as_of, cfg.holdout_share, seed)
    contacted = listed[~holdout[listed]]
    list_rank = np.full(len(scored), np.nan)
    list_rank[contacted] = np.arange(1, len(contacted) + 1)
    action = np.where(worth | winback, np.where(winback, reason_action, chosen), "none").astype(object)
    explored, explore_cost = explore(scored, listed, holdout, action, gains, saveable, cfg.explore_share, as_of, seed)
    labels = {k: a.label for k, a in reasons.actions.items()}
    return scored.assign(
        risk_band=risk_band(scored["churn_probability"], cfg),
        group=np.select([winback, on_list], [WIN_BACK, SAVE], default=NOT_LISTED),
        saveable_value=np.maximum(saveable, 0.0),
        on_list=on_list,
        holdout=holdout,
        list_rank=list_rank,
        reason_action=reason_action,
        action=action,
        explored=explored,
        explore_cost=explore_cost,
        ranked_by="uplift" if uplift is not None and uplift.shape[1] else "value at risk",
        suggested_action=[labels.get(a, a) for a in action],
        data_warning=stale_complaint_warning(scored, cfg),
    )


def explore(
    scored: pd.DataFrame,
    listed: np.ndarray,
    holdout: np.ndarray,
    action: np.ndarray,
    gains: pd.DataFrame,
    saveable: np.ndarray,
    share: float,
    as_of: pd.Timestamp,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random ``share`` of the contacted customers gets an action drawn at random from every action the
    team has (``action`` is changed in place): so each action's effect stays measurable whatever the ranking
    prefers. Returns who was explored and, per customer, the expected gain given up (the ranking's - the drawn
    action's)."""
    explored = np.zeros(len(scored), dtype=bool)
    cost = np.zeros(len(scored))
    contacted = listed[~holdout[listed]]
    if share <= 0 or not len(contacted) or not gains.shape[1]:
        return explored, cost
    ids = scored["customer_id"].iloc[contacted]
    picked = contacted[seeded_draw(ids, as_of, seed, "explore") < share]
    choice = np.floor(seeded_draw(scored["customer_id"].iloc[picked], as_of, seed, "action") * gains.shape[1])
    drawn = np.asarray(gains.columns, dtype=object)[choice.astype(int)]
    cost[picked] = saveable[picked] - gains.to_numpy()[picked, choice.astype(int)]
    action[picked] = drawn
    explored[picked] = True
    return explored, cost


def stale_complaint_warning(scored: pd.DataFrame, cfg: RetentionConfig) -> np.ndarray:
    """A complaint open longer than ``stale_complaint_days`` is likely stale ticket data, not a reason to call."""
    if "oldest_open_complaint_days" not in scored:
        return np.full(len(scored), "", dtype=object)
    days = scored["oldest_open_complaint_days"].to_numpy(dtype=float)
    stale = np.nan_to_num(days, nan=0) > cfg.stale_complaint_days
    text = [f"A complaint has been open for {d:,.0f} days: check the ticket is still open" for d in days[stale]]
    out = np.full(len(scored), "", dtype=object)
    out[stale] = text
    return out
