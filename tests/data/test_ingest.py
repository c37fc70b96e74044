"""Ingest: bad input gets a clear error or a quarantine row with the reason; nothing is lost."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline import sources
from pipeline.config import DataConfig, TransactionColumns
from pipeline.sources import IngestError


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(tmp_path, tx_text, **kw):
    cfg = DataConfig(source="files", transactions=_write(tmp_path, "tx.csv", tx_text), **kw)
    return sources.load_tables(cfg)


def test_counts_in_equal_counts_out_plus_quarantined(tmp_path):
    text = (
        "transaction_id,customer_id,timestamp,amount\n"
        "1,a,2024-01-01,10\n2,b,2024-01-02,abc\n3,,2024-01-03,5\n4,c,not a date,5\n"
        "1,a,2024-01-01,10\n5,d,2024-01-05,1\n"
    )
    t = _run(tmp_path, text, max_bad_row_share=0.9)
    s = t.summary.iloc[0]
    assert (s.rows_read, s.rows_loaded, s.rows_quarantined) == (6, 2, 4)
    q = t.quarantine["transactions"].set_index("_source_row")["_reason"]
    assert "amount: 'abc' is not a number" in q[2]
    assert "customer_id" in q[3] and "missing" in q[3]
    assert "is not a date" in q[4]
    assert "exact duplicate of row 1" in q[5]


def test_missing_required_column_names_file_column_and_what_exists(tmp_path):
    with pytest.raises(IngestError, match=r"tx.csv has no column 'amount'.*it has: customer_id, timestamp"):
        _run(tmp_path, "customer_id,timestamp\na,2024-01-01\n")


def test_empty_and_header_only_files_stop_with_a_message(tmp_path):
    with pytest.raises(IngestError, match="is empty"):
        _run(tmp_path, "")
    with pytest.raises(IngestError, match="header but no rows"):
        _run(tmp_path, "customer_id,timestamp,amount\n")


def test_too_many_bad_rows_stops_the_run_with_an_example(tmp_path):
    with pytest.raises(IngestError, match=r"2 of 3 rows .* Example, row 1: amount: 'x' is not a number"):
        _run(tmp_path, "customer_id,timestamp,amount\na,2024-01-01,x\nb,2024-01-01,y\nc,2024-01-01,1\n")


def test_column_mapping_string_ids_and_time_zones(tmp_path):
    text = "cust,date,amount\n007,2024-01-01T23:30:00+02:00,10\n007,2024-01-02 08:00,5\n"
    cols = TransactionColumns(
        customer_id="cust", timestamp="date", transaction_id=None, category=None, brand=None, discount=None
    )
    cfg = DataConfig(source="files", transactions=_write(tmp_path, "tx.csv", text), timezone="UTC")
    cfg.columns.transactions = cols
    t = sources.load_tables(cfg)
    assert list(t.transactions["customer_id"]) == ["007", "007"]  # leading zeros kept: IDs are strings
    assert t.transactions["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 21:30")


def test_complaint_rules(tmp_path):
    tx = "customer_id,timestamp,amount\na,2024-01-01,10\n"
    complaints = _write(
        tmp_path,
        "c.csv",
        "complaint_id,customer_id,opened_at,resolved_at,category,severity\n"
        "k1,a,2024-01-05,2024-01-04,delivery,1\nk2,a,2024-01-05,,weird,2\nk3,zz,2024-01-05,,quality,1\nk4,a,2024-01-06,,service,7\n",
    )
    t = _run(tmp_path, tx, complaints=complaints, max_bad_row_share=0.9)
    q = t.quarantine["complaints"].set_index("complaint_id")["_reason"]
    assert "resolved_at is before opened_at" in q["k1"]
    assert "unknown customer" in q["k3"]
    assert "severity must be 1, 2 or 3" in q["k4"]
    assert t.complaints.set_index("complaint_id").loc["k2", "category"] == "other"
