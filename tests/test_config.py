"""Config: every config group and the documented overrides compose with Hydra; fixed-value fields are enums that
list the allowed values; ranges and as_of are checked with the key named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from pipeline import stages
from pipeline.config import Config, ConfigError, register, validate

CONFIGS = str(Path(__file__).resolve().parent.parent / "configs")


def _compose(*overrides: str) -> Config:
    register()
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return validate(OmegaConf.to_object(compose(config_name="config", overrides=list(overrides))))


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("data=files", "data.transactions=sales.csv", "data.complaints=null"),
        ("stage=weekly", "as_of=2026-10-31"),
        ("data.mode=merge",),
        ("features.engine=spark",),
        ("model.calibration=sigmoid",),
        ("threads=1",),
    ],
)
def test_the_configs_and_common_overrides_compose(overrides):
    cfg = _compose(*overrides)
    assert cfg.horizon_days > 0 and cfg.data.source in ("demo", "files")


@pytest.mark.parametrize(
    "override, allowed",
    [
        ("data.source=fils", "demo, files"),
        ("data.mode=increment", "replace, merge"),
        ("stage=trian", "ingest"),
        ("features.engine=dukdb", "duckdb, spark"),
        ("model.calibration=platt2", "auto, isotonic, sigmoid, none"),
    ],
)
def test_a_wrong_value_of_a_fixed_set_fails_with_the_allowed_values(override, allowed):
    with pytest.raises(ConfigCompositionException) as err:
        _compose(override)
    assert allowed in str(err.value.__cause__ or err.value)


@pytest.mark.parametrize(
    "override, key",
    [
        ("horizon_days=-5", "horizon_days=-5"),
        ("model.n_train_cutoffs=0", "model.n_train_cutoffs"),
        ("data.max_bad_row_share=2", "data.max_bad_row_share"),
        ("as_of=2026-13-45", "as_of=2026-13-45"),
        ("threads=-1", "threads"),
    ],
)
def test_a_value_out_of_range_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace("=", "=").replace(".", r"\.")):
        _compose(override)


def test_an_as_of_outside_the_data_says_how_far_outside():
    first, last = pd.Timestamp("2024-01-05 10:00"), pd.Timestamp("2026-10-30 18:00")
    with pytest.raises(
        ConfigError, match=r"as_of=1990-01-01 is 12,422 days before the first transaction \(2024-01-05\)"
    ):
        stages.check_as_of(pd.Timestamp("1990-01-01"), first, last, 90)
    with pytest.raises(
        ConfigError, match=r"as_of=2099-01-01 is 26,361 days after the last transaction .* up to 2027-01-28"
    ):
        stages.check_as_of(pd.Timestamp("2099-01-01"), first, last, 90)
    stages.check_as_of(pd.Timestamp("2026-10-31"), first, last, 90)  # the usual weekly as_of
