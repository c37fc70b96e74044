"""Promotion: a pure decision from the candidate, the champion, the scoring columns and the evaluation's log losses."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline import promotion, registry
from pipeline.bundle import BGNBD, LIGHTGBM, ModelBundle
from pipeline.config import Config, DataConfig, ModelConfig
from pipeline.infra.catalog import Catalog
from pipeline.plan import Fold, Plan


def _bundle(version: str, kind: str = LIGHTGBM, features=("a", "b"), **model) -> ModelBundle:
    cfg = Config(data=DataConfig(), model=ModelConfig(**model))
    return ModelBundle(kind, version, registry.recipe(cfg), "2026-10-31", features=tuple(features))


def _decide(candidate, champion, columns=("customer_id", "a", "b"), loss=None, champion_loss=None):
    return promotion.decide(candidate, champion, list(columns), loss, champion_loss, 0.002)


def test_the_first_model_becomes_champion():
    assert _decide(_bundle("v1"), None).promoted


def test_the_same_recipe_on_newer_data_is_promoted():
    d = _decide(_bundle("v2"), _bundle("v1"))
    assert d.promoted and "same recipe" in d.reason and d.champion_before == "v1"


def test_a_backfill_never_replaces_a_newer_champion_unless_forced():
    from dataclasses import replace

    backfill, champion = replace(_bundle("v7"), as_of="2026-09-30T00:00:00"), _bundle("v6")
    champion = replace(champion, as_of="2026-10-31T00:00:00")
    kept = _decide(backfill, champion)
    assert not kept.promoted and "backfill" in kept.reason and "promote=force" in kept.reason
    forced = promotion.decide(backfill, champion, ["a", "b"], None, None, 0.002, force=True)
    assert forced.promoted and forced.reason == "promote=force"


def test_an_identical_rerun_is_not_a_new_champion():
    from dataclasses import replace

    champion = replace(_bundle("v3"), training_digest="120:ab")
    d = _decide(champion, champion)
    assert not d.promoted and d.reason.startswith("identical to the champion")
    assert _decide(replace(champion, version="v4", training_digest="125:cd"), champion).promoted  # newer rows


def test_another_recipe_without_a_backtest_keeps_the_champion():
    d = _decide(_bundle("v2", n_train_cutoffs=3), _bundle("v1"))
    assert not d.promoted and "no backtest" in d.reason


def test_another_recipe_must_beat_the_champions_backtest_by_the_margin():
    candidate, champion = _bundle("v2", n_train_cutoffs=3), _bundle("v1")
    assert promotion.settled_without_backtest(candidate, champion, ["a", "b"]) is None  # the recipes are compared
    assert _decide(candidate, champion, loss=0.200, champion_loss=0.2025).promoted
    kept = _decide(candidate, champion, loss=0.201, champion_loss=0.2025)
    assert not kept.promoted and "does not beat" in kept.reason and "0.2010" in kept.reason


def test_evaluate_compares_backtests_exactly_when_the_rules_do_not_settle_it():
    fallback = _bundle("bgnbd", kind=BGNBD, features=())
    pairs = [  # (candidate, champion, compared on a backtest?)
        (_bundle("v2"), None, False),  # no champion
        (_bundle("v2"), _bundle("v1"), False),  # the same recipe, newer data
        (_bundle("v2", n_train_cutoffs=3), _bundle("v1"), True),  # another recipe: only a backtest can tell
        (_bundle("v2", n_train_cutoffs=3), _bundle("v1", features=("a", "gone")), False),  # the champion cannot score
        (fallback, _bundle("v1"), False),
        (_bundle("v2"), fallback, False),
    ]
    for candidate, champion, compared in pairs:
        assert promotion.needs_comparison(candidate, champion, ["a", "b"]) is compared, (candidate, champion)


def test_a_champion_that_cannot_score_this_data_is_replaced():
    d = _decide(_bundle("v2", n_train_cutoffs=3), _bundle("v1", features=("a", "gone")))
    assert d.promoted and "gone" in d.reason


def test_short_histories_are_scored_by_the_label_free_model_and_a_trained_model_replaces_it_later():
    fallback = _bundle("bgnbd", kind=BGNBD, features=())
    assert _decide(fallback, _bundle("v1", n_train_cutoffs=3)).promoted
    assert _decide(_bundle("v2"), fallback).promoted


def test_a_bundle_round_trips_and_a_foreign_or_damaged_one_is_refused_by_name(tmp_path):
    import dataclasses

    import joblib

    from pipeline.infra.bundles import DamagedArtefact

    catalog = Catalog(*(tmp_path / k for k in ("raw", "interim", "quarantine", "scored", "models", "mlruns")))
    catalog.models.mkdir()
    bundle = ModelBundle(LIGHTGBM, "v1", {}, "2026-10-31", features=("a",))
    catalog.write_bundle(bundle, catalog.candidate)
    assert catalog.read_bundle(catalog.candidate) == bundle and catalog.read_bundle(catalog.models / "none") is None
    # an earlier release's dict, another save format, a truncated file: each named, with how to restore it
    joblib.dump({"kind": "lightgbm", "version": "v1", "recipe": {}, "as_of": "2026-10-31"}, catalog.champion)
    with pytest.raises(DamagedArtefact, match=r"champion\.joblib holds a dict.*make train"):
        catalog.read_bundle(catalog.champion)
    catalog.write_bundle(dataclasses.replace(bundle, format=0), catalog.champion)
    with pytest.raises(DamagedArtefact, match=r"champion\.joblib is in save format 0, this release reads format"):
        catalog.read_bundle(catalog.champion)
    whole = catalog.candidate.read_bytes()
    catalog.champion.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        DamagedArtefact, match=r"champion\.joblib is damaged and cannot be read.*models:/<name>@champion"
    ):
        catalog.read_bundle(catalog.champion)


def test_the_verdict_is_applied_only_to_its_own_candidate():
    from pipeline.bundle import Verdict, settled

    bundle = ModelBundle(LIGHTGBM, "v1", {}, "2026-10-31", training_digest="d")
    verdict = Verdict("v1", "d", "2026-10-31", scorer="rfm_baseline", scorer_reason="RFM was better")
    assert settled(bundle, verdict) == bundle  # nothing trained to settle
    assert not Verdict("v2", "d", "2026-10-31").applies_to(bundle)
    assert verdict.applies_to(bundle) and not dataclasses_replace_as_of(verdict).applies_to(bundle)


def dataclasses_replace_as_of(verdict):
    import dataclasses

    return dataclasses.replace(verdict, as_of="2026-11-07")


def test_the_plan_survives_the_catalog_unchanged(tmp_path):
    catalog = Catalog(*(tmp_path / k for k in ("raw", "interim", "quarantine", "scored", "models", "mlruns")))
    ts = pd.Timestamp
    fold = Fold((ts("2026-01-01"), ts("2026-02-01")), ts("2026-07-01"))
    plan = Plan(ts("2026-10-31"), Fold((ts("2026-05-01"), ts("2026-08-01")), None), (fold,), None)
    catalog.write_plan(plan)
    assert catalog.read_plan() == plan
    assert plan.labelled_cutoffs == sorted({*fold.cutoffs, ts("2026-05-01"), ts("2026-08-01")})


def test_the_fitted_models_follow_the_scikit_learn_contract():
    """Hyperparameters in __init__ (what get_params returns), learnt state in attributes ending in _, so clone gives
    the same model unfitted."""
    from sklearn.base import clone

    from pipeline import models
    from pipeline.config import ModelConfig

    cfg = ModelConfig(n_train_cutoffs=3)
    for model in (
        models.CalibratedChurnModel(["a", "b"], cfg, 7),
        models.WinBackModel(["a"], cfg, 7),
        models.ValueModel(["a"], cfg, 7, 91),
        models.HalvesAverage(models.churn_classifier(cfg.churn, 7, [0]), 30),
    ):
        twin = clone(model)
        assert type(twin) is type(model) and twin.get_params().keys() == model.get_params().keys()
        assert all(k.endswith("_") is False for k in model.get_params())
        assert not [k for k in vars(twin) if k.endswith("_")]  # nothing learnt before fit
    assert models.ValueModel(["a"], cfg, 7, 91).get_params()["horizon_days"] == 91
