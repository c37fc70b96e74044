"""The team's past lists, one row per listed customer, with what was done and what happened (issue 26).

Two sources, one shape: the optional ``lists`` table (the team's record of the lists it sent, from this tool or any
other, with their random hold-outs) and the lists this tool published (``customers.parquet`` of each earlier week:
its ``on_list`` customers). Where both have a list for a date, the team's record wins: a published list may be a
backfill that was never sent.
Only lists whose horizon has passed by as_of are read: their outcome is known and nothing after as_of is used.

Each row: ``list_date``, ``customer_id``, ``rank`` (the list's order), ``action`` (used, by the contact log, else
the list's suggestion), ``holdout`` (held out at random: not contacted), ``explored`` (the action was drawn at random
rather than chosen), ``contacted`` (not held out, and in the contact log where there is one) and ``churned``.
"""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import pandas as pd

from pipeline import labels
from pipeline.config import Config
from pipeline.featurize import engine
from pipeline.infra import io
from pipeline.infra.catalog import Catalog

log = logging.getLogger(__name__)

COLUMNS = ("list_date", "customer_id", "rank", "action", "holdout", "explored")


def horizon(cfg: Config) -> pd.Timedelta:
    """How long after a list its outcome is known: the label gap and the horizon."""
    return pd.Timedelta(days=cfg.horizon_days + cfg.model.label_gap_days)


def listed(published: Catalog, cfg: Config, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every listed customer of every list whose horizon has passed by as_of, oldest list first."""
    done = horizon(cfg)
    frames = []
    table_dates: set = set()
    if "lists" in published.existing_tables():
        table = published.read_table("lists")
        day = pd.to_datetime(table["list_date"]).dt.normalize()
        keep = (day + done <= as_of).to_numpy()
        imported = table[keep].assign(list_date=day[keep]).reset_index(drop=True)
        table_dates = set(imported["list_date"])
        frames.append(
            pd.DataFrame(
                {
                    "list_date": imported["list_date"].to_numpy(),
                    "customer_id": imported["customer_id"].astype(str).to_numpy(),
                    "rank": _rank(imported),
                    "action": _column(imported, "action", "none").astype(str),
                    "holdout": imported["holdout"].astype(bool).to_numpy(),
                    "explored": _column(imported, "explored", False).fillna(False).astype(bool),
                }
            )
        )
    for week in published.published_weeks():
        if week + done > as_of or week in table_dates:  # the team's record of what it sent comes first
            continue
        frame = io.read_parquet(published.customers(week))
        if "on_list" not in frame:
            continue
        on = frame[frame["on_list"].astype(bool)]
        frames.append(
            pd.DataFrame(
                {
                    "list_date": week,
                    "customer_id": on["customer_id"].astype(str).to_numpy(),
                    "rank": _published_rank(on),
                    "action": on["action"].astype(str).to_numpy() if "action" in on else "none",
                    "holdout": on["holdout"].astype(bool).to_numpy(),
                    "explored": on["explored"].astype(bool).to_numpy() if "explored" in on else False,
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    rows = pd.concat(frames, ignore_index=True)
    return rows.sort_values(["list_date", "rank"], kind="stable").reset_index(drop=True)


def _published_rank(on: pd.DataFrame) -> np.ndarray:
    """A published list's order: by what a contact was expected to save (the ranking's own order)."""
    if "saveable_value" not in on:
        return np.arange(1, len(on) + 1, dtype=float)
    return on["saveable_value"].rank(ascending=False, method="first").to_numpy(dtype=float)


def _column(frame: pd.DataFrame, name: str, default) -> pd.Series:
    return frame[name].reset_index(drop=True) if name in frame else pd.Series(default, index=range(len(frame)))


def _rank(frame: pd.DataFrame) -> np.ndarray:
    """The list's own order: its ``rank`` column, else the order of its rows within each list date."""
    if "rank" in frame and frame["rank"].notna().all():
        return frame["rank"].to_numpy(dtype=float)
    return frame.groupby("list_date").cumcount().to_numpy(dtype=float) + 1


def with_outcomes(rows: pd.DataFrame, published: Catalog, tables: dict, cfg: Config, con=None) -> pd.DataFrame:
    """The rows with ``churned`` (no purchase in the horizon after the list) and ``contacted`` and ``action`` by the
    contact log (``pipeline.effects`` reads the result)."""
    if not len(rows):
        return rows.assign(contacted=pd.Series(dtype=bool), churned=pd.Series(dtype="int8"))
    con = con or engine.connect()
    outcome = labels.outcomes_on(
        con,
        tables["transactions"],
        rows.rename(columns={"list_date": "cutoff"})[["customer_id", "cutoff"]],
        cfg.horizon_days,
        cfg.model.label_gap_days,
    )
    rows = rows.assign(churned=outcome["churned"].to_numpy())
    contacts = published.read_table("contacts") if "contacts" in published.existing_tables() else None
    return by_contact_log(rows, contacts, cfg)


def by_contact_log(rows: pd.DataFrame, contacts: Optional[pd.DataFrame], cfg: Config) -> pd.DataFrame:
    """Who was contacted and how: without a contact log, every listed customer not held out counts as contacted with
    the list's action; with one, a customer is contacted when the log has them in the list's horizon, and the
    action is the log's (by key or by label)."""
    contacted = ~rows["holdout"].astype(bool)
    if contacts is None or not len(rows):
        return rows.assign(contacted=contacted)
    done = horizon(cfg)
    log_rows = contacts.assign(customer_id=contacts["customer_id"].astype(str))
    keys = rows[["list_date", "customer_id"]].reset_index()
    matched = keys.merge(log_rows, on="customer_id", how="inner")
    when = pd.to_datetime(matched["contacted_at"])
    matched = matched[(when >= matched["list_date"]) & (when < matched["list_date"] + done)]
    matched = matched.sort_values("contacted_at", kind="stable").drop_duplicates("index")
    reached = rows.index.isin(matched["index"])
    action = rows["action"].astype(str)
    if "action" in matched:
        by_label = {a.label.lower(): k for k, a in cfg.reasons.actions.items()}
        code = matched["action"].astype(str).map(lambda a: a if a in cfg.reasons.actions else by_label.get(a.lower()))
        if unknown := sorted(set(matched.loc[code.isna().to_numpy(), "action"].astype(str))):
            log.warning(
                "the contact log names actions that are neither a key nor a label of configs/reasons (%s): those "
                "contacts count under the list's suggested action",
                ", ".join(unknown[:5]),
            )
        used = pd.Series(code.to_numpy(), index=matched["index"].to_numpy()).dropna()
        action = action.where(~action.index.isin(used.index), used.reindex(action.index))
    return rows.assign(contacted=contacted & reached, action=action)
