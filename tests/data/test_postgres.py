"""PostgreSQL source: a real server, loaded with tables, ingested through the same code path as files.

Skips only when no server can be started on this machine; `.ci/run` sets CI_REQUIRE_POSTGRES=1 so CI fails instead.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pg_server
import psycopg
import pytest

from pipeline import sources
from pipeline.config import DataConfig, PostgresConfig
from pipeline.sources import IngestError

PASSWORD_ENV = "CHURN_TEST_PG_PASSWORD"


@pytest.fixture(scope="module")
def server():
    try:
        with pg_server.running() as s:
            yield s
    except RuntimeError as err:
        if os.environ.get("CI_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"no PostgreSQL server can be started here: {err}")


@pytest.fixture(scope="module")
def loaded(server, demo_tables):
    """The demo complaints and surveys (first 400 customers), as typed PostgreSQL tables."""
    tx = demo_tables.transactions
    keep = set(tx["customer_id"].drop_duplicates().iloc[:400])
    complaints = demo_tables.complaints[demo_tables.complaints["customer_id"].isin(keep)].drop(columns="_key")
    surveys = demo_tables.surveys[demo_tables.surveys["customer_id"].isin(keep)].drop(columns="_key")
    with _connect(server) as conn:
        conn.execute("CREATE SCHEMA support")
        conn.execute("""CREATE TABLE support.complaints (complaint_id text PRIMARY KEY, customer_id text NOT NULL,
                        opened_at timestamptz NOT NULL, resolved_at timestamptz, category text, severity integer,
                        satisfaction integer)""")
        conn.execute("CREATE TABLE nps (customer_id text, answered_at timestamptz, score numeric(4,1))")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO support.complaints VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [_row(r) for r in complaints.itertuples(index=False)],
            )
            cur.executemany("INSERT INTO nps VALUES (%s, %s, %s)", [_row(r) for r in surveys.itertuples(index=False)])
    return tx[tx["customer_id"].isin(keep)].drop(columns="_key"), complaints, surveys


def _connect(s: pg_server.Server) -> psycopg.Connection:
    return psycopg.connect(host=s.host, port=s.port, user=s.user, password=s.password, dbname=s.dbname, autocommit=True)


def _row(r) -> tuple:
    """Naive timestamps are UTC here; store them as timestamptz. Missing values become NULL."""
    out = []
    for v in r:
        if isinstance(v, pd.Timestamp):
            out.append(v.tz_localize("UTC").to_pydatetime())
        elif v is pd.NA or v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
            out.append(None)
        else:
            out.append(v.item() if hasattr(v, "item") else v)
    return tuple(out)


def _config(server, tmp_path, tx: pd.DataFrame, **tables) -> DataConfig:
    tx.to_csv(tmp_path / "tx.csv", index=False)
    pg = PostgresConfig(
        host=server.host, port=server.port, user=server.user, dbname=server.dbname, password_env=PASSWORD_ENV
    )
    return DataConfig(source="files", transactions=str(tmp_path / "tx.csv"), postgres=pg, **tables)


def test_tables_and_queries_from_postgres_load_like_files(server, loaded, tmp_path, monkeypatch):
    tx, complaints, surveys = loaded
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    cfg = _config(
        server,
        tmp_path,
        tx,
        complaints="postgresql:support.complaints",
        surveys="postgresql:SELECT customer_id, answered_at, score FROM nps WHERE score IS NOT NULL",
    )
    t = sources.load_tables(cfg)
    summary = t.summary.set_index("table")
    assert summary.loc["complaints", "rows_read"] == len(complaints) == summary.loc["complaints", "rows_loaded"]
    assert summary.loc["surveys", "rows_loaded"] == len(surveys)
    assert "postgresql:support.complaints on tester@127.0.0.1" in summary.loc["complaints", "source"]
    from_files = sources.load_tables(
        DataConfig(
            transactions=cfg.transactions,
            complaints=_csv(complaints, tmp_path / "c.csv"),
            surveys=_csv(surveys, tmp_path / "s.csv"),
        )
    )
    for name in ("complaints", "surveys"):
        got = getattr(t, name).sort_values(list(getattr(t, name).columns[:2])).reset_index(drop=True)
        want = getattr(from_files, name).sort_values(list(got.columns[:2])).reset_index(drop=True)
        pd.testing.assert_frame_equal(got.drop(columns="_key"), want.drop(columns="_key"), check_dtype=False)


def _csv(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_bad_rows_in_postgres_are_quarantined_and_a_resolution_updates_the_open_complaint(
    server, loaded, tmp_path, monkeypatch
):
    tx, _, _ = loaded
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    someone = tx["customer_id"].iloc[0]
    with _connect(server) as conn:
        conn.execute(
            "CREATE TABLE weekly (complaint_id text, customer_id text, opened_at timestamptz, resolved_at timestamptz,"
            " category text, severity integer)"
        )
        conn.execute(
            "INSERT INTO weekly VALUES ('w1', %s, '2026-10-01 09:00+02', NULL, 'billing', 2),"
            " ('w2', %s, '2026-10-02', '2026-10-01', 'billing', 1), ('w3', %s, '2026-10-03', NULL, 'delivery', -1)",
            (someone, someone, someone),
        )
    cfg = _config(server, tmp_path, tx, complaints="postgresql:weekly")
    cfg.max_bad_row_share = 0.9
    first = sources.load_tables(cfg)
    q = first.quarantine["complaints"].set_index("complaint_id")["_reason"]
    assert "resolved_at is before opened_at" in q["w2"] and "severity must be 1, 2 or 3" in q["w3"]
    row = first.complaints.set_index("complaint_id").loc["w1"]
    assert row["opened_at"] == pd.Timestamp("2026-10-01 07:00") and pd.isna(row["resolved_at"])

    with _connect(server) as conn:  # next week the complaint is resolved in the source
        conn.execute("UPDATE weekly SET resolved_at = '2026-10-04 12:00+00' WHERE complaint_id = 'w1'")
    cfg.transactions = None
    again = sources.load_tables(cfg, previous={"transactions": first.transactions, "complaints": first.complaints})
    counts = again.summary.set_index("table").loc["complaints"]
    assert (counts.rows_new, counts.rows_updated, counts.rows_in_table) == (0, 1, 1)
    assert again.complaints.set_index("complaint_id").loc["w1", "resolved_at"] == pd.Timestamp("2026-10-04 12:00")


def test_the_password_never_shows_in_errors_logs_or_mlflow(server, loaded, tmp_path, monkeypatch, caplog):
    tx, _, _ = loaded
    wrong = "Wr0ng-" + server.password
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    cfg = _config(server, tmp_path, tx, complaints="postgresql:support.complaints")
    with caplog.at_level(logging.DEBUG), pytest.raises(IngestError) as err:
        sources.load_tables(cfg)
    assert "password authentication failed" in str(err.value) and wrong not in str(err.value)
    assert f"${PASSWORD_ENV}" in str(err.value)
    assert wrong not in caplog.text

    env = {**os.environ, PASSWORD_ENV: server.password}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            f"paths.root={tmp_path}",
            "stage=ingest",
            "data=files",
            f"data.transactions={tmp_path / 'tx.csv'}",
            "data.complaints=postgresql:support.complaints",
            f"data.postgres.host={server.host}",
            f"data.postgres.port={server.port}",
            f"data.postgres.user={server.user}",
            f"data.postgres.password_env={PASSWORD_ENV}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "complaints" in proc.stdout and server.password not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):  # Hydra's logs and saved config, MLflow's database and artifacts, interim tables
        if path.is_file():
            assert server.password.encode() not in path.read_bytes(), path


def test_features_computed_inside_postgres_equal_duckdbs(server, demo_inputs):
    """build_on runs the same Ibis feature code inside PostgreSQL: the data stays there, only feature rows come back."""
    import ibis

    from pipeline.config import FeaturesConfig
    from pipeline.featurize.build import FeatureInputs, build, build_on

    inputs = FeatureInputs(
        *(getattr(demo_inputs, n).drop(columns="_key") for n in ("transactions", "complaints", "customers", "surveys"))
    )
    cutoffs = [pd.Timestamp("2026-03-01"), pd.Timestamp("2026-06-01")]
    con = ibis.postgres.connect(
        host=server.host, port=server.port, user=server.user, password=server.password, database=server.dbname
    )
    con.raw_sql("CREATE SCHEMA IF NOT EXISTS sales")
    tables = {
        n: con.create_table(n, getattr(inputs, n), database="sales", overwrite=True)
        for n in ("transactions", "complaints", "customers", "surveys")
    }
    in_postgres = build_on(con, tables, cutoffs, FeaturesConfig())
    pd.testing.assert_frame_equal(
        build(inputs, cutoffs, FeaturesConfig()), in_postgres, check_exact=False, rtol=1e-9, atol=1e-9
    )
