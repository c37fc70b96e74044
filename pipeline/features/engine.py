"""The Ibis backend the feature expressions run on: embedded DuckDB (default) or Spark.

The feature code is the same for both; only connecting and loading differ. Spark runs as a local session by default
(``local[threads]``); ``features.spark_master`` points it at a cluster (``spark://host:7077``, ``yarn``) or a Spark
Connect server (``sc://host:15002``). Timestamps are naive and in ``data.timezone``, so the Spark session runs in UTC
to read and return them unchanged.
"""
from __future__ import annotations

import warnings
from typing import Optional

import ibis
import pandas as pd
import pyarrow as pa

ENGINES = ("duckdb", "spark")


def connect(engine: str = "duckdb", threads: Optional[int] = None, spark_master: Optional[str] = None) -> ibis.BaseBackend:
    """Open a backend; ``threads`` caps DuckDB's worker threads and a local Spark session's cores."""
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        if threads:
            con.raw_sql(f"SET threads TO {int(threads)}")
        return con
    if engine == "spark":
        return ibis.pyspark.connect(_spark_session(threads, spark_master))
    raise ValueError(f"features.engine={engine!r} is not supported; use one of {', '.join(ENGINES)}")


def _spark_session(threads: Optional[int], master: Optional[str]):
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise ValueError("features.engine=spark needs pyspark and Java 17+: pip install 'pyspark>=4'") from err
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    builder = SparkSession.builder.appName("churn-clv-features")
    if master and master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        builder = builder.master(master or f"local[{threads or '*'}]").config("spark.ui.enabled", "false") \
            .config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", str(max(2 * (threads or 2), 4)))
    session = builder.config("spark.sql.session.timeZone", "UTC").getOrCreate()
    if not (master and master.startswith("sc://")):
        session.sparkContext.setLogLevel("ERROR")
    return session


def execute(con: ibis.BaseBackend, expr: ibis.Expr) -> pd.DataFrame:
    """Run an expression on the backend and return a pandas frame."""
    return con.execute(expr)


def load(con: ibis.BaseBackend, name: str, frame: pd.DataFrame) -> ibis.Table:
    """Make a pandas frame a table of the backend (in DuckDB a table, in Spark a temporary view)."""
    if con.name == "pyspark":
        session = con._session
        session.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False)).createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, frame, overwrite=True)
