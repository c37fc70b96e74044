"""Config: every config group and the documented overrides compose with Hydra; fixed-value fields are enums that
list the allowed values; ranges and as_of are checked with the key named."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from pipeline import stages
from pipeline.config import Config, ConfigError, register
from pipeline.config_checks import validate

CONFIGS = str(Path(__file__).resolve().parents[2] / "configs")


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
    """Each override reaches the typed config (a value, or a group's own settings), and the rest keep defaults."""
    cfg = _compose(*overrides)
    for override in overrides:
        key, value = override.split("=", 1)
        if key == "data":  # a group choice: its file's settings
            assert cfg.data.source == value
            continue
        found = cfg
        for part in key.split("."):
            found = getattr(found, part)
        assert (None if value == "null" else value) == (None if found is None else str(found)), override
    if not any(o.startswith("stage=") for o in overrides):
        assert cfg.stage == "all"


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


ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("stage", "as_of", "horizon_days", "seed", "threads", "data", "features", "model", "tracking", "report")
TOP_LEVEL += ("campaign", "paths", "population", "retention")
# a config group the user adds themselves, and the README's example of a value that must fail
NOT_VALID_ON_PURPOSE = {"data=mine", "horizon_days=-5"}


def _documented_overrides() -> list[str]:
    """Every override in the README and docs: inline `key=value` spans and the arguments of `python -m pipeline`
    command lines (continuation lines joined). ``a|b|c`` lists alternatives, each composed on its own."""
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text().replace("\\\n", " ")
        spans = re.findall(r"`([^`\n]+)`", text)
        lines = text.splitlines()
        commands = [line.split("-m pipeline", 1)[1].split("`")[0] for line in lines if "-m pipeline " in line]
        for chunk in [*spans, *commands]:
            try:
                tokens = shlex.split(chunk)
            except ValueError:
                continue
            for token in tokens:
                key = token.split("=", 1)[0]
                quoted_message = token.endswith((",", ")"))  # a fragment of an error message the docs quote
                if (
                    "=" in token
                    and key.split(".")[0] in TOP_LEVEL
                    and token not in NOT_VALID_ON_PURPOSE
                    and not quoted_message
                ):
                    found += [f"{key}={v}" for v in token.split("=", 1)[1].split("|")]
    return sorted(set(found))


def test_every_override_the_readme_and_docs_show_composes():
    overrides = _documented_overrides()
    assert len(overrides) >= 30 and "features.engine=spark" in overrides  # the extraction finds them
    failed = {}
    for override in overrides:
        try:
            _compose(override)
        except (ConfigCompositionException, ConfigError) as err:
            failed[override] = str(err.__cause__ or err)[:200]
    assert not failed, failed


def test_paths_resolve_against_the_project_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = _compose()
    assert Path(cfg.paths.interim) == ROOT / "data" / "interim" and Path(cfg.paths.models) == ROOT / "models"
    assert Path(cfg.data.transactions) == ROOT / "data" / "raw" / "demo" / "transactions.csv"
    moved = _compose(f"paths.root={tmp_path}")
    assert Path(moved.paths.scored) == tmp_path / "data" / "scored"


def _table_keys() -> list[str]:
    """The keys in the first column of the settings tables (README and docs/settings.md; ``a/b`` names siblings)."""
    keys = []
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## The settings you will change") :]
    section = section[: section.find("\n## ", 1)] + (ROOT / "docs" / "settings.md").read_text()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        for key in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if any(c in key for c in "<*"):
                continue
            prefix, _, last = key.rpartition(".")
            keys += [f"{prefix}.{name}" if prefix else name for name in last.split("/")]
    return keys


def test_every_key_in_the_readme_configuration_table_exists():
    register()
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        cfg = compose(config_name="config")
    keys = _table_keys()
    assert len(keys) >= 40
    missing = [k for k in keys if OmegaConf.select(cfg, k, default="<missing>") == "<missing>"]
    assert not missing, missing


def test_the_configuration_reference_is_up_to_date_and_names_every_key():
    from pipeline import config_doc

    assert config_doc.OUT.read_text(encoding="utf-8") == config_doc.render(), "run make config-doc"
    documented = {row[0] for row in config_doc.rows(Config)}
    assert {"horizon_days", "retention.holdout_share", "model.churn.num_leaves", "data.columns.contacts.outcome"} <= (
        documented
    )
    assert all(meaning for key, _, _, meaning in config_doc.rows(Config)), "a key without a meaning in config.py"


def test_the_version_is_printed_and_matches_the_package():
    import subprocess
    import sys
    import tomllib

    from pipeline import __version__

    out = subprocess.run([sys.executable, "-m", "pipeline", "--version"], capture_output=True, text=True, check=True)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert out.stdout.strip() == f"churn-clv-pipeline {__version__}" and __version__ == declared
    assert f"## {declared}" in (ROOT / "CHANGELOG.md").read_text()
