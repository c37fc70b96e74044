"""Ingest: map a user's columns onto ours, coerce types, check rows, quarantine the bad ones, count everything.

Every row read ends up either in the loaded table or in ``data/quarantine/<table>/`` with the reason, so
rows read = rows loaded + rows quarantined, per table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import NamedTuple, Optional

import pandas as pd

from pipeline.config import DataConfig
from pipeline.sources import lines
from pipeline.sources.columns import coerce, map_columns
from pipeline.sources.merge import MergedTable, PreviousTable, merge, record_keys
from pipeline.sources.read import IngestError, describe, read_source
from pipeline.sources.schemas import SPECS, TableSpec
from pipeline.sources.validate import (
    add_reason,
    check_rows,
    duplicates,
    quarantine_rows,
    stop_if_too_many,
    unknown_customers,
)

log = logging.getLogger(__name__)

__all__ = ["IngestError", "MergedTable", "PreviousTable", "Tables", "load_tables", "ingest_table", "TableLoad"]


@dataclass(frozen=True)
class Tables:
    """The validated tables (absent optional tables are None) and the per-table ingest summary."""

    transactions: pd.DataFrame
    complaints: Optional[pd.DataFrame]
    customers: Optional[pd.DataFrame]
    surveys: Optional[pd.DataFrame]
    summary: pd.DataFrame
    quarantine: dict[str, pd.DataFrame]
    contacts: Optional[pd.DataFrame] = None
    lists: Optional[pd.DataFrame] = None


class TableLoad(NamedTuple):
    """One raw table checked: the rows loaded, the rows set aside (with reasons), how many rows were held for a later
    as_of, and how many loaded lines were grouped into another line's transaction (``data.lines.group``)."""

    loaded: pd.DataFrame
    quarantined: pd.DataFrame
    held: int
    grouped: int = 0


def ingest_table(
    raw: pd.DataFrame,
    spec: TableSpec,
    mapping: dict[str, Optional[str]],
    defaults: dict,
    data: DataConfig,
    path: str,
    as_of: Optional[pd.Timestamp],
) -> TableLoad:
    """The loaded rows, the quarantined rows with their reasons and the counts of one raw table."""
    mapped = map_columns(raw.reset_index(drop=True), spec, mapping, defaults, path)
    typed, reasons = coerce(mapped, spec, data)
    if "quantity" in typed and "unit_price" in typed and "amount" not in typed:
        typed.insert(len(typed.columns), "amount", typed["quantity"] * typed["unit_price"])
    lined = spec.name == "transactions" and lines.active(data.lines)
    if lined:
        lines.check_columns(data.lines, set(typed.columns), path)
    reasons = check_rows(typed, spec, reasons)
    if not (lined and data.lines.group):  # grouped lines share their transaction ID by design
        dup = duplicates(typed, spec)
        reasons = add_reason(reasons, dup.ne("") & reasons.eq(""), dup)
    # A row whose only problem is a missing customer ID (a guest purchase) cannot be attributed to anyone: it is set
    # aside like any bad row, but real exports have many, so it does not count against max_bad_row_share.
    anonymous = reasons.eq("customer_id: is missing")
    reasons = reasons.mask(anonymous, "customer_id: is missing (no customer to attribute it to; set aside)")
    stop_if_too_many(spec, path, mapped, reasons.ne("") & ~anonymous, reasons, data.max_bad_row_share)
    bad = reasons.ne("")
    later = pd.Series(False, index=typed.index)
    if as_of is not None and spec.time_column:
        # Not bad data, just the future for this run: held for a run with a later as_of (it reads them again from the
        # source), neither loaded nor quarantined, and not counted against max_bad_row_share.
        later = (typed[spec.time_column] >= as_of) & ~bad
    if (bad | later).all() and spec.needs_rows:
        first = reasons.iloc[0] or f"{spec.time_column}: on or after as_of {as_of:%Y-%m-%d}"
        raise IngestError(f"{spec.name}: {path}: none of its {len(bad):,} rows can be used. Row 1: {first}")
    if lined:  # credit notes, the purchases they reverse, free lines: set aside with their reasons (not bad rows)
        aside = lines.set_aside(typed, ~bad & ~later, data.lines)
        reasons = reasons.mask(aside.ne(""), aside)
        bad = reasons.ne("")
    loaded = typed.loc[~bad & ~later].drop(columns=[c for c in LINE_ONLY if c in typed])
    kept = len(loaded)
    if lined and data.lines.group:
        loaded = lines.group(loaded)
    return TableLoad(loaded, quarantine_rows(raw, reasons[bad]), int(later.sum()), kept - len(loaded))


LINE_ONLY = ("quantity", "unit_price", "product_id")  # what a line carries for the ingest rules alone


def _known_customers(loaded: dict) -> pd.Index:
    """Customers with a transaction or a row in the customers table."""

    def ids(table) -> pd.Index:
        if isinstance(table, (PreviousTable, MergedTable)):
            return table.customer_ids()
        return pd.Index(table["customer_id"].unique())

    known = ids(loaded["transactions"])
    if loaded["customers"] is not None:
        known = known.union(ids(loaded["customers"]))
    return known


def load_tables(
    data: DataConfig,
    as_of: Optional[pd.Timestamp] = None,
    previous: Optional[Mapping[str, object]] = None,
    read=read_source,
) -> Tables:
    """Read, check and load every configured table; optional tables that are not configured stay None.

    With ``previous`` (the interim tables of earlier loads, for ``data.mode=merge``), each table is merged with its
    previous version by record key, and a table not configured in this load keeps its previous version.
    """
    if data.transactions is None and not (previous and previous.get("transactions") is not None):
        raise IngestError(
            "data.transactions must be set: the path to your transactions file (CSV or Parquet), "
            "e.g. data.transactions=sales.csv"
        )
    previous = previous or {}
    loaded: dict[str, Optional[pd.DataFrame]] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    rows = []
    for name in ("transactions", "customers", "complaints", "surveys", "contacts", "lists"):
        source = getattr(data, name)
        if source is None:
            loaded[name] = previous.get(name)
            continue
        where = describe(source, data)
        raw = read(source, name, data)
        mapping = asdict(getattr(data.columns, name))
        defaults = asdict(type(getattr(data.columns, name))())
        good, bad, held, grouped = ingest_table(raw, SPECS[name], mapping, defaults, data, where, as_of)
        if SPECS[name].known_customers_only:
            orphan = unknown_customers(good, _known_customers(loaded))
            moved = orphan.ne("")
            bad = pd.concat([bad, quarantine_rows(raw, orphan[moved])], ignore_index=True)
            good = good.loc[~moved]
        good = good.assign(_key=record_keys(good, SPECS[name])).reset_index(drop=True)
        merged, counts = merge(previous.get(name), good)
        loaded[name], quarantine[name] = merged, bad
        rows.append(
            {
                "table": name,
                "source": where,
                "rows_read": len(raw),
                "rows_loaded": len(good) + grouped,
                "rows_quarantined": len(bad),
                "rows_held": held,
                **counts,
                "rows_grouped": grouped,
                "rows_in_table": len(merged),
            }
        )
        log.info(
            "%s: read %d, loaded %d (new %d, updated %d, unchanged %d), quarantined %d, held for later cutoffs %d; "
            "table now %d rows",
            name,
            len(raw),
            len(good),
            counts["rows_new"],
            counts["rows_updated"],
            counts["rows_unchanged"],
            len(bad),
            held,
            len(merged),
        )
    summary = pd.DataFrame(rows)
    return Tables(
        loaded["transactions"],
        loaded["complaints"],
        loaded["customers"],
        loaded["surveys"],
        summary,
        quarantine,
        loaded["contacts"],
        loaded["lists"],
    )
