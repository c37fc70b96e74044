"""Score every customer with a purchase before as_of: risk, value, value at risk, rank and the reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import explain, fitting, models
from pipeline.bundle import FALLBACK_VERSION
from pipeline.fitting import NotEnoughHistory, TrainedModels, predict

__all__ = ["FALLBACK_VERSION", "run_baseline", "run_fallback", "run_on_spark", "score_customers", "score_rows"]
# What the list shows beside the scores: the customer's last order and the facts a call would start from.
DESCRIBING_COLUMNS = (
    "active",
    "return_window_days",
    "recency_days",
    "gap_mean_days",
    "spend_total",
    "n_purchase_days",
    "spend_365d",
    "last_order_date",
    "last_order_amount",
    "open_complaints",
    "oldest_open_complaint_days",
)
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
    trained: TrainedModels, features: pd.DataFrame, model_version: str, wording: explain.Wording
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scored list (ranked by value at risk) and each customer's driver contributions in probability points."""
    typical = explain.typical_values(features, wording)
    ref = week_reference(trained, features, wording)
    return _rank(*score_rows(trained, features, wording, typical, ref), model_version, wording.n_reasons)


def week_reference(trained: TrainedModels, features: pd.DataFrame, wording: explain.Wording) -> explain.Reference:
    """The typical active customer of this week's features (see ``explain.Reference``), computed once for all
    batches."""
    active = features[trained.active(features)]
    sample = active.iloc[explain.reference_rows(active["customer_id"])]
    if sample.empty:  # no active customer this week: no one to measure from
        return explain.Reference(pd.Series(dtype=float), 0.0, float("nan"))
    log_odds = explain.by_driver(explain.contributions(trained.churn, sample), wording.reasons)
    return explain.reference(log_odds, trained.churn.raw_probability(sample), trained.churn.calibrator_)


def score_rows(
    trained: TrainedModels, features: pd.DataFrame, wording: explain.Wording, typical: dict, ref: explain.Reference
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Risk, value, reasons and filter columns of each customer, unranked (each row on its own: any batch of rows).

    ``typical`` holds the medians the sentences compare with and ``ref`` the typical active customer, both computed
    once over every scored customer. The active base is explained by the churn model, in points from ``ref``; the
    win-back group, scored by its own model, gets warning signs as reasons and no points.
    """
    active = trained.active(features)
    mine = features[active]
    raw = trained.churn.raw_probability(mine) if len(mine) else np.empty(0)
    scored = predict(trained, features, raw)
    log_odds = explain.by_driver(explain.contributions(trained.churn, mine), wording.reasons)
    points = explain.to_points(log_odds, raw, trained.churn.calibrator_, ref)
    if trained.extended:  # the risk over the full horizon is the label horizon's times a factor: so are its points
        label_p = trained.churn.calibrated(raw)
        full = scored.loc[active, "churn_probability"].to_numpy()
        points = points.mul(np.divide(full, label_p, out=np.ones_like(label_p), where=label_p > 0), axis=0)
    drivers = points.reindex(features.index)
    rows = _rows(scored[active], points, mine, wording, typical)
    if not active.all():
        gone = features[~active]
        signs = warning_signs(gone)
        rows = pd.concat([rows, _rows(scored[~active], signs, gone, wording, typical, points=False)]).loc[
            features.index
        ]
    reference_probability = scored["churn_probability"] - drivers.sum(axis=1, min_count=1) / 100
    return rows.assign(reference_probability=reference_probability), drivers


def run_on_spark(
    session, trained: TrainedModels, features: pd.DataFrame, model_version: str, wording: explain.Wording
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same list as ``score_customers``, with predictions and exact reasons computed on Spark's executors.

    Each partition of the feature rows is scored by ``score_rows`` in a pandas UDF (``mapInPandas``; the fitted
    models travel with it); only the reference customer and the global ranking are computed on the driver.
    """
    plain = _plain(features)
    typical = explain.typical_values(features, wording)
    ref = week_reference(trained, features, wording)
    sample_rows, sample_drivers = score_rows(trained, features.head(50), wording, typical, ref)
    template = _plain(pd.concat([sample_rows, sample_drivers.add_prefix(DRIVER_PREFIX)], axis=1))
    schema = session.createDataFrame(template.head(1)).schema

    def score_partition(batches):
        for batch in batches:
            rows, drivers = score_rows(trained, batch, wording, typical, ref)
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
    return _rank(out.drop(columns=driver_cols), drivers, model_version, wording.n_reasons)


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


def run_fallback(features: pd.DataFrame, wording: explain.Wording) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score without a trained model: BG/NBD x Gamma-Gamma, with rule-based warning signs as the reasons."""
    needed = list(models.BgNbdBaseline.COLUMNS)
    if any(c not in features for c in needed) or features[needed].isna().all().any():
        raise NotEnoughHistory(
            "too little history for a labelled model, and too few customers (or repeat buyers) for "
            "the BG/NBD and Gamma-Gamma fallback; features.probabilistic must be on"
        )
    scored = bgnbd_predictions(features)
    signs = warning_signs(features)
    typical = explain.typical_values(features, wording)
    rows = _rows(scored, signs, features, wording, typical, points=False)
    return _rank(rows, signs, FALLBACK_VERSION, wording.n_reasons)


def run_baseline(
    trained: TrainedModels, name: str, features: pd.DataFrame, model_version: str, wording: explain.Wording
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score with the baseline the backtest preferred to the model: its risks, the value model's values, and
    rule-based warning signs as the reasons (a baseline has no exact contributions to give)."""
    scored = predict(trained, features)
    p = fitting.baseline_probability(trained, name, features)
    p = np.clip(np.where(np.isnan(p), scored["churn_probability"].to_numpy(), p), 0, 1)  # no BG/NBD fit: the model's
    scored = scored.assign(churn_probability=p, value_at_risk=p * scored["value_if_retained"].to_numpy())
    signs = warning_signs(features)
    rows = _rows(scored, signs, features, wording, explain.typical_values(features, wording), points=False)
    return _rank(rows, signs, f"{name} (the backtest's best, over model {model_version})", wording.n_reasons)


def with_outlook(scored: pd.DataFrame) -> pd.DataFrame:
    """What commercial tools show per customer beside the risk: average days between orders, the expected date of
    the next order, historic spend, the spend predicted in the horizon, and the two together.

    The next order is expected one usual gap after the last (a date already passed: the customer is overdue, and
    their risk says how likely the order is to come at all); a customer with one purchase day has no usual gap yet.
    """
    gap = scored["gap_mean_days"] if "gap_mean_days" in scored else pd.Series(np.nan, index=scored.index)
    last = pd.to_datetime(scored["last_order_date"]) if "last_order_date" in scored else pd.NaT
    historic = scored["spend_total"].to_numpy(dtype=float) if "spend_total" in scored else np.full(len(scored), np.nan)
    predicted = scored["expected_value"].to_numpy(dtype=float)
    return scored.assign(
        days_between_orders=gap,
        expected_next_order=last + pd.to_timedelta(gap.round(), unit="D"),
        historic_spend=historic,
        predicted_spend=predicted,
        total_value=historic + predicted,
    )


def warning_signs(features: pd.DataFrame) -> pd.DataFrame:
    """The rule-based warning signs of each customer, as priorities (the first sign in WARNING_SIGNS ranks highest)."""
    n = len(WARNING_SIGNS)
    return pd.DataFrame(
        {
            name: np.where(np.asarray(test(features), bool), float(n - k), 0.0)
            for k, (name, test) in enumerate(WARNING_SIGNS)
        },
        index=features.index,
    )


def _rows(
    scored: pd.DataFrame,
    drivers: pd.DataFrame,
    features: pd.DataFrame,
    wording: explain.Wording,
    typical: dict,
    points: bool = True,
) -> pd.DataFrame:
    """Each customer's scores, reasons in words and the columns a list is filtered and read by."""
    words = explain.reasons(features, drivers, wording, typical, points)
    described = [c for c in (*DESCRIBING_COLUMNS, *FILTER_COLUMNS) if c in features]
    return pd.concat([scored, words, features[["cutoff", *described]]], axis=1)


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
        *[f"reason_{k + 1}_points" for k in range(n_reasons) if f"reason_{k + 1}_points" in out],
        "action",
        "top_driver",
        "model_version",
        "as_of",
    ]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True), drivers.loc[
        out.index
    ].reset_index(drop=True)
