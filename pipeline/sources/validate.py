"""Row checks (pandera), duplicates, unknown customers: each failing row gets its reason; too many stop the load."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pipeline.sources.read import IngestError
from pipeline.sources.schemas import TableSpec, row_schema

# pandera imports pyspark.pandas when pyspark is installed (at import, and again when its first validation registers
# its backends), and pyspark warns there that it does not fully support pandas 3: not ours, and not actionable.
PYSPARK_PANDAS_WARNING = "PySpark does not yet fully support pandas"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=PYSPARK_PANDAS_WARNING, category=FutureWarning)
    import pandera.pandas as pandera


def add_reason(reasons: pd.Series, mask: pd.Series, text: pd.Series | str) -> pd.Series:
    """Append ``text`` (a string, or a series covering at least the masked rows) to the reasons of masked rows."""
    if not mask.any():
        return reasons
    rows = mask[mask].index
    new = text.loc[rows].astype(str).to_numpy() if isinstance(text, pd.Series) else text
    previous = reasons.loc[rows].to_numpy()
    out = reasons.copy()
    out.loc[rows] = np.where(previous == "", new, previous + "; " + new)
    return out


def check_rows(frame: pd.DataFrame, spec: TableSpec, reasons: pd.Series) -> pd.Series:
    """Run the pandera row checks; every failing row gets the failed check as its reason."""
    schema = row_schema(spec, list(frame.columns))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=PYSPARK_PANDAS_WARNING, category=FutureWarning)
            schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as err:
        cases = err.failure_cases.dropna(subset=["index"])
        # A check over the whole row is reported once per column; it is one reason, without a column name.
        row_level = cases["schema_context"].eq("DataFrameSchema")
        cases = cases.assign(column=cases["column"].where(~row_level, "")).drop_duplicates(["column", "check", "index"])
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            mask = frame.index.isin(group["index"].astype(int))
            label = check if check != "not_nullable" else "is missing"
            where = f"{column}: " if isinstance(column, str) and column not in ("", spec.name) else ""
            reasons = add_reason(reasons, pd.Series(mask, index=frame.index), f"{where}{label}")
    return reasons


def duplicates(frame: pd.DataFrame, spec: TableSpec) -> pd.Series:
    """Reasons for rows that repeat a record ID: exact repeats, or conflicting versions.

    The table's spec says which version is kept (complaints: the last, which carries the resolution).
    """
    reasons = pd.Series("", index=frame.index, dtype=object)
    key = spec.record_id
    if key is None or key not in frame:
        return reasons
    keep = spec.keep_on_duplicate
    has_key = frame[key].notna()
    if not frame.loc[has_key, key].duplicated().any():
        return reasons
    kept = frame[has_key & ~frame.duplicated(subset=[key], keep=keep)]
    kept_at = pd.Series(kept.index + 1, index=kept[key].to_numpy()).astype("string")
    repeated = has_key & frame.duplicated(subset=[key], keep=keep)
    exact = repeated & frame.duplicated(keep=keep)
    where = frame[key].map(kept_at)
    reasons = add_reason(reasons, exact, "exact duplicate of row " + where)
    return add_reason(reasons, repeated & ~exact, f"{key} repeated with different values; kept row " + where)


def quarantine_rows(raw: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """The original values of the rows in ``reasons`` (indexed by raw row position), with row number and reason."""
    original = raw.reset_index(drop=True).loc[reasons.index].astype("string")
    return original.assign(_source_row=reasons.index + 1, _reason=reasons.to_numpy()).reset_index(drop=True)


def stop_if_too_many(
    spec: TableSpec, path: str, mapped: pd.DataFrame, bad: pd.Series, reasons: pd.Series, limit: float
) -> None:
    """A table with more than ``limit`` bad rows is a table-level problem: stop with an example."""
    share = bad.mean() if len(bad) else 0.0
    if share > limit:
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(
            f"{spec.name}: {path}: {bad.sum():,} of {len(bad):,} rows ({share:.0%}) failed checks, "
            f"more than the allowed "
            f"{limit:.0%} (data.max_bad_row_share). Example, row {first + 1}: {reasons.iloc[first]} "
            f"-- values {mapped.iloc[first].to_dict()}{_hint(spec, reasons[bad])}"
        )


def _hint(spec: TableSpec, reasons: pd.Series) -> str:
    """A likely fix for the commonest cause of a table full of bad rows."""
    if spec.record_id and reasons.str.contains(f"{spec.record_id} repeated", regex=False).mean() > 0.5:
        return (
            f". Most bad rows repeat {spec.record_id}: if it is an order number shared by several lines, "
            f"map it away with data.columns.{spec.name}.{spec.record_id}=null"
        )
    return ""


def unknown_customers(frame: pd.DataFrame, known: pd.Index) -> pd.Series:
    """Reasons for rows whose customer has no transactions and is not in the customers table."""
    unknown = ~frame["customer_id"].isin(known)
    return pd.Series(
        np.where(unknown, "customer_id: unknown customer (no transactions, not in customers table)", ""),
        index=frame.index,
    )
