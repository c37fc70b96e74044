"""The plan every later stage shares: as_of, the production fold and the out-of-time backtest folds.

A fold is a set of training cutoffs and the cutoff it is tested on (``as_of`` for the production model). Time order
is strict: every training cutoff's label window ends at or before the test cutoff, so nothing a model is tested on
was visible when it was fitted. Early stopping, the blend's weights and the calibration are chosen by cross-fitting
within the training cutoffs (customers split in two, see ``pipeline.fitting``), so a fold needs one label window of
history before its test, and the production model one before as_of: a short history still gets out-of-time folds.

Training cutoffs are ``model.cutoff_step_days`` apart, up to ``model.n_train_cutoffs`` of them (13 x 28 days: a year,
so every season is seen); where fewer than ``model.min_train_cutoffs`` fit at that step, they are taken weekly. The
feature stage makes the plan and the catalog saves it; train and evaluate read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pandas as pd

from pipeline.config import ModelConfig


@dataclass(frozen=True)
class Fold:
    """Cutoffs of one fit: the training cutoffs, and the cutoff it is tested on (None = as_of, not yet observed)."""

    train: tuple[pd.Timestamp, ...]
    test: Optional[pd.Timestamp]

    @property
    def cutoffs(self) -> tuple[pd.Timestamp, ...]:
        """Every cutoff this fold reads labelled rows of."""
        return (*self.train, *([self.test] if self.test is not None else []))

    @property
    def latest(self) -> pd.Timestamp:
        """The latest training cutoff (its customers are the nearest to those the model will score)."""
        return max(self.train)

    def to_dict(self) -> dict:
        return {
            "train": [c.isoformat() for c in self.train],
            "test": self.test.isoformat() if self.test is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Fold:
        test = pd.Timestamp(d["test"]) if d["test"] else None
        return cls(tuple(pd.Timestamp(c) for c in d["train"]), test)


@dataclass(frozen=True)
class Plan:
    """What the feature stage built and the later stages use. No production fold = no labelled history."""

    as_of: pd.Timestamp
    production: Optional[Fold]
    folds: tuple[Fold, ...]
    fallback_reason: Optional[str] = None
    first_transaction: Optional[pd.Timestamp] = None  # the span of the transactions the plan was made from
    last_transaction: Optional[pd.Timestamp] = None
    horizon_days: Optional[int] = None  # what the features and labels were built for
    tables_digest: Optional[str] = None  # the validated tables they were built from (see Catalog.tables_digest)
    data_end: Optional[pd.Timestamp] = None  # the last transaction in those tables (after as_of in a backfill)
    explicit_as_of: bool = False  # as_of was set by the run (not the day after the last transaction)
    features_digest: Optional[str] = None  # the feature settings they were built with (registry.features_digest)
    left_out: Optional[dict] = None  # customers known at as_of but not scored: {reason: count}
    # A short history: no cutoff has a whole horizon_days observed, so the labels judge this shorter horizon and
    # the model's forecasts are extended to horizon_days with BG/NBD's shape (see ``pipeline.extend``). None = no.
    trained_horizon_days: Optional[int] = None

    @property
    def label_days(self) -> int:
        """The horizon the labelled cutoffs are labelled with (and the backtest judges)."""
        days = self.trained_horizon_days or self.horizon_days
        assert days is not None, "a plan made by the features stage always has its horizon"
        return days

    @property
    def extended(self) -> bool:
        return self.trained_horizon_days is not None

    @property
    def provenance(self) -> dict:
        """What every feature file of this plan is stamped with, and checked against when it is read."""
        return {
            "as_of": self.as_of.isoformat(),
            "horizon_days": self.horizon_days,
            "tables": self.tables_digest,
            "features": self.features_digest,
            **({"label_days": self.trained_horizon_days} if self.extended else {}),
        }

    @property
    def labelled_cutoffs(self) -> list[pd.Timestamp]:
        """Every cutoff with labelled rows, in time order."""
        return sorted({c for f in (self.production, *self.folds) if f for c in f.cutoffs})

    @property
    def backtest_cutoffs(self) -> list[pd.Timestamp]:
        return sorted({c for f in self.folds for c in f.cutoffs})

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "production": self.production.to_dict() if self.production else None,
            "folds": [f.to_dict() for f in self.folds],
            "fallback_reason": self.fallback_reason,
            "first_transaction": self.first_transaction.isoformat() if self.first_transaction is not None else None,
            "last_transaction": self.last_transaction.isoformat() if self.last_transaction is not None else None,
            "horizon_days": self.horizon_days,
            "tables_digest": self.tables_digest,
            "data_end": self.data_end.isoformat() if self.data_end is not None else None,
            "explicit_as_of": self.explicit_as_of,
            "features_digest": self.features_digest,
            "left_out": self.left_out,
            "trained_horizon_days": self.trained_horizon_days,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Plan:
        production = Fold.from_dict(d["production"]) if d["production"] else None
        folds = tuple(Fold.from_dict(f) for f in d["folds"])

        def day(key: str) -> Optional[pd.Timestamp]:
            return pd.Timestamp(d[key]) if d.get(key) else None

        return cls(
            pd.Timestamp(d["as_of"]),
            production,
            folds,
            d.get("fallback_reason"),
            first_transaction=day("first_transaction"),
            last_transaction=day("last_transaction"),
            horizon_days=d.get("horizon_days"),
            tables_digest=d.get("tables_digest"),
            data_end=day("data_end"),
            explicit_as_of=bool(d.get("explicit_as_of")),
            features_digest=d.get("features_digest"),
            left_out=d.get("left_out"),
            trained_horizon_days=d.get("trained_horizon_days"),
        )


WEEK = pd.Timedelta(days=7)


def folds_for(
    as_of: pd.Timestamp, first_purchase: pd.Timestamp, horizon_days: int, cfg: ModelConfig
) -> tuple[Optional[Fold], list[Fold]]:
    """The production fold and the out-of-time backtest folds, for labels of ``horizon_days``.

    The production fold is None when no cutoff before as_of has its label window observed and
    ``model.min_history_days`` of history before it: then nothing can be trained on labels, and scoring falls back
    to BG/NBD x Gamma-Gamma, which needs none.
    """
    h = pd.Timedelta(days=horizon_days)
    earliest = first_purchase.normalize() + pd.Timedelta(days=cfg.min_history_days)

    def cutoffs(end: pd.Timestamp, step: pd.Timedelta) -> tuple[pd.Timestamp, ...]:
        latest = end - h
        found = (latest - j * step for j in range(cfg.n_train_cutoffs))
        return tuple(c for c in found if c >= earliest)[::-1]

    step = pd.Timedelta(days=cfg.cutoff_step_days)
    if len(cutoffs(as_of, step)) < min(cfg.min_train_cutoffs, cfg.n_train_cutoffs) and step > WEEK:
        step = WEEK  # a short history: weekly cutoffs, so the model has enough of them to learn from
    if not cutoffs(as_of, step):
        return None, []
    tests = [as_of - h - k * step for k in range(cfg.n_backtest_folds)]
    backtest = [Fold(train, t) for t in tests if (train := cutoffs(t, step))]
    return Fold(cutoffs(as_of, step), None), backtest


MIN_TRAINED_HORIZON_DAYS = 28  # a short history trains on labels of at least four weeks, or not at all


def make(as_of: pd.Timestamp, first: pd.Timestamp, last: pd.Timestamp, horizon_days: int, cfg: ModelConfig) -> Plan:
    """The plan for as_of over transactions from ``first`` to ``last``.

    A label is known ``horizon_days`` + ``cfg.label_gap_days`` after its cutoff. The plan trains on the whole
    horizon when the production fit and at least one out-of-time backtest fold fit before as_of. Otherwise (a short
    history) it trains on the longest shorter horizon, in whole weeks of at least four, for which they do
    (``trained_horizon_days``), and the forecasts are extended to the horizon (``pipeline.extend``). When no horizon
    leaves room for a fold, no model is trained (it could not be tested) and scoring falls back to BG/NBD x
    Gamma-Gamma, which needs no labels.
    """
    gap = cfg.label_gap_days
    shorter = range(7 * ((horizon_days - 1) // 7), MIN_TRAINED_HORIZON_DAYS - 1, -7)
    for days in (horizon_days, *shorter):
        production, folds = folds_for(as_of, first, days + gap, cfg)
        if production is not None and folds:
            extended = days if days != horizon_days else None
            return Plan(as_of, production, tuple(folds), None, first, last, horizon_days, trained_horizon_days=extended)
    reason = too_short_message(as_of, first, horizon_days + gap, cfg)
    return Plan(as_of, None, (), reason, first, last, horizon_days)


def too_short_message(as_of: pd.Timestamp, first_purchase: pd.Timestamp, horizon_days: int, cfg: ModelConfig) -> str:
    return (
        f"the history is too short to train a model and test it out of time: that needs a training cutoff with "
        f"{cfg.min_history_days} days of history before it and two label windows of at least "
        f"{MIN_TRAINED_HORIZON_DAYS} days (up to {horizon_days}) after it, one to learn and one to test on, before "
        f"as_of {as_of:%Y-%m-%d} (history starts {first_purchase:%Y-%m-%d})"
    )
