"""The Ibis backend the feature expressions run on (embedded DuckDB by default)."""
from __future__ import annotations

from typing import Optional

import ibis
import pandas as pd


def connect(engine: str = "duckdb", threads: Optional[int] = None) -> ibis.BaseBackend:
    """Open an in-process backend; ``threads`` caps DuckDB's worker threads."""
    if engine != "duckdb":
        raise ValueError(f"features.engine={engine!r} is not supported; use duckdb")
    con = ibis.duckdb.connect()
    if threads:
        con.raw_sql(f"SET threads TO {int(threads)}")
    return con


def execute(expr: ibis.Expr) -> pd.DataFrame:
    """Run an expression on its backend and return a pandas frame."""
    return expr.execute()


def load(con: ibis.BaseBackend, name: str, frame: pd.DataFrame) -> ibis.Table:
    """Register a pandas frame as a table of the backend."""
    return con.create_table(name, frame, overwrite=True)
