"""Short histories, the model blends, the value blend and the choice of who scores: the pieces, on small inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pipeline import backtest, explain, extend, models, plan
from pipeline.btyd import TARGET_COLUMNS
from pipeline.config import ModelConfig
from pipeline.models.churn import RfmScore
from pipeline.models.value import blend_weights


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_a_history_too_short_for_the_horizon_trains_on_the_longest_shorter_one_with_a_backtest():
    cfg = ModelConfig()
    first, as_of = ts("2025-01-04"), ts("2025-10-04")  # 39 weeks of history, a 39-week horizon
    p = plan.make(as_of, first, as_of - pd.Timedelta(days=1), 273, cfg)
    assert p.production is not None and p.extended and p.horizon_days == 273
    days = p.trained_horizon_days
    assert days % 7 == 0 and plan.MIN_TRAINED_HORIZON_DAYS <= days < 273 and p.label_days == days
    assert p.folds  # at least one backtest fold judges the shorter labels
    # the next longer whole week would leave no backtest fold
    _, longer = plan.folds_for(as_of, first, days + 7, cfg)
    assert not longer
    # every label the plan uses is observed before the fold's test (or as_of), and the cutoffs are weekly
    for fold in (p.production, *p.folds):
        end = fold.test or as_of
        assert all(c + pd.Timedelta(days=days) <= end for c in fold.train)
        assert all(b - a == pd.Timedelta(days=7) for a, b in itertools.pairwise(fold.train))
    assert p.provenance["label_days"] == days
    assert plan.Plan.from_dict(p.to_dict()) == p


def test_a_history_long_enough_is_not_extended_and_one_too_short_for_four_weeks_falls_back():
    cfg = ModelConfig()
    whole = plan.make(ts("2026-10-31"), ts("2024-01-01"), ts("2026-10-30"), 90, cfg)
    assert not whole.extended and whole.label_days == 90 and "label_days" not in whole.provenance
    assert all(b - a == pd.Timedelta(days=28) for a, b in itertools.pairwise(whole.production.train))
    assert len(whole.production.train) == cfg.n_train_cutoffs and len(whole.folds) == cfg.n_backtest_folds
    tiny = plan.make(ts("2026-10-31"), ts("2026-08-15"), ts("2026-10-30"), 90, cfg)
    assert tiny.production is None and not tiny.extended and "too short to train" in tiny.fallback_reason


def test_a_history_with_room_to_train_but_not_to_test_is_not_trained_on():
    """A model that cannot be tested out of time never scores: the plan shortens its labels until a fold fits, and
    where none does, it falls back to the label-free BG/NBD (never an untested blend)."""
    cfg = ModelConfig()
    first, as_of = ts("2026-01-01"), ts("2026-07-01")  # 181 days: room for 60 + 91 + 28 days, not for 60 + 2 x 91
    p = plan.make(as_of, first, as_of - pd.Timedelta(days=1), 91, cfg)
    assert p.folds and p.extended and p.trained_horizon_days < 91
    short = plan.make(as_of, ts("2026-03-20"), as_of - pd.Timedelta(days=1), 91, cfg)  # 103 days: no room for a fold
    assert short.production is None and not short.folds


def _frame(p_label, p_target, e_label, e_target) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bgnbd_p_no_purchase": p_label,
            TARGET_COLUMNS[0]: p_target,
            "bgnbd_expected_purchases": e_label,
            TARGET_COLUMNS[1]: e_target,
        }
    )


def test_the_extension_is_bgnbds_conditional_and_never_raises_the_chance_of_no_purchase():
    frame = _frame([0.8, 0.5, np.nan], [0.6, 0.1, np.nan], [0.3, 1.0, np.nan], [0.9, 4.0, np.nan])
    p = np.array([0.9, 0.4, 0.7])
    factor = extend.churn_factor(p, frame, 70, 273)
    assert factor[:2] == pytest.approx([0.6 / 0.8, 0.1 / 0.5])
    assert factor[2] == pytest.approx(0.7 ** (273 / 70 - 1))  # no BG/NBD fit: alike periods
    assert np.all(p * factor <= p)
    grow = extend.value_factor(frame, 70, 273)
    assert grow[:2] == pytest.approx([3.0, 4.0]) and grow[2] == pytest.approx(273 / 70)
    scored = pd.DataFrame(
        {"churn_probability": p, "value_if_retained": [10.0, 20.0, 30.0], "expected_value": [1.0, 12.0, 9.0]}
    ).assign(value_at_risk=lambda f: f["churn_probability"] * f["value_if_retained"])
    out = extend.predictions(scored, frame, 70, 273)
    assert np.allclose(out["value_at_risk"], out["churn_probability"] * out["value_if_retained"])
    assert (out["churn_probability"] <= scored["churn_probability"]).all()


def _summary(**log_loss_auc) -> pd.DataFrame:
    rows = [{"model": m, "fold": 0, "roc_auc": auc, "log_loss": ll} for m, (auc, ll) in log_loss_auc.items()]
    metrics = pd.DataFrame(rows)
    for c in (*backtest.CHURN_METRICS, *backtest.VALUE_METRICS):
        metrics[c] = metrics.get(c, np.nan)
    return backtest.summarise(metrics)


def test_the_model_scores_only_when_it_beats_every_baseline_on_auc_and_log_loss_at_once():
    wins = backtest.choose_scorer(
        _summary(lightgbm=(0.90, 0.20), rfm_baseline=(0.80, 0.30), bgnbd_gg_baseline=(0.85, 0.25))
    )
    assert wins.name == "lightgbm" and wins.reason is None and wins.log_loss == pytest.approx(0.20)
    loses = backtest.choose_scorer(
        _summary(
            lightgbm=(0.81, 0.26),
            rfm_baseline=(0.80, 0.30),
            logistic_baseline=(0.805, 0.27),
            bgnbd_gg_baseline=(0.82, 0.25),
        )
    )
    assert loses.name == "bgnbd_gg_baseline" and loses.log_loss == pytest.approx(0.25)
    assert "BG/NBD has ROC AUC 0.820 and log loss 0.250" in loses.reason and "RFM" not in loses.reason
    # equal is not ahead: level on ROC AUC and worse on log loss, the model gives way
    level = backtest.choose_scorer(_summary(lightgbm=(0.82, 0.26), bgnbd_gg_baseline=(0.82, 0.25)))
    assert level.name == "bgnbd_gg_baseline" and level.reason
    # behind on one metric but ahead on the two together: the model scores, and says where it fell short
    close = backtest.choose_scorer(
        _summary(lightgbm=(0.937, 0.340), logistic_baseline=(0.930, 0.336), bgnbd_gg_baseline=(0.934, 0.348))
    )
    assert close.name == "lightgbm" and close.reason is None
    assert "the logistic regression has ROC AUC 0.930 and log loss 0.336" in close.note and "BG/NBD" not in close.note


def test_the_value_blend_is_convex_and_finds_the_forecast_that_is_right():
    rng = np.random.default_rng(0)
    actual = rng.gamma(1.0, 50.0, 2000)
    found = {"a": actual * 1.5, "b": actual + rng.normal(0, 1, 2000), "c": rng.gamma(1.0, 50.0, 2000)}
    weights = blend_weights(found, actual)
    assert weights == {"a": 0.0, "b": 1.0, "c": 0.0}
    halves = blend_weights({"low": actual * 0.5, "high": actual * 1.5}, actual)
    assert halves == {"low": 0.5, "high": 0.5} and sum(halves.values()) == pytest.approx(1.0)


def test_a_thin_fold_keeps_the_plainest_forecast_unless_the_evidence_is_clear():
    """The one-standard-error rule: a fitted forecast a little better on a few long-tailed rows does not displace
    the plain average; clearly better on many rows, it does."""
    rng = np.random.default_rng(1)

    def fold(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        truth = rng.gamma(0.5, 200.0, n)
        actual = rng.poisson(truth / 20) * 20.0  # a few large spenders decide the squared error
        return truth, actual, truth * rng.lognormal(0, 0.6, n)

    kept, lucky = 0, 0
    for _ in range(100):  # a fitted forecast that is the plain one with random wobbles: better on half the folds
        truth, actual, plain = fold(60)
        wobbly = plain * rng.lognormal(0, 0.1, 60)
        kept += blend_weights({"two_part": wobbly, "daily_spend": plain}, actual)["daily_spend"] == 1.0
        lucky += np.mean((wobbly - actual) ** 2) < np.mean((plain - actual) ** 2)
    assert 30 <= lucky <= 70 and kept >= 75  # the least RMSE alone would leave the plain forecast about half the time
    truth, actual, plain = fold(200_000)
    better = truth + (plain - truth) * 0.5  # half the error: clearly better on many rows
    assert blend_weights({"two_part": better, "daily_spend": plain}, actual) == {"two_part": 1.0, "daily_spend": 0.0}


def test_top_decile_capture_is_the_share_of_spend_of_the_forecasts_top_tenth():
    actual = np.array([0.0] * 18 + [50.0, 50.0])
    assert backtest.top_decile_capture(actual, actual) == 1.0
    assert backtest.top_decile_capture(actual, -actual) == 0.0
    assert backtest.top_decile_capture(actual, np.r_[np.zeros(18), 1.0, -1.0]) == 0.5  # one of its two right


def test_the_recency_baseline_never_lowers_risk_as_the_last_purchase_recedes():
    rng = np.random.default_rng(1)
    recency = rng.uniform(0, 400, 3000)
    churned = (rng.random(3000) < recency / 400).astype(int)
    base = models.RecencyBaseline().fit(pd.DataFrame({"recency_days": recency}), churned)
    grid = pd.DataFrame({"recency_days": np.linspace(0, 500, 50)})
    p = base.predict_proba(grid)[:, 1]
    assert np.all(np.diff(p) >= 0) and 0 < p.min() < p.max() < 1


@pytest.fixture(scope="module")
def blended():
    """A churn model whose blend gives every part weight, on synthetic rows with a category and missing values."""
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "recency_days": rng.uniform(0, 300, n),
            "n_purchase_days": rng.integers(1, 20, n).astype(float),
            "spend_total": rng.gamma(2.0, 100.0, n),
            "open_complaints": rng.integers(0, 3, n).astype(float),
            "region": pd.Categorical(rng.choice(["north", "south"], n)),
            "bgnbd_p_no_purchase": rng.uniform(0.05, 0.95, n),
            **{score: rng.integers(1, 6, n) for score in ("r_score", "f_score", "m_score")},
        }
    )
    frame.loc[rng.random(n) < 0.1, "n_purchase_days"] = np.nan
    z = 0.01 * frame["recency_days"] - 0.1 * frame["n_purchase_days"].fillna(5) + 0.5 * frame["open_complaints"]
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    features = [c for c in frame.columns if not c.endswith("_score")]
    cfg = ModelConfig().churn
    clf = models.churn_classifier(cfg, 0, [int(f == "open_complaints") for f in features]).fit(frame[features], y)
    logistic = models.LogisticBaseline(features, 0, log_scale=True).fit(frame, y)
    churn = models.CalibratedChurnModel(features)  # hand-set parts and weights: what is explained is known
    churn.classifier_, churn.categories_ = clf, models.categories_of(frame[features])
    churn.linear_, churn.linear_coef_ = logistic, logistic.monotone_coef(["open_complaints"])
    churn.rfm_, churn.bgnbd_center_ = RfmScore().fit(frame, y), 0.0
    churn.weights_ = {"trees": 0.4, "linear": 0.3, "rfm": 0.1, "bgnbd": 0.2}
    churn.calibrator_ = models.ProbabilityCalibrator("sigmoid").fit(churn.raw_probability(frame), y)
    return churn, frame


def test_the_blends_contributions_add_up_to_its_log_odds(blended):
    churn, frame = blended
    assert set(churn.blend) == {"trees", "linear", "rfm", "bgnbd"}
    raw = churn.raw_probability(frame)
    contrib = explain.contributions(churn, frame)
    base = models.logit(raw) - contrib.to_numpy().sum(axis=1)
    assert np.ptp(base) < 1e-6  # the same expected log-odds for every row: the contributions are exact
    ref = explain.reference(contrib, raw, churn.calibrator_)
    points = explain.to_points(contrib, raw, churn.calibrator_, ref)
    assert np.allclose(points.sum(axis=1), 100 * (churn.calibrated(raw) - ref.probability))
    # the reference is the typical customer: their mean log-odds, calibrated
    assert ref.probability == pytest.approx(
        churn.calibrated(np.array([1 / (1 + np.exp(-np.mean(models.logit(raw))))]))[0]
    )


def test_the_linear_part_never_lowers_risk_as_open_complaints_rise(blended):
    churn, frame = blended
    more = frame.assign(open_complaints=frame["open_complaints"] + 1)
    assert np.all(churn.raw_probability(more) >= churn.raw_probability(frame) - 1e-12)
