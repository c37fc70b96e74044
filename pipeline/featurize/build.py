"""Assemble one feature row per (customer, cutoff) from every available table, and the labels after each cutoff."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Optional

import ibis
import numpy as np
import pandas as pd

from pipeline import btyd, population
from pipeline.config import FeaturesConfig, PopulationConfig
from pipeline.featurize import engine, segments
from pipeline.featurize.complaints import complaint_features, survey_features
from pipeline.featurize.transactions import (
    SEASON_LAG_DAYS,
    _days_between,
    _flag,
    gap_histogram,
    last_orders,
    rfm,
    season_activity,
)
from pipeline.infra.tables import FEATURE_TABLES

KEYS = ["customer_id", "cutoff"]
CATEGORICAL = ["region", "acquisition_channel"]
# Columns that describe the row rather than the customer's behaviour; never model inputs.
NON_FEATURES = {"customer_id", "cutoff", "n_lines", "n_return_lines", *segments.SEGMENT_COLUMNS}
# What the list shows about a customer's last order: scoring features only, never model inputs.
DESCRIBING = ["last_order_date", "last_order_amount"]
NON_FEATURES |= set(DESCRIBING) | set(btyd.TARGET_COLUMNS) | set(population.COLUMNS)


@dataclass(frozen=True)
class FeatureInputs:
    """The validated tables the features are computed from (optional ones may be None)."""

    transactions: pd.DataFrame
    complaints: Optional[pd.DataFrame] = None
    customers: Optional[pd.DataFrame] = None
    surveys: Optional[pd.DataFrame] = None


def _customer_features(customers: ibis.Table, cutoff: ibis.Scalar, has: set[str]) -> ibis.Table:
    """Attributes from the customers table, as of ``cutoff`` (a signup on or after it gives no account age)."""
    cols = {}
    if "loyalty_member" in has:
        cols["loyalty_member"] = _flag(customers.loyalty_member)
    for name in CATEGORICAL:
        if name in has:
            cols[name] = customers[name]
    if "signup_date" in has:
        days = _days_between(cutoff, customers.signup_date.truncate("D"))
        cols["account_age_days"] = ibis.ifelse(customers.signup_date < cutoff, days, ibis.null())
    return customers.select("customer_id", **cols)


def _as_of(events: ibis.Table, cutoff: ibis.Scalar, time_col: str) -> ibis.Table:
    """The events strictly before ``cutoff``, each with the cutoff as a column."""
    return events.filter(events[time_col] < cutoff).mutate(cutoff=cutoff)


def _literal(cutoff: pd.Timestamp) -> ibis.Scalar:
    """A cutoff as a timestamp literal; cutoffs are midnights, so a day-level comparison equals a timestamp one."""
    cutoff = pd.Timestamp(cutoff)
    if cutoff != cutoff.normalize():
        raise ValueError(f"a cutoff is a calendar day (midnight), not {cutoff}")
    return ibis.literal(cutoff.to_pydatetime(), "timestamp")


def build(
    inputs: FeatureInputs,
    cutoffs: list[pd.Timestamp],
    cfg: FeaturesConfig,
    threads: Optional[int] = None,
    horizon_days: int = 90,
    base: PopulationConfig = PopulationConfig(),
) -> pd.DataFrame:
    """Features for every customer with a purchase before each cutoff, from events strictly before it.

    Loads the validated tables into the configured engine and runs ``build_on`` there, one cutoff at a time.
    """
    con = engine.connect(cfg.engine, threads, cfg.spark_master)
    tables = {
        name: engine.load(con, name, frame) for name in FEATURE_TABLES if (frame := getattr(inputs, name)) is not None
    }
    # One cutoff at a time: memory stays at one pass over the events (joining every event to every cutoff at once grows
    # with events x cutoffs), and each cutoff's features, BG/NBD fit and quintiles depend on its customers only.
    return build_on(con, tables, cutoffs, cfg, horizon_days, base=base)


def build_on(
    con: ibis.BaseBackend,
    tables: dict[str, ibis.Table],
    cutoffs: list[pd.Timestamp],
    cfg: FeaturesConfig,
    horizon_days: int = 90,
    describe: bool = False,
    target_days: Optional[int] = None,
    base: PopulationConfig = PopulationConfig(),
) -> pd.DataFrame:
    """The features computed where ``tables`` live (any Ibis backend: DuckDB, Spark, PostgreSQL, ...).

    ``tables`` maps transactions (required), complaints, customers and surveys to backend tables with our column
    names and types. One query per cutoff; only the per-customer result comes back. The BG/NBD and Gamma-Gamma fits
    and the segment labels are computed from it, per cutoff. ``describe`` adds each customer's last order (date and
    amount) for the list; it is not a model input. ``target_days``: see ``btyd.features``. ``base`` decides who is
    in the active base (``pipeline.population``): the columns ``return_window_days`` and ``active``.
    """
    return concat_cutoffs(
        [_build_one(con, tables, c, cfg, horizon_days, describe, target_days, base) for c in sorted(set(cutoffs))]
    )


def _build_one(
    con: ibis.BaseBackend,
    tables: dict[str, ibis.Table],
    at: pd.Timestamp,
    cfg: FeaturesConfig,
    horizon_days: int,
    describe: bool = False,
    target_days: Optional[int] = None,
    base: PopulationConfig = PopulationConfig(),
) -> pd.DataFrame:
    """The features of one cutoff."""
    cutoff = _literal(at)
    tx = tables["transactions"]
    table = rfm(tx, cutoff, list(cfg.windows_days), set(tx.columns))
    if (c := tables.get("complaints")) is not None:
        comp = complaint_features(_as_of(c, cutoff, "opened_at"), set(c.columns), list(cfg.windows_days))
        table = table.left_join(comp, KEYS).select(table, *[x for x in comp.columns if x not in KEYS])
        table = table.mutate(complaint_rate=table.n_complaints.fill_null(0) / table.n_purchase_days.nullif(0))
        table = table.mutate(**{col: table[col].fill_null(0) for col in _zero_when_none(comp.columns)})
    if (s := tables.get("surveys")) is not None:
        surv = survey_features(_as_of(s, cutoff, "answered_at"))
        table = table.left_join(surv, KEYS).select(table, *[x for x in surv.columns if x not in KEYS])
    if (cust := tables.get("customers")) is not None:
        attrs = _customer_features(cust, cutoff, set(cust.columns))
        table = table.left_join(attrs, "customer_id").select(table, *attrs.columns[1:])
    if describe:
        last = last_orders(tx, cutoff)
        table = table.left_join(last, "customer_id").select(table, *DESCRIBING)
    out = _finish(engine.fetch(con, table.order_by("customer_id")))
    window = population.window_days(engine.fetch(con, gap_histogram(tx, cutoff)), base)
    out = out.assign(
        season_ahead=season_ahead(engine.fetch(con, season_activity(tx, cutoff, horizon_days)), at, horizon_days),
        return_window_days=window,
        active=population.is_active(out, window, base),
    )
    if cfg.probabilistic:
        out = pd.concat([out, btyd.features(out, horizon_days, cfg.btyd_fit_max_customers, target_days)], axis=1)
    return segments.add(out, cfg.loyalty)


def season_ahead(activity: pd.DataFrame, at: pd.Timestamp, horizon_days: int) -> float:
    """How the base's buying changed a year ago from the horizon-long window before the cutoff's date to the one
    after it: log((purchase days after + 1) / (before + 1)); the season ahead, the same for every customer of the
    cutoff. Missing where the data does not reach that far back."""
    row = activity.iloc[0]
    reach = at - pd.Timedelta(days=SEASON_LAG_DAYS + horizon_days)
    if pd.isna(row["first"]) or pd.Timestamp(row["first"]) > reach:
        return float("nan")
    return float(np.log((float(row["after"]) + 1) / (float(row["before"]) + 1)))


def concat_cutoffs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Feature frames of several cutoffs as one, with each categorical column over the union of their categories."""
    out = pd.concat(frames, ignore_index=True)
    for col in CATEGORICAL:
        if col in out and not isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype("object").astype("category")
    return out


def _zero_when_none(columns: list[str]) -> list[str]:
    """Complaint counts: no complaint before the cutoff is an observed zero (the table exists)."""
    return [
        c
        for c in columns
        if c.startswith("complaints_")
        or c in ("n_complaints", "open_complaints", "slow_resolutions_365d", "oldest_open_complaint_days")
    ]


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Types the models expect: float features, categories as pandas categoricals, cutoff as timestamp."""
    out = frame.assign(cutoff=pd.to_datetime(frame["cutoff"]), customer_id=frame["customer_id"].astype(str))
    for col in out.columns:
        if col in CATEGORICAL:
            out[col] = out[col].astype("category")
        elif col == "last_order_date":
            out[col] = pd.to_datetime(out[col])
        elif col not in KEYS:
            out[col] = pd.to_numeric(out[col], errors="raise").astype("float64")
    return out.reset_index(drop=True)


def excluded(columns, patterns: list[str]) -> list[str]:
    """Feature columns matching any of ``patterns`` (features.exclude), never the keys or the segment labels."""
    keep = {"customer_id", "cutoff", *segments.SEGMENT_COLUMNS}
    return [c for c in columns if c not in keep and any(fnmatch.fnmatchcase(c, p) for p in patterns)]


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model inputs in a feature frame."""
    return [c for c in frame.columns if c not in NON_FEATURES]
