"""Stage uplift: learn from past lists who a contact helps and with which action; test it out of time.

Reads the past lists whose horizon has passed (``pipeline.history``: this tool's published lists and the optional
``lists`` table), their outcomes and the contact log; computes each listed customer's features as of their list's
date (from events strictly before it); fits ``pipeline.xlearner.XLearner`` on lists before each test block of
``retention.uplift.fold_days`` and judges it on the block (pooled out-of-time Qini against the list's own order and
actions); then fits it on every past list. Writes the model and the backtest; score uses the model only when the
backtest says it won.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Optional

import joblib
import numpy as np
import pandas as pd

from pipeline import effects, history
from pipeline.config import Config
from pipeline.featurize import engine, segments
from pipeline.featurize.build import build_on, feature_columns
from pipeline.infra import io, threads
from pipeline.infra.catalog import Catalog
from pipeline.infra.tables import FEATURE_TABLES
from pipeline.models import xlearner
from pipeline.stages.features import interim_tables

log = logging.getLogger(__name__)

NOT_FEATURES = {"active", "return_window_days", "season_ahead", *segments.SEGMENT_COLUMNS}  # the base's, not theirs


def run_uplift(cfg: Config, catalog: Catalog) -> dict:
    """Measure each action's effect, fit and backtest the uplift model; write them for as_of (``uplift.json``, the
    model, and, unless this is a backfill, the rates the lists rank by: ``action_effects.json``)."""
    as_of = catalog.read_plan().as_of
    summary: dict = {"as_of": f"{as_of:%Y-%m-%d}", "use": False, "actions": [], "folds": []}
    con = engine.connect(threads=threads.count())
    tables = interim_tables(con, catalog)
    rows = history.with_outcomes(history.listed(catalog, cfg, as_of), catalog, tables, cfg, con)
    t = xlearner.treatment(rows) if len(rows) else pd.Series(dtype=object)
    rows, t = rows[t.notna().to_numpy()].reset_index(drop=True), t.dropna().reset_index(drop=True)
    held = int((t == xlearner.NONE).sum())
    summary |= {"rows": len(rows), "held_out": held, "lists": int(rows["list_date"].nunique()) if len(rows) else 0}
    learn = cfg.retention.uplift.enabled and held >= cfg.retention.uplift.min_rows
    model, names, frame = None, [], rows
    if learn:
        frame = rows.merge(features_at_lists(con, tables, rows, cfg), on=["customer_id", "list_date"], how="left")
        names = [c for c in feature_columns(frame) if c not in NOT_FEATURES and frame[c].dtype.kind in "fiub"]
        names = [c for c in names if c not in history.COLUMNS and c not in ("contacted", "churned")]
        frame = frame.assign(prognosis=xlearner.prognosis(frame[names], t, 1 - frame["churned"].to_numpy(), cfg.seed))
    measured = effects.measure(frame, {k: a.save_rate for k, a in cfg.reasons.actions.items()}, cfg.retention.effects)
    summary["effects"] = [e.to_dict() for e in measured]
    if not [w for w in catalog.published_weeks() if w > as_of]:  # a backfill leaves the newer measurement alone
        catalog.write_effects(summary["effects"])  # this week's list ranks by these rates
    if not cfg.retention.uplift.enabled:
        return _write(catalog, as_of, summary | {"reason": "retention.uplift.enabled=false"}, None)
    if not learn:
        reason = (
            f"past lists hold {held} held-out customers whose outcome is known; the uplift model needs "
            f"{cfg.retention.uplift.min_rows} (retention.uplift.min_rows): the list keeps today's ranking"
        )
        return _write(catalog, as_of, summary | {"reason": reason}, None)
    retained = 1 - frame["churned"].to_numpy()
    folds, pooled = backtest(frame, t, retained, names, cfg)
    use, reason = xlearner.decide(pooled)
    model = xlearner.XLearner(names, cfg.retention.uplift.min_rows, cfg.seed, threads.count()).fit(frame, t, retained)
    summary |= {
        "use": bool(use and model.actions),
        "reason": reason,
        "actions": model.actions,
        "per_action": t.value_counts().to_dict(),
        "folds": folds.to_dict("records"),
        "pooled": pooled.to_dict("records"),
        "trained_on_lists_to": f"{rows['list_date'].max():%Y-%m-%d}",
    }
    return _write(catalog, as_of, summary, model)


def features_at_lists(con, tables: dict, rows: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Each listed customer's features as of their list's date, from events strictly before it. Computed on the
    listed customers alone (the BTYD fit and the base-wide segments, which depend on the whole base, are left out)."""
    ids = rows[["customer_id"]].drop_duplicates().astype({"customer_id": "string"})
    listed = engine.load(con, "uplift_listed", ids)
    inputs = {k: v.semi_join(listed, "customer_id") for k, v in tables.items() if k in FEATURE_TABLES}
    settings = dataclasses.replace(cfg.features, probabilistic=False)
    dates = sorted(pd.to_datetime(rows["list_date"]).dt.normalize().unique())
    features = build_on(con, inputs, list(dates), settings, cfg.horizon_days)
    return features.rename(columns={"cutoff": "list_date"}).astype({"customer_id": str})


def backtest(
    frame: pd.DataFrame, t: pd.Series, retained: np.ndarray, names: list[str], cfg: Config
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out of time: each block of ``fold_days`` of lists judged by a model fitted on the lists whose horizon ended
    before it. Per fold and pooled over the folds, the Qini area of the uplift ranking (with its best action) and of
    the list's own order (with its own, not explored, actions), both against the held-out customers."""
    done = history.horizon(cfg)
    step = pd.Timedelta(days=cfg.retention.uplift.fold_days)
    dates = pd.to_datetime(frame["list_date"])
    score = np.full(len(frame), np.nan)
    best = np.full(len(frame), None, dtype=object)
    at_risk = np.full(len(frame), np.nan)
    folds = []
    start = dates.min() + done + step
    while start <= dates.max():
        test = ((dates >= start) & (dates < start + step)).to_numpy()
        train = (dates + done <= start).to_numpy()
        model = xlearner.XLearner(names, cfg.retention.uplift.min_rows, cfg.seed, threads.count())
        model.fit(frame[train], t[train], retained[train])
        if model.actions and test.any():
            action, gain = xlearner.best_action(model.uplift(frame[test]), np.ones(int(test.sum())), {})
            score[test], best[test] = gain, action
            at_risk[test] = (1 - model.stay_without_contact(frame[test])) * _value(frame[test])
            folds.append(
                {
                    "test_from": f"{start:%Y-%m-%d}",
                    **_judge(frame[test], t[test], retained[test], gain, action, at_risk[test]),
                }
            )
        start += step
    judged = ~np.isnan(score)
    pooled = pd.DataFrame()
    if judged.any():
        pooled = pd.DataFrame(
            [
                {
                    "test_from": "all folds",
                    **_judge(
                        frame[judged], t[judged], retained[judged], score[judged], best[judged], at_risk[judged], True
                    ),
                }
            ]
        )
    return pd.DataFrame(folds), pooled


def _judge(
    frame: pd.DataFrame,
    t: pd.Series,
    retained: np.ndarray,
    score: np.ndarray,
    action,
    at_risk: np.ndarray,
    curves: bool = False,
) -> dict:
    """The Qini areas (under the curve: incremental retained per listed customer) of the uplift ranking (with its
    best action) and of two references with the lists' own actions: the lists' own order ("as sent"), and the order
    by value at risk (the no-contact model's churn risk x the customer's spend in the last year: the ranking this
    tool uses without the uplift model)."""
    got = t.to_numpy(dtype=object)
    control = got == xlearner.NONE
    as_sent = (got != xlearner.NONE) & ~frame["explored"].astype(bool).to_numpy()
    shares, up = xlearner.qini(score, got == np.asarray(action, dtype=object), control, retained)
    _, sent = xlearner.qini(-frame["rank"].to_numpy(dtype=float), as_sent, control, retained)
    _, by_risk = xlearner.qini(np.nan_to_num(at_risk, nan=-np.inf), as_sent, control, retained)
    out = {
        "customers": len(frame),
        "held_out": int(control.sum()),
        "qini_uplift": float(np.trapezoid(up, shares)),
        "qini_as_sent": float(np.trapezoid(sent, shares)),
        "qini_value_at_risk": float(np.trapezoid(by_risk, shares)),
    }
    if curves:
        out |= {
            "shares": shares.round(3).tolist(),
            "curve_uplift": up.round(5).tolist(),
            "curve_as_sent": sent.round(5).tolist(),
            "curve_value_at_risk": by_risk.round(5).tolist(),
        }
    return out


def _value(frame: pd.DataFrame) -> np.ndarray:
    """What a customer is worth for the reference ranking: their spend in the last year (else in all)."""
    for name in ("spend_365d", "spend_total"):
        if name in frame:
            return frame[name].fillna(0.0).clip(lower=0.0).to_numpy(dtype=float)
    return np.ones(len(frame))


def _write(catalog: Catalog, as_of: pd.Timestamp, summary: dict, model: Optional[xlearner.XLearner]) -> dict:
    path = catalog.uplift_model(as_of)
    if model is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with io.atomic_path(path) as tmp:
            joblib.dump(model, tmp)
    elif path.exists():
        path.unlink()
    summary = json.loads(json.dumps(summary, default=_plain), parse_constant=lambda _: None)  # NaN: unmeasured
    io.write_text(json.dumps(summary, indent=1, allow_nan=False), catalog.uplift_backtest(as_of))
    log.info("uplift: %s", summary.get("reason", ""))
    return summary


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value)}")
