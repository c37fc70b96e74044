"""The same Ibis feature code on Spark (a local session) gives the same values as on DuckDB, to 1e-9."""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from pipeline.config import FeaturesConfig
from pipeline.features.build import build

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
