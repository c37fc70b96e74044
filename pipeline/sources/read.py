"""Read raw tables from CSV or Parquet files, or from PostgreSQL, with clear errors for unreadable input.

A table's source is a file path, or ``postgresql:SCHEMA.TABLE`` / ``postgresql:SELECT ...``. PostgreSQL passwords
come only from an environment variable and are scrubbed from every message that could carry them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from pipeline.config import CsvOptions, DataConfig, PostgresConfig
from pipeline.errors import PipelineError

POSTGRES_PREFIX = "postgresql:"
_QUERY = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


class IngestError(PipelineError):
    """A table-level problem that stops the run: names the file, the column and an example."""


def is_postgres(source: str) -> bool:
    return str(source).startswith(POSTGRES_PREFIX)


def describe(source: str, data: DataConfig) -> str:
    """How a source is named in messages and the ingest summary (never with a password)."""
    if not is_postgres(source):
        return str(source)
    pg = data.postgres
    return f"{source} on {pg.user}@{pg.host}:{pg.port}/{pg.dbname}"


def read_source(source: str, table: str, data: DataConfig) -> pd.DataFrame:
    """Read one table from wherever its source says."""
    if is_postgres(source):
        return read_postgres(source[len(POSTGRES_PREFIX) :], table, data.postgres, describe(source, data))
    return read_raw(source, table, data.csv)


def read_raw(path: str | Path, table: str, csv: CsvOptions) -> pd.DataFrame:
    """Read one table as it is on disk (CSV values as strings, Parquet with its own types)."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{table}: file {path} does not exist")
    suffix = "".join(path.suffixes[-2:]).lower()
    # utf-8-sig reads plain UTF-8 too, and drops the byte-order mark spreadsheet exports put before the header.
    encoding = "utf-8-sig" if csv.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else csv.encoding
    try:
        _check_fits(path, table, suffix.endswith((".parquet", ".pq")))
        if suffix.endswith(".parquet") or suffix.endswith(".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path,
                sep=csv.delimiter,
                encoding=encoding,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                skipinitialspace=True,
            )
    except UnicodeDecodeError as err:
        raise IngestError(
            f"{table}: {path} is not valid {csv.encoding} text (byte {err.start}); set data.csv.encoding, e.g. latin-1"
        ) from err
    except pd.errors.EmptyDataError as err:
        raise IngestError(f"{table}: {path} is empty (no header, no rows)") from err
    except (pd.errors.ParserError, OSError, ValueError) as err:
        raise IngestError(f"{table}: cannot read {path}: {' '.join(str(err).split())}") from err
    return _checked(frame, table, str(path))


# Measured on the demo: checking a transaction line in pandas takes about 11x its CSV bytes, or ~700 bytes a row.
CSV_BYTES_FACTOR = 11
BYTES_PER_ROW = 700


def _check_fits(path: Path, table: str, parquet: bool) -> None:
    """Stop with advice, before reading, when checking this file at once would need more memory than is free."""
    import pyarrow.parquet as pq

    available = _available_memory()
    if available is None:
        return
    needed = (
        pq.ParquetFile(path).metadata.num_rows * BYTES_PER_ROW if parquet else path.stat().st_size * CSV_BYTES_FACTOR
    )
    if needed > available:
        raise IngestError(
            f"{table}: {path} is too large to check at once: about {needed / 2**30:.1f} GB of memory needed, "
            f"{available / 2**30:.1f} GB free. Split it by date into parts and load them one after another with "
            f"data.mode=merge (each load adds to the previous ones), or run on a machine with more memory"
        )


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is no /proc)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _checked(frame: pd.DataFrame, table: str, where: str) -> pd.DataFrame:
    if frame.empty:
        raise IngestError(f"{table}: {where} has a header but no rows (columns: {', '.join(map(str, frame.columns))})")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _password(pg: PostgresConfig) -> str | None:
    return os.environ.get(pg.password_env) if pg.password_env else None


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def read_postgres(target: str, table: str, pg: PostgresConfig, where: str) -> pd.DataFrame:
    """Read a table or the result of a query through a server-side cursor, values with their database types."""
    import psycopg
    from psycopg import sql

    target = target.strip()
    if _QUERY.match(target):
        query: sql.SQL | sql.Composed = sql.SQL(target)
    elif _TABLE_NAME.match(target):
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*target.split(".")))
    else:
        raise IngestError(f"{table}: {where}: give a table as SCHEMA.TABLE or a query starting with SELECT or WITH")
    secret = _password(pg)
    try:
        with psycopg.connect(
            host=pg.host,
            port=pg.port,
            dbname=pg.dbname,
            user=pg.user,
            password=secret,
            sslmode=pg.sslmode,
            connect_timeout=pg.connect_timeout,
            application_name="churn-clv-ingest",
        ) as conn:
            conn.read_only = True
            conn.execute("SET TIME ZONE 'UTC'")
            with conn.cursor(name="churn_clv_ingest") as cur:
                cur.execute(query)
                columns = [d.name for d in cur.description or ()]
                chunks = []
                while rows := cur.fetchmany(pg.fetch_rows):
                    chunks.append(pd.DataFrame.from_records(rows, columns=columns, coerce_float=False))
    except psycopg.Error as err:
        message = _scrub(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, secret)
        hint = f" (password from ${pg.password_env})" if pg.password_env else ""
        raise IngestError(f"{table}: cannot read {where}{hint}: {message}") from None
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=columns)
    return _checked(frame, table, where)
