"""Ingest: map a user's columns onto ours, coerce types, check rows, quarantine the bad ones, count everything.

Every row read ends up either in the loaded table or in ``data/quarantine/<table>/`` with the reason, so
rows read = rows loaded + rows quarantined, per table.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

with warnings.catch_warnings():  # pandera imports pyspark.pandas when pyspark is installed, which warns about pandas 3
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import DataConfig
from pipeline.ingest.schemas import COMPLAINT_CATEGORIES, SPECS, TableSpec, row_schema
from pipeline.ingest.sources import IngestError, describe, read_source

log = logging.getLogger(__name__)
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}

__all__ = ["IngestError", "MergedTable", "PreviousTable", "Tables", "run", "ingest_table"]


@dataclass(frozen=True)
class Tables:
    """The validated tables (absent optional tables are None) and the per-table ingest summary."""

    transactions: pd.DataFrame
    complaints: Optional[pd.DataFrame]
    customers: Optional[pd.DataFrame]
    surveys: Optional[pd.DataFrame]
    summary: pd.DataFrame
    quarantine: dict[str, pd.DataFrame]


def parse_timestamps(raw: pd.Series, timezone: str, date_format: Optional[str]) -> pd.Series:
    """Parse timestamps; zone-aware values are converted to ``timezone``, naive ones are taken as already in it.

    Without ``date_format``, ISO 8601 of any precision is parsed first (fast, and a column may mix dates with and
    without times); what is left is tried with the format pandas infers from it, then value by value.
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
        if getattr(parsed.dt, "tz", None) is not None:
            return parsed.dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[us]")
        return parsed.astype("datetime64[us]")
    text = raw.astype("string").str.strip()
    aware = text.str.contains(_TZ_SUFFIX, na=False)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
    if (~aware).any():
        out[~aware] = _parse_naive(text[~aware], date_format)
    if aware.any():
        zoned = pd.to_datetime(text[aware], errors="coerce", utc=True, format=date_format or "ISO8601")
        out[aware] = zoned.dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[us]")
    return out


def _parse_naive(text: pd.Series, date_format: Optional[str]) -> pd.Series:
    if date_format:
        return pd.to_datetime(text, errors="coerce", format=date_format).astype("datetime64[us]")
    out = pd.to_datetime(text, errors="coerce", format="ISO8601").astype("datetime64[us]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": the next pass handles those values
        for fmt in (None, "mixed"):
            left = out.isna() & text.notna()
            if not left.any():
                break
            out[left] = pd.to_datetime(text[left], errors="coerce", format=fmt).astype("datetime64[us]")
    return out


def _coerce_column(raw: pd.Series, kind: str, data: DataConfig) -> pd.Series:
    """Convert one raw column to its kind; values that cannot be converted become missing."""
    if kind == "id":
        if pd.api.types.is_float_dtype(raw):  # integer IDs that went through a float column: 12.0 -> "12"
            whole = raw.where(np.isclose(raw, np.round(raw)))
            raw = whole.astype("Int64").astype("string").where(whole.notna(), raw.astype("string"))
        # "17850.0": an integer ID that went through a spreadsheet or a float column; the ID is "17850".
        return raw.astype("string").str.strip().str.replace(r"^(\d+)\.0+$", r"\1", regex=True).replace("", pd.NA)
    if kind == "timestamp":
        return parse_timestamps(raw, data.timezone, data.csv.date_format)
    if kind in ("number", "int"):
        text = raw if pd.api.types.is_numeric_dtype(raw) else raw.astype("string").str.strip()
        if not pd.api.types.is_numeric_dtype(raw):
            if data.csv.thousands:
                text = text.str.replace(data.csv.thousands, "", regex=False)
            if data.csv.decimal != ".":
                text = text.str.replace(data.csv.decimal, ".", regex=False)
        number = pd.to_numeric(text, errors="coerce").astype("float64")
        if kind == "int":
            return number.where(np.isclose(number, np.round(number))).round().astype("Int64")
        return number.where(np.isfinite(number))
    if kind == "bool":
        text = raw.astype("string").str.strip().str.lower()
        return text.map(lambda v: True if v in _TRUE else (False if v in _FALSE else pd.NA)).astype("boolean")
    return raw.astype("string").str.strip().str.lower().replace("", pd.NA)


def _describe_failure(kind: str) -> str:
    return {
        "id": "is not an ID",
        "timestamp": "is not a date/time",
        "number": "is not a number",
        "int": "is not a whole number",
        "bool": "is not true/false",
    }.get(kind, "is not valid")


def map_columns(
    raw: pd.DataFrame, spec: TableSpec, mapping: dict[str, Optional[str]], defaults: dict, path: str
) -> pd.DataFrame:
    """Rename the user's columns to ours; fail on a missing required (or explicitly mapped) column."""
    renamed = {}
    priced = {mapping.get("quantity"), mapping.get("unit_price")} <= set(raw.columns) - {None}
    for ours, theirs in mapping.items():
        if theirs is None:
            if ours == "amount" and not priced:
                raise IngestError(
                    f"{spec.name}: data.columns.{spec.name}.amount is null, so map both quantity and "
                    f"unit_price (amount = quantity x unit_price); {path} has: {', '.join(map(str, raw.columns))}"
                )
            continue
        if theirs in raw.columns:
            renamed[theirs] = ours
        elif ours == "amount" and priced:
            continue
        elif ours in spec.required or theirs != defaults.get(ours):
            raise IngestError(
                f"{spec.name}: {path} has no column '{theirs}' (needed for '{ours}'); "
                f"it has: {', '.join(map(str, raw.columns))}. Map it with data.columns.{spec.name}.{ours}=YOUR_COLUMN"
            )
    return raw[list(renamed)].rename(columns=renamed)


def _add_reason(reasons: pd.Series, mask: pd.Series, text: pd.Series | str) -> pd.Series:
    """Append ``text`` (a string, or a series covering at least the masked rows) to the reasons of masked rows."""
    if not mask.any():
        return reasons
    rows = mask[mask].index
    new = text.loc[rows].astype(str).to_numpy() if isinstance(text, pd.Series) else text
    previous = reasons.loc[rows].to_numpy()
    out = reasons.copy()
    out.loc[rows] = np.where(previous == "", new, previous + "; " + new)
    return out


def _coerce(mapped: pd.DataFrame, spec: TableSpec, data: DataConfig) -> tuple[pd.DataFrame, pd.Series]:
    """Coerce every column to its kind; rows with unconvertible values get a reason."""
    reasons = pd.Series("", index=mapped.index, dtype=object)
    typed = {}
    for col in mapped.columns:
        kind = spec.kinds[col]
        typed[col] = _coerce_column(mapped[col], kind, data)
        failed = mapped[col].notna() & typed[col].isna()
        if kind == "id" or kind == "category":
            failed &= mapped[col].astype("string").str.strip().ne("")
        bad_values = mapped.loc[failed, col].astype(str)
        hint = ""
        if (
            kind == "number"
            and not data.csv.thousands
            and bad_values.str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?").any()
        ):
            hint = " (thousands separators? set data.csv.thousands=',')"
        reasons = _add_reason(reasons, failed, f"{col}: '" + bad_values + f"' {_describe_failure(kind)}{hint}")
    frame = pd.DataFrame(typed, index=mapped.index)
    if spec.name == "complaints" and "category" in frame:
        frame["category"] = frame["category"].where(
            frame["category"].isin(COMPLAINT_CATEGORIES) | frame["category"].isna(), "other"
        )
    return frame, reasons


def _check_rows(frame: pd.DataFrame, spec: TableSpec, reasons: pd.Series) -> pd.Series:
    """Run the pandera row checks; every failing row gets the failed check as its reason."""
    schema = row_schema(spec, list(frame.columns))
    try:
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
            reasons = _add_reason(reasons, pd.Series(mask, index=frame.index), f"{where}{label}")
    return reasons


def _duplicates(frame: pd.DataFrame, spec: TableSpec) -> pd.Series:
    """Reasons for rows that repeat a record ID: exact repeats, or conflicting versions.

    For complaints the last version wins (a later record carries the resolution); elsewhere the first does.
    """
    reasons = pd.Series("", index=frame.index, dtype=object)
    key = spec.record_id
    if key is None or key not in frame:
        return reasons
    keep = "last" if spec.name == "complaints" else "first"
    has_key = frame[key].notna()
    if not frame.loc[has_key, key].duplicated().any():
        return reasons
    kept = frame[has_key & ~frame.duplicated(subset=[key], keep=keep)]
    kept_at = pd.Series(kept.index + 1, index=kept[key].to_numpy()).astype("string")
    repeated = has_key & frame.duplicated(subset=[key], keep=keep)
    exact = repeated & frame.duplicated(keep=keep)
    where = frame[key].map(kept_at)
    reasons = _add_reason(reasons, exact, "exact duplicate of row " + where)
    return _add_reason(reasons, repeated & ~exact, f"{key} repeated with different values; kept row " + where)


def ingest_table(
    raw: pd.DataFrame,
    spec: TableSpec,
    mapping: dict[str, Optional[str]],
    defaults: dict,
    data: DataConfig,
    path: str,
    as_of: Optional[pd.Timestamp],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (loaded rows, quarantined rows with their reasons) for one raw table."""
    mapped = map_columns(raw.reset_index(drop=True), spec, mapping, defaults, path)
    typed, reasons = _coerce(mapped, spec, data)
    if "quantity" in typed and "unit_price" in typed:
        if "amount" not in typed:
            typed.insert(len(typed.columns), "amount", typed["quantity"] * typed["unit_price"])
        typed = typed.drop(columns=["quantity", "unit_price"])
    reasons = _check_rows(typed, spec, reasons)
    dup = _duplicates(typed, spec)
    reasons = _add_reason(reasons, dup.ne("") & reasons.eq(""), dup)
    # A row whose only problem is a missing customer ID (a guest purchase) cannot be attributed to anyone: it is set
    # aside like any bad row, but real exports have many, so it does not count against max_bad_row_share.
    anonymous = reasons.eq("customer_id: is missing")
    reasons = reasons.mask(anonymous, "customer_id: is missing (no customer to attribute it to; set aside)")
    _stop_if_too_many(spec, path, mapped, reasons.ne("") & ~anonymous, reasons, data.max_bad_row_share)
    if as_of is not None and spec.time_column:
        # Not bad data, just the future for this run: set aside, and not counted against max_bad_row_share.
        later = typed[spec.time_column] >= as_of
        reasons = _add_reason(reasons, later, f"{spec.time_column}: on or after as_of {as_of:%Y-%m-%d} (held back)")
    bad = reasons.ne("")
    if bad.all() and spec.name == "transactions":
        raise IngestError(f"{spec.name}: {path}: none of its {len(bad):,} rows can be used. Row 1: {reasons.iloc[0]}")
    return typed.loc[~bad], quarantine_rows(raw, reasons[bad])


def quarantine_rows(raw: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """The original values of the rows in ``reasons`` (indexed by raw row position), with row number and reason."""
    original = raw.reset_index(drop=True).loc[reasons.index].astype("string")
    return original.assign(_source_row=reasons.index + 1, _reason=reasons.to_numpy()).reset_index(drop=True)


def _stop_if_too_many(
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


def _unknown_customers(frame: pd.DataFrame, known: pd.Index) -> pd.Series:
    """Reasons for rows whose customer has no transactions and is not in the customers table."""
    unknown = ~frame["customer_id"].isin(known)
    return pd.Series(
        np.where(unknown, "customer_id: unknown customer (no transactions, not in customers table)", ""),
        index=frame.index,
    )


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


def record_keys(frame: pd.DataFrame, spec: TableSpec) -> pd.Series:
    """Each row's identity across loads: ``id:<record ID>``, or for rows without one ``h:<content hash>:<n>``.

    ``n`` numbers identical rows within one load, so two genuinely identical purchases stay two rows, while loading
    the same rows again (a re-run, or an overlapping increment) gives the same keys and adds nothing.
    """
    content = pd.util.hash_pandas_object(frame[sorted(frame.columns)], index=False)
    nth = content.groupby(content.to_numpy()).cumcount().astype("string")
    hashed = "h:" + pd.Series(content.to_numpy().astype("U20"), index=frame.index, dtype="string") + ":" + nth
    if spec.record_id and spec.record_id in frame:
        ids = frame[spec.record_id].astype("string")
        return ("id:" + ids).where(ids.notna(), hashed)
    return hashed


class PreviousTable:
    """An interim table of earlier loads, left on disk: merging reads only the rows a new load touches.

    A weekly load at a million customers adds thousands of rows to tens of millions; the previous table is streamed
    from its Parquet file batch by batch and never held in memory.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.file = pq.ParquetFile(self.path)
        self.schema = self.file.schema_arrow
        self.n_rows = self.file.metadata.num_rows

    def batches(self, columns: Optional[list[str]] = None) -> Iterator[pa.RecordBatch]:
        return self.file.iter_batches(batch_size=1 << 20, columns=columns)

    def rows_with_keys(self, keys: pd.Series) -> pd.DataFrame:
        """The previous rows whose ``_key`` is one of ``keys`` (with their pandas types)."""
        wanted = pa.array(keys.astype(str).unique())
        if not any(pc.any(pc.is_in(b.column(0), value_set=wanted)).as_py() for b in self.batches(["_key"])):
            return self.schema.empty_table().to_pandas()
        hits = [b.filter(pc.is_in(b.column("_key"), value_set=wanted)) for b in self.batches()]
        return pa.Table.from_batches(hits, schema=self.schema).to_pandas()

    @functools.cached_property
    def _customer_ids(self) -> pd.Index:
        ids = pq.read_table(self.path, columns=["customer_id"]).column("customer_id")
        return pd.Index(pc.unique(ids).to_pandas().astype("string"))

    def customer_ids(self) -> pd.Index:
        """The distinct customers of the table (read once)."""
        return self._customer_ids

    def to_pandas(self) -> pd.DataFrame:
        return pd.read_parquet(self.path)


@dataclass(frozen=True)
class MergedTable:
    """The previous table without the rows this load replaces, then this load's rows: written by streaming."""

    previous: PreviousTable
    new: pd.DataFrame
    n_replaced: int  # previous rows whose key this load carries again

    def __len__(self) -> int:
        return self.previous.n_rows - self.n_replaced + len(self.new)

    def write_parquet(self, path: Path) -> None:
        new_keys = pa.array(self.new["_key"].astype(str).unique())
        added = pa.Table.from_pandas(self.new, schema=self.previous.schema, preserve_index=False)
        with pq.ParquetWriter(path, self.previous.schema) as writer:
            for batch in self.previous.batches():
                writer.write_batch(batch.filter(pc.invert(pc.is_in(batch.column("_key"), value_set=new_keys))))
            writer.write_table(added)

    def customer_ids(self) -> pd.Index:
        return self.previous.customer_ids().union(pd.Index(self.new["customer_id"].astype("string").unique()))


def _streamable(previous: PreviousTable, new: pd.DataFrame) -> bool:
    """Whether this load has the previous table's columns, so its rows can be appended to the previous file."""
    if list(new.columns) != [c for c in previous.schema.names if not c.startswith("__index")]:
        return False
    try:
        pa.Table.from_pandas(new.head(0), schema=previous.schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError):
        return False
    return True


def merge(
    previous: Optional[pd.DataFrame | PreviousTable], new: pd.DataFrame
) -> tuple[pd.DataFrame | MergedTable, dict[str, int]]:
    """Add this load to the previous table by ``_key``: a key seen before is replaced by its newer version."""
    if isinstance(previous, PreviousTable):
        if previous.n_rows == 0 or "_key" not in previous.schema.names:
            return new, {"rows_new": len(new), "rows_updated": 0, "rows_unchanged": 0}
        if not _streamable(previous, new):  # the columns changed between loads: merge in memory
            return merge(previous.to_pandas(), new)
        touched = previous.rows_with_keys(new["_key"])
        return MergedTable(previous, new, len(touched)), _merge_counts(touched, new)
    if previous is None or previous.empty or "_key" not in previous:
        return new, {"rows_new": len(new), "rows_updated": 0, "rows_unchanged": 0}
    kept = previous[~previous["_key"].isin(new["_key"])]
    merged = pd.concat([kept, new], ignore_index=True) if len(kept) else new
    return merged, _merge_counts(previous[previous["_key"].isin(new["_key"])], new)


def _merge_counts(touched: pd.DataFrame, new: pd.DataFrame) -> dict[str, int]:
    """New, updated and unchanged rows of this load, given the previous rows that share its keys."""
    seen = new["_key"].isin(touched["_key"])
    columns = [c for c in new.columns if c != "_key"]
    before = touched.drop_duplicates("_key", keep="last").set_index("_key").reindex(new.loc[seen, "_key"])
    unchanged = pd.Series(False, index=new.index)
    if set(columns) <= set(before.columns):
        try:
            old_hash = pd.util.hash_pandas_object(before[columns].astype(new[columns].dtypes.to_dict()), index=False)
        except (TypeError, ValueError):  # a column changed type between loads: count those rows as updated
            old_hash = None
        if old_hash is not None:
            new_hash = pd.util.hash_pandas_object(new.loc[seen, columns], index=False)
            unchanged.loc[seen] = old_hash.to_numpy() == new_hash.to_numpy()
    return {
        "rows_new": int((~seen).sum()),
        "rows_updated": int((seen & ~unchanged).sum()),
        "rows_unchanged": int(unchanged.sum()),
    }


def run(
    data: DataConfig,
    as_of: Optional[pd.Timestamp] = None,
    previous: Optional[dict[str, Optional[pd.DataFrame]]] = None,
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
    for name in ("transactions", "customers", "complaints", "surveys"):
        source = getattr(data, name)
        if source is None:
            loaded[name] = previous.get(name)
            continue
        where = describe(source, data)
        raw = read(source, name, data)
        mapping = asdict(getattr(data.columns, name))
        defaults = asdict(type(getattr(data.columns, name))())
        good, bad = ingest_table(raw, SPECS[name], mapping, defaults, data, where, as_of)
        if name in ("complaints", "surveys"):
            orphan = _unknown_customers(good, _known_customers(loaded))
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
                "rows_loaded": len(good),
                "rows_quarantined": len(bad),
                **counts,
                "rows_in_table": len(merged),
            }
        )
        log.info(
            "%s: read %d, loaded %d (new %d, updated %d, unchanged %d), quarantined %d; table now %d rows",
            name,
            len(raw),
            len(good),
            counts["rows_new"],
            counts["rows_updated"],
            counts["rows_unchanged"],
            len(bad),
            len(merged),
        )
    summary = pd.DataFrame(rows)
    return Tables(
        loaded["transactions"], loaded["complaints"], loaded["customers"], loaded["surveys"], summary, quarantine
    )
