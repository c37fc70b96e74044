"""Promotion rules of the champion (the re-backtest path is exercised end to end in test_e2e)."""

from __future__ import annotations

from pipeline import registry
from pipeline.config import Config, DataConfig, ModelConfig


def _bundle(version: str, kind: str = "lightgbm", features=("a", "b"), **model) -> dict:
    cfg = Config(data=DataConfig(), model=ModelConfig(**model))
    return {"kind": kind, "version": version, "features": list(features), "recipe": registry.recipe(cfg)}


def _decide(candidate, champion, columns=("customer_id", "a", "b"), folds=(), loss=None):
    return registry.decide(candidate, champion, list(columns), lambda: None, list(folds), loss, 0.002, 90)


def test_the_first_model_becomes_champion():
    assert _decide(_bundle("v1"), None).promoted


def test_the_same_recipe_on_newer_data_is_promoted():
    d = _decide(_bundle("v2"), _bundle("v1"))
    assert d.promoted and "same recipe" in d.reason and d.champion_before == "v1"


def test_another_recipe_without_a_backtest_keeps_the_champion():
    d = _decide(_bundle("v2", n_train_cutoffs=3), _bundle("v1"))
    assert not d.promoted and "no backtest" in d.reason


def test_a_champion_that_cannot_score_this_data_is_replaced():
    d = _decide(_bundle("v2", n_train_cutoffs=3), _bundle("v1", features=("a", "gone")))
    assert d.promoted and "gone" in d.reason


def test_short_histories_are_scored_by_the_label_free_model_and_a_trained_model_replaces_it_later():
    fallback = _bundle("bgnbd", kind="bgnbd", features=())
    assert _decide(fallback, _bundle("v1", n_train_cutoffs=3)).promoted
    assert _decide(_bundle("v2"), fallback).promoted
