"""The same Ibis feature code on Spark (a local session) gives the same values as on DuckDB, to 1e-9."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from pipeline.config import FeaturesConfig
from pipeline.featurize.build import build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark_ready():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("CI_REQUIRE_SPARK") == "1":
            raise
        pytest.skip("pyspark is not installed")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        if os.environ.get("CI_REQUIRE_SPARK") == "1":
            pytest.fail("no Java runtime for Spark")
        pytest.skip("no Java runtime for Spark")


def test_spark_and_duckdb_give_identical_features(spark_ready, demo_inputs):
    cutoffs = [pd.Timestamp("2026-03-01"), pd.Timestamp("2026-06-01"), pd.Timestamp("2026-09-01")]
    on_duckdb = build(demo_inputs, cutoffs, FeaturesConfig(engine="duckdb"), threads=2)
    on_spark = build(demo_inputs, cutoffs, FeaturesConfig(engine="spark"), threads=2)
    assert len(on_duckdb) > 3000 and on_duckdb["bgnbd_p_alive"].notna().all()
    pd.testing.assert_frame_equal(on_duckdb, on_spark, check_exact=False, rtol=1e-9, atol=1e-9)


def test_spark_and_duckdb_give_identical_labels_and_scores(spark_ready, demo_inputs):
    """Labels computed on Spark and the scored list (risk, value, exact reasons) computed on Spark's executors are the
    ones DuckDB and pandas give."""
    from pipeline import explain, fitting, labels, scoring
    from pipeline.config import ModelConfig, load_reasons
    from pipeline.featurize import engine

    cutoffs = [pd.Timestamp("2026-01-01"), pd.Timestamp("2026-04-01"), pd.Timestamp("2026-07-01")]
    frame = build(demo_inputs, cutoffs, FeaturesConfig(), threads=2)
    spark = engine.connect("spark", 2)
    tx_on_spark = engine.load(spark, "transactions", demo_inputs.transactions[["customer_id", "timestamp", "amount"]])
    on_spark = labels.outcomes_on(spark, tx_on_spark, frame, 90)
    on_duckdb = labels.outcomes(demo_inputs.transactions, frame, 90)
    pd.testing.assert_frame_equal(on_duckdb, on_spark)
    labelled = frame.assign(churned=on_duckdb["churned"], future_spend=on_duckdb["future_spend"])
    cfg = ModelConfig(
        churn=ModelConfig().churn.__class__(n_estimators=60), value=ModelConfig().value.__class__(n_estimators=60)
    )
    trained = fitting.fit(labelled[labelled["cutoff"].isin(cutoffs[:2])], cfg, 42, 90)
    features = frame[frame["cutoff"] == cutoffs[2]].reset_index(drop=True)
    wording = explain.Wording(load_reasons())
    local, local_drivers = scoring.score_customers(trained, features, "v1", wording)
    remote, remote_drivers = scoring.run_on_spark(engine.spark_session(spark), trained, features, "v1", wording)
    assert len(local) > 1000 and (local["reason_1"] != "").mean() > 0.5
    pd.testing.assert_frame_equal(local, remote, check_exact=False, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(local_drivers, remote_drivers, check_exact=False, rtol=1e-9, atol=1e-12)
