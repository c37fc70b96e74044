"""Shared fixtures: small seeded demo data, validated once per session; each test marked with its kind."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline import demo, sources
from pipeline.config import DataConfig
from pipeline.featurize.build import FeatureInputs

KINDS = ("unit", "data", "model", "e2e")  # a test's kind is its folder: tests/<kind>/


def pytest_collection_modifyitems(items):
    for item in items:
        kind = Path(str(item.fspath)).parent.name
        if kind not in KINDS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in one of tests/{{{','.join(KINDS)}}}/")
        item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """Small demo tables written as CSV (1,500 customers, 2 years)."""
    out = tmp_path_factory.mktemp("demo")
    demo.write(demo.generate(n_customers=1500, years=2.0, seed=7), out)
    return out


@pytest.fixture(scope="session")
def demo_tables(demo_dir) -> sources.Tables:
    cfg = DataConfig(**{t: str(demo_dir / f"{t}.csv") for t in ("transactions", "complaints", "customers", "surveys")})
    return sources.load_tables(cfg)


@pytest.fixture(scope="session")
def demo_inputs(demo_tables) -> FeatureInputs:
    t = demo_tables
    return FeatureInputs(t.transactions, t.complaints, t.customers, t.surveys)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)
