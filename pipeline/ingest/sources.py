"""Read raw tables from CSV or Parquet files into string-typed frames, with clear errors for unreadable input."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.config import CsvOptions


class IngestError(Exception):
    """A table-level problem that stops the run: names the file, the column and an example."""


def read_raw(path: str | Path, table: str, csv: CsvOptions) -> pd.DataFrame:
    """Read one table as it is on disk (CSV values as strings, Parquet with its own types)."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{table}: file {path} does not exist")
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith(".parquet") or suffix.endswith(".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path, sep=csv.delimiter, encoding=csv.encoding, dtype=str, keep_default_na=False,
                na_values=[""], skipinitialspace=True,
            )
    except UnicodeDecodeError as err:
        raise IngestError(
            f"{table}: {path} is not valid {csv.encoding} text (byte {err.start}); set data.csv.encoding, e.g. latin-1"
        ) from err
    except pd.errors.EmptyDataError as err:
        raise IngestError(f"{table}: {path} is empty (no header, no rows)") from err
    except (pd.errors.ParserError, OSError, ValueError) as err:
        raise IngestError(f"{table}: cannot read {path}: {err}") from err
    if frame.empty:
        raise IngestError(f"{table}: {path} has a header but no rows (columns: {', '.join(map(str, frame.columns))})")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
