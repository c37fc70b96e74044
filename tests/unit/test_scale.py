"""The pieces that let the pipeline run at a million customers: samples by customer, one thread setting, a memory
limit that speaks, the streaming weekly merge, and reasons rendered per driver."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import explain, sources
from pipeline.config import Config, DataConfig, load_reasons
from pipeline.featurize import engine, sampling
from pipeline.infra import threads


def test_a_customer_sample_is_seeded_bounded_and_keeps_the_same_customers():
    ids = pd.Series([f"C{i:05d}" for i in range(10_000)])
    picked = sampling.by_customer(ids, 1_000, seed=42)
    assert len(picked) == 1_000 and np.all(np.diff(picked) > 0)
    assert np.array_equal(picked, sampling.by_customer(ids, 1_000, seed=42))
    assert not np.array_equal(picked, sampling.by_customer(ids, 1_000, seed=7))
    # a later cutoff with more customers keeps the earlier sample's customers (a customer's hash is fixed)
    later = pd.concat([ids, pd.Series([f"N{i:05d}" for i in range(500)])], ignore_index=True)
    kept_later = set(later.iloc[sampling.by_customer(later, 1_050, seed=42)])
    assert len(set(ids.iloc[picked]) - kept_later) < 60
    assert len(sampling.by_customer(ids, 0, seed=42)) == len(ids)


def test_threads_never_exceed_the_cores_and_do_not_change_a_recipe():
    from pipeline import registry

    assert threads.resolve(0) == threads.cores() and threads.resolve(10_000) == threads.cores()
    assert threads.resolve(1) == 1
    assert registry.recipe(Config(data=DataConfig(), threads=1)) == registry.recipe(
        Config(data=DataConfig(), threads=2)
    )


def test_running_out_of_the_memory_limit_says_what_to_set():
    con = engine.connect("duckdb", 1, memory_limit="2MB")
    t = engine.load(con, "t", pd.DataFrame({"a": [f"k{i}" for i in range(300_000)], "b": range(300_000)}))
    with pytest.raises(engine.EngineMemoryError, match="features.memory_limit"):
        engine.execute(con, t.group_by("a").aggregate(n=t.b.sum(), s=t.a.max()).order_by("a"))


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(_key=("id:" + frame["transaction_id"]).astype("string"))


def test_the_streaming_merge_writes_what_the_in_memory_merge_gives(tmp_path):
    rng = np.random.default_rng(0)
    n = 5_000
    previous = _keyed(
        pd.DataFrame(
            {
                "transaction_id": pd.array([f"T{i}" for i in range(n)], dtype="string"),
                "customer_id": pd.array([f"C{i % 700}" for i in range(n)], dtype="string"),
                "timestamp": pd.date_range("2024-01-01", periods=n, freq="h").astype("datetime64[us]"),
                "amount": rng.gamma(2.0, 20.0, n).round(2),
            }
        )
    )
    parts = [tmp_path / "part-1.parquet", tmp_path / "part-2.parquet"]  # the rows the load touches are all in part 1
    previous.iloc[:2_500].to_parquet(parts[0], index=False)
    previous.iloc[2_500:].to_parquet(parts[1], index=False)
    new = _keyed(
        pd.DataFrame(
            {  # 3 rows again (1 changed), 2 new
                "transaction_id": pd.array(["T10", "T11", "T12", "X1", "X2"], dtype="string"),
                "customer_id": pd.array(["C10", "C11", "C12", "C900", "C901"], dtype="string"),
                "timestamp": pd.to_datetime(
                    ["2024-01-01 10:00", "2024-01-01 11:00", "2024-01-01 12:00", "2025-01-01 00:00", "2025-01-02 00:00"]
                ).astype("datetime64[us]"),
                "amount": [previous.loc[10, "amount"], previous.loc[11, "amount"], 999.0, 5.0, 6.0],
            }
        )
    )
    merged, counts = sources.merge(sources.PreviousTable(parts), new)
    expected, expected_counts = sources.merge(previous, new)
    assert isinstance(merged, sources.MergedTable) and len(merged) == len(expected) == n + 2
    assert counts == expected_counts == {"rows_new": 2, "rows_updated": 1, "rows_unchanged": 2}
    assert merged.touched == (parts[0],) and merged.kept == [parts[1]]  # the untouched part is not rewritten
    merged.without_replaced(parts[0])(tmp_path / "rewritten.parquet")
    merged.write_new(tmp_path / "new.parquet")
    written = pd.concat([pd.read_parquet(tmp_path / f) for f in ("rewritten.parquet", "part-2.parquet", "new.parquet")])
    key = ["_key"]
    pd.testing.assert_frame_equal(
        written.sort_values(key).reset_index(drop=True), expected.sort_values(key).reset_index(drop=True)
    )
    assert set(merged.customer_ids()) == set(expected["customer_id"])


def test_reasons_name_only_drivers_that_raise_risk_with_each_customers_numbers():
    frame = pd.DataFrame(
        {
            "recency_days": [40.0, 3.0, 10.0],
            "gap_mean_days": [8.0, 7.0, np.nan],
            "n_purchase_days": [6.0, 9.0, 1.0],
            "open_complaints": [0.0, 2.0, 0.0],
            "oldest_open_complaint_days": [0.0, 12.0, 0.0],
            "returns_rate": [0.5, 0.0, 0.0],
        }
    )
    points = pd.DataFrame({"lapsing": [12.0, -3.0, 4.0], "open_complaint": [0.0, 9.0, -1.0], "returns": [3.0, 1.4, -2]})
    wording = explain.Wording(load_reasons(), n_reasons=2)
    out = explain.reasons(frame, points, wording, {"typical_returns_rate": 0.1})
    assert list(out["reason_1"]) == [
        "No purchase for 40 days; usually buys every 8 days (+12 pts)",
        "2 complaints still open, the oldest for 12 days (+9 pts)",
        "Bought once, 10 days ago, and not since (+4 pts)",
    ]
    # returns raise customer 1's risk, but their rate (0%) is below the typical one: no sentence, so no reason
    assert list(out["reason_2"]) == ["Returned 50% of items bought; a typical active customer 10% (+3 pts)", "", ""]
    assert list(out["top_driver"]) == ["lapsing", "open_complaint", "lapsing"]
    assert out.loc[1, "action"] == "complaint_call" and out.loc[1, "reason_1_points"] == 9.0


def test_a_file_too_large_to_check_at_once_stops_before_reading_with_advice(tmp_path, monkeypatch):
    from pipeline.sources import read as sources

    path = tmp_path / "transactions.csv"
    path.write_text("customer_id,timestamp,amount\n" + "a,2024-01-01,10\n" * 1000)
    monkeypatch.setattr(sources, "_available_memory", lambda: 1000)
    with pytest.raises(sources.IngestError, match="too large to check at once.*data.mode=merge"):
        sources.read_raw(path, "transactions", DataConfig().csv)
    monkeypatch.setattr(sources, "_available_memory", lambda: 10**12)
    assert len(sources.read_raw(path, "transactions", DataConfig().csv)) == 1000
