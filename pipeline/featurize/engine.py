"""The Ibis backend the feature and label expressions run on: embedded DuckDB (default) or Spark.

The feature code is the same for both; only connecting and loading differ. Spark runs as a local session by default
(``local[threads]``); ``features.spark_master`` points it at a cluster (``spark://host:7077``, ``yarn``) or a Spark
Connect server (``sc://host:15002``). Timestamps are naive and in ``data.timezone``, so the Spark session runs in UTC
to read and return them unchanged.

The stages read the validated interim tables straight from their Parquet files (``read_parquet``), so a table is
never held in pandas memory to be queried; DuckDB works within ``memory_limit`` and spills to ``temp_directory``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import ibis
import pandas as pd
import pyarrow as pa

from pipeline.config import ConfigError
from pipeline.errors import PipelineError
from pipeline.infra import threads as pipeline_threads

ENGINES = ("duckdb", "spark")
log = logging.getLogger(__name__)


class EngineMemoryError(PipelineError):
    """A query needed more memory than the engine was allowed: the message says which setting to change."""


def connect(
    engine: str = "duckdb",
    threads: Optional[int] = None,
    spark_master: Optional[str] = None,
    memory_limit: Optional[str] = None,
    temp_directory: Optional[Path] = None,
) -> ibis.BaseBackend:
    """Open a backend; ``threads`` caps DuckDB's worker threads and a local Spark session's cores.

    ``memory_limit`` (e.g. ``"8GB"``) caps DuckDB's memory; past it DuckDB spills to ``temp_directory``.
    """
    threads = threads or pipeline_threads.count()
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql(f"SET threads TO {int(threads)}")
        if memory_limit:
            con.raw_sql(f"SET memory_limit = '{memory_limit}'")
        if temp_directory:
            Path(temp_directory).mkdir(parents=True, exist_ok=True)
            con.raw_sql(f"SET temp_directory = '{Path(temp_directory).resolve()}'")
        con.raw_sql("SET preserve_insertion_order = false")  # results are ordered explicitly where order matters
        return con
    if engine == "spark":
        return ibis.pyspark.connect(_spark_session(threads, spark_master))
    raise ConfigError(f"features.engine={engine!r} is not supported; use one of {', '.join(ENGINES)}")


def _spark_session(threads: Optional[int], master: Optional[str]):
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise ConfigError("features.engine=spark needs pyspark and Java 17+: pip install 'pyspark>=4'") from err
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    builder = SparkSession.builder.appName("churn-clv-pipeline")
    if master and master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        builder = (
            builder.master(master or f"local[{threads}]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(max(2 * (threads or 1), 4)))
        )
        if not master or master.startswith("local"):  # a cluster's executors bring their own Python (PYSPARK_PYTHON)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # PySpark's workers read it from the environment
    session = (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    if not (master and master.startswith("sc://")):
        session.sparkContext.setLogLevel("ERROR")
    return session


def spark_session(con: ibis.BaseBackend):
    """The SparkSession behind an Ibis pyspark backend."""
    return con._session


def execute(con: ibis.BaseBackend, expr: ibis.Expr) -> pd.DataFrame:
    """Run an expression on the backend and return a pandas frame; running out of memory says what to set."""
    return _memory_checked(lambda: con.execute(expr))


def fetch(con: ibis.BaseBackend, expr: ibis.Table) -> pd.DataFrame:
    """Run a table expression and return it as pandas through Arrow, column by column in bulk.

    Unlike ``execute`` it never turns a column with nulls into Python objects (Ibis does, and at a million rows that
    costs seconds and gigabytes): nulls of numbers become NaN, timestamps stay timestamps. Other backends go through
    ``execute`` (PostgreSQL's Arrow export in Ibis cannot convert NUMERIC results).
    """
    if con.name != "duckdb":
        return execute(con, expr)
    table = _memory_checked(lambda: con.to_pyarrow(expr))
    return table.to_pandas(self_destruct=True, split_blocks=True)


def _memory_checked(run):
    import duckdb

    try:
        return run()
    except duckdb.OutOfMemoryException as err:
        raise EngineMemoryError(
            f"the feature engine ran out of its memory limit ({str(err).splitlines()[0]}). "
            f"Set features.memory_limit higher "
            f"(e.g. features.memory_limit=16GB), or lower threads (each thread needs its own buffers)"
        ) from None


def load(con: ibis.BaseBackend, name: str, frame: pd.DataFrame) -> ibis.Table:
    """Make a pandas frame a table of the backend (in DuckDB a table, in Spark a temporary view)."""
    if con.name == "pyspark":
        session = con._session
        session.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False)).createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, frame, overwrite=True)


def read_parquet(con: ibis.BaseBackend, name: str, paths: Path | list[Path]) -> ibis.Table:
    """Parquet files (one table's parts) as a table of the backend, read where they lie (nothing goes to pandas)."""
    files = [str(Path(p).resolve()) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if con.name == "pyspark":
        spark_session(con).read.parquet(*files).createOrReplaceTempView(name)
        return con.table(name)
    return con.read_parquet(files, table_name=name)
