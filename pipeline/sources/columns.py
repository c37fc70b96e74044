"""Our column names from the user's, and each column coerced to its kind (IDs, timestamps, numbers, flags, ...)."""

from __future__ import annotations

import re
import warnings
from typing import Optional

import numpy as np
import pandas as pd

from pipeline.config import DataConfig
from pipeline.sources.read import IngestError
from pipeline.sources.schemas import TableSpec
from pipeline.sources.validate import add_reason

_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


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


def coerce(mapped: pd.DataFrame, spec: TableSpec, data: DataConfig) -> tuple[pd.DataFrame, pd.Series]:
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
        reasons = add_reason(reasons, failed, f"{col}: '" + bad_values + f"' {_describe_failure(kind)}{hint}")
    frame = pd.DataFrame(typed, index=mapped.index)
    if spec.categories is not None and "category" in frame:
        frame["category"] = frame["category"].where(
            frame["category"].isin(spec.categories) | frame["category"].isna(), "other"
        )
    return frame, reasons
