"""The real-data benchmark's wiring (the benchmark itself is `make bench-real`, never a test): its own cleaning of a
raw invoice-line file agrees with the pipeline's ingest, and its metrics and verdict read the table right."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import sources
from pipeline.config import ColumnMaps, DataConfig, LinesConfig, TransactionColumns

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import real  # noqa: E402

CASE = Path(__file__).resolve().parents[1] / "data" / "bad" / "invoice_lines_and_credit_notes" / "tx.csv"


def test_the_harness_cleaning_and_the_pipelines_ingest_give_the_same_invoices():
    raw = pd.read_csv(CASE, dtype=str, keep_default_na=False, na_values=[""])
    mine = real.clean(raw).set_index("InvoiceNo")
    columns = TransactionColumns(
        transaction_id="InvoiceNo", customer_id="CustomerID", timestamp="InvoiceDate", amount=None,
        quantity="Quantity", unit_price="UnitPrice", product_id="StockCode", category=None, brand=None, discount=None,
    )  # fmt: skip
    data = DataConfig(
        source="files",
        transactions=str(CASE),
        columns=ColumnMaps(transactions=columns),
        lines=LinesConfig(group=True, credit_note_pattern="^C", any_product=["M"], drop_unpriced=True),
    )
    theirs = sources.load_tables(data).transactions.set_index("transaction_id")
    # the pipeline also sets aside a line of another customer inside an invoice; the harness's rule keeps it
    shared = mine.index.intersection(theirs.index)
    assert len(shared) == len(theirs) and len(shared) >= 3
    assert (mine.loc[shared, "customer"] == theirs.loc[shared, "customer_id"]).all()
    one_customer = [i for i in shared if i != "536373"]
    np.testing.assert_allclose(mine.loc[one_customer, "pence"] / 100, theirs.loc[one_customer, "amount"])


def test_the_metrics_and_the_verdict_read_the_table_right():
    churned, spend = np.array([1, 0, 1, 0]), np.array([0.0, 50.0, 0.0, 10.0])
    perfect = real.metrics(churned, spend, np.array([0.9, 0.1, 0.8, 0.2]), spend + 1.0)
    assert perfect["roc_auc"] == 1.0 and perfect["rmse"] == 1.0 and perfect["total_ratio"] == 64 / 60
    table = pd.DataFrame(
        {"roc_auc": [0.8, 0.7], "log_loss": [0.5, 0.6], "normalised_gini": [0.6, 0.7], "rmse": [10.0, 12.0],
         "total_ratio": [1.2, 1.0]},
        index=["pipeline", "rfm_quintile"],
    )  # fmt: skip
    assert real.verdict(table) == {
        "roc_auc": True, "log_loss": True, "normalised_gini": False, "rmse": True, "total_ratio": False,
    }  # fmt: skip
