"""Checks of a composed config that its types cannot express: ranges, shares, and passwords in URLs. Each failure
names the key, the value and what is allowed (``ConfigError``)."""

from __future__ import annotations

import re

import pandas as pd

from pipeline.config import Config, ConfigError


def validate(cfg: Config) -> Config:
    """Check ranges the types cannot express; raise ``ConfigError`` naming the key. Returns ``cfg``."""
    checks = [
        ("horizon_days", cfg.horizon_days, cfg.horizon_days > 0, "a positive number of days"),
        ("threads", cfg.threads, cfg.threads >= 0, "0 (all cores) or a positive count"),
        ("model.cutoff_step_days", cfg.model.cutoff_step_days, cfg.model.cutoff_step_days > 0, "positive"),
        ("model.n_train_cutoffs", cfg.model.n_train_cutoffs, cfg.model.n_train_cutoffs > 0, "at least 1"),
        ("model.min_train_cutoffs", cfg.model.min_train_cutoffs, cfg.model.min_train_cutoffs > 0, "at least 1"),
        ("model.n_backtest_folds", cfg.model.n_backtest_folds, cfg.model.n_backtest_folds >= 1, "at least 1"),
        ("model.min_history_days", cfg.model.min_history_days, cfg.model.min_history_days >= 0, "0 or more"),
        ("model.label_gap_days", cfg.model.label_gap_days, cfg.model.label_gap_days >= 0, "0 or more"),
        (
            "model.max_rows_per_cutoff",
            cfg.model.max_rows_per_cutoff,
            cfg.model.max_rows_per_cutoff >= 0,
            "0 (all) or a positive count",
        ),
        (
            "features.btyd_fit_max_customers",
            cfg.features.btyd_fit_max_customers,
            cfg.features.btyd_fit_max_customers >= 0,
            "0 (all) or a positive count",
        ),
        (
            "features.windows_days",
            list(cfg.features.windows_days),
            len(cfg.features.windows_days) > 0 and all(w > 0 for w in cfg.features.windows_days),
            "positive days",
        ),
        (
            "data.max_bad_row_share",
            cfg.data.max_bad_row_share,
            0 <= cfg.data.max_bad_row_share <= 1,
            "a share between 0 and 1",
        ),
        ("report.top_n", cfg.report.top_n, cfg.report.top_n > 0, "a positive count"),
        ("report.n_reasons", cfg.report.n_reasons, cfg.report.n_reasons > 0, "a positive count"),
        *_share_checks(cfg),
        (
            "population.return_quantile",
            cfg.population.return_quantile,
            0 < cfg.population.return_quantile < 1,
            "a share strictly between 0 and 1",
        ),
        (
            "population.max_silence_days",
            cfg.population.max_silence_days,
            cfg.population.max_silence_days is None or cfg.population.max_silence_days > 0,
            "null (from the data) or a positive number of days",
        ),
    ]
    for key, value, ok, allowed in checks:
        if not ok:
            raise ConfigError(f"{key}={value} is out of range: it must be {allowed}")
    r = cfg.retention
    if not 0 < r.medium_risk < r.high_risk < 1:
        raise ConfigError(
            f"retention.medium_risk={r.medium_risk} and retention.high_risk={r.high_risk} are out of range: they must "
            f"be probabilities with 0 < medium_risk < high_risk < 1"
        )
    for name, driver in cfg.reasons.drivers.items():
        if driver.action not in cfg.reasons.actions:
            raise ConfigError(
                f"reasons.drivers.{name}.action={driver.action} is not one of reasons.actions "
                f"({', '.join(cfg.reasons.actions)})"
            )
    if cfg.as_of is not None:
        try:
            parsed = pd.Timestamp(cfg.as_of)
        except ValueError as err:
            raise ConfigError(f"as_of={cfg.as_of} is not a date ({err}); write it as YYYY-MM-DD") from None
        if parsed != parsed.normalize():
            raise ConfigError(f"as_of={cfg.as_of} has a time of day; write the date alone, as YYYY-MM-DD")
    return cfg


def _share_checks(cfg: Config) -> list[tuple]:
    """(key, value, ok, allowed) for the settings that are shares or probabilities."""
    shares = {
        "retention.holdout_share": cfg.retention.holdout_share,
        **{f"reasons.actions.{k}.save_rate": a.save_rate for k, a in cfg.reasons.actions.items()},
    }
    return [(k, v, 0 <= v <= 1, "a share between 0 and 1") for k, v in shares.items()]


# user:password@ inside a URL (postgresql://reader:secret@host/db): a password the config must never carry
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]*:)(?P<password>[^@/\s]+)@", re.IGNORECASE)


def url_passwords(values: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(key, password) for every string in a resolved config that carries a password inside a URL."""
    found = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found += url_passwords(value, f"{name}.")
        elif isinstance(value, str):
            found += [(name, m.group("password")) for m in _URL_PASSWORD.finditer(value)]
    return found


def refuse_url_passwords(found: list[tuple[str, str]]) -> None:
    """Stop when ``url_passwords`` found any, naming the keys but never the passwords."""
    if found:
        keys = ", ".join(sorted({k for k, _ in found}))
        raise ConfigError(
            f"{keys} holds a password inside a URL; passwords are never taken from the config (they would end up "
            f"in logs, Hydra's saved configs and MLflow). Give the user and host alone (data.postgres.user, "
            f"data.postgres.host) and put the password in the environment variable named by "
            f"data.postgres.password_env (default PGPASSWORD)"
        )
