"""Training: customers as of many past cutoffs, stacked, and the models fitted on them.

Which cutoffs train and test is the plan's (``pipeline.plan``); this module fits on the rows it is given. Early
stopping, the churn blend's weights, its calibration and the value blend are chosen on out-of-fold predictions: the
customers are split in two halves (by a seeded hash of their ID, so a customer's rows at every cutoff fall in the
same half), and each half is predicted by models fitted on the other. The final models are then fitted on every row.

The churn model learns from the active base (``pipeline.population``); the win-back group gets its own estimate; the
value models learn from everyone.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from pipeline import extend, models
from pipeline.config import LgbmParams, ModelConfig
from pipeline.errors import PipelineError
from pipeline.featurize import sampling
from pipeline.featurize.build import feature_columns
from pipeline.models.churn import PARTS, RfmScore, bgnbd_log_odds

log = logging.getLogger(__name__)
BLEND_MAX_ROWS = 50_000  # out-of-fold rows the blend's weights are chosen on (a fixed sample, beyond this many)
MIN_CLASS_ROWS = 20  # the churn model needs this many churned and retained active customers to learn from


class NotEnoughHistory(PipelineError):
    """The data before as_of is too short even for the label-free BG/NBD fallback."""


@dataclass(frozen=True)
class TrainedModels:
    """The fitted models. ``churn`` is the active base's churn model and ``win_back`` the win-back group's estimate
    (see ``pipeline.population``); the baselines are fitted per population the same way (``models.PerPopulation``)."""

    churn: models.CalibratedChurnModel
    value: models.ValueModel
    baseline: models.PerPopulation
    logistic: models.PerPopulation
    features: list[str]
    calibration: str
    churn_iterations: int
    value_iterations: int
    recency: models.PerPopulation | None = None
    # a short history (see pipeline.extend): learnt over label_days, forecasts extended to target_days
    label_days: int | None = None
    target_days: int | None = None
    win_back: models.WinBackModel | None = None  # None: the churn model scores everyone
    horizon_days: int | None = None  # the horizon the labels it learnt judge

    @property
    def extended(self) -> bool:
        return bool(self.label_days and self.target_days and self.target_days > self.label_days)

    @property
    def scorer(self) -> models.ChurnByPopulation:
        """The churn model and the win-back model together, as the pipeline scores churn (and MLflow registers it)."""
        return models.ChurnByPopulation(self.churn, self.win_back)

    def active(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows the churn model scores (the active base); the win-back model scores the others."""
        return self.scorer.active(frame)


def monotone_signs(features: list[str], increasing: list[str]) -> list[int]:
    """+1 for features whose rise must never lower churn risk, 0 elsewhere."""
    return [1 if f in increasing else 0 for f in features]


def halves(customer_ids: pd.Series, seed: int) -> np.ndarray:
    """0 or 1 per row, by a seeded hash of the customer ID: a customer is in the same half at every cutoff."""
    u = pd.util.hash_array(customer_ids.astype(str).to_numpy(dtype=object), hash_key=f"{seed:016d}"[-16:])
    return (u % 2).astype(int)


def churn_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The rows the churn model learns from, and whether they are the active base alone.

    Where the active base holds too few churned or retained customers to learn from (a young or tiny base), every
    customer is used, and the win-back group is left without a model of its own.
    """
    if "active" not in rows:
        return rows, False
    active = rows[rows["active"].to_numpy(bool)]
    if len(active) < len(rows) and _both_outcomes(active["churned"], MIN_CLASS_ROWS):
        return active, True
    if len(active) < len(rows):
        log.warning(
            "train: the active base holds too few churned or retained customers to learn from (%s rows): the churn "
            "model learns from every customer",
            f"{len(active):,}",
        )
    return rows, False


def _both_outcomes(churned: pd.Series, least: int) -> bool:
    counts = churned.value_counts()
    return counts.get(0, 0) >= least and counts.get(1, 0) >= least


def _classifier(params: LgbmParams, features: list[str], cfg: ModelConfig, seed: int) -> lgb.LGBMClassifier:
    return models.churn_classifier(params, seed, monotone_signs(features, list(cfg.monotone_increasing)))


def _fit_stopped(estimator, rows: pd.DataFrame, held: pd.DataFrame, features: list[str], target: str, rounds: int):
    """``estimator`` fitted on ``rows``, early-stopped on ``held``."""
    return estimator.fit(
        rows[features],
        rows[target],
        eval_X=(held[features],),
        eval_y=(held[target],),
        callbacks=[lgb.early_stopping(rounds, verbose=False)],
    )


def validation_log_loss(rows: pd.DataFrame, cfg: ModelConfig, seed: int) -> float:
    """Cross-fitted log loss of the churn trees on the training rows' active base (what a tuning sweep selects on;
    never the backtest's tests)."""
    learn, _ = churn_rows(rows)
    features = feature_columns(learn.drop(columns=["churned", "future_spend"]))
    half = halves(learn["customer_id"], seed)
    losses = []
    for k in (0, 1):
        fit_on, held = learn[half != k], learn[half == k]
        clf = _fit_stopped(
            _classifier(cfg.churn, features, cfg, seed), fit_on, held, features, "churned",
            cfg.churn.early_stopping_rounds,
        )  # fmt: skip
        losses.append(log_loss(held["churned"], clf.predict_proba(held[features])[:, 1], labels=[0, 1]))
    return float(np.mean(losses))


def fit(rows: pd.DataFrame, cfg: ModelConfig, seed: int, horizon_days: int) -> TrainedModels:
    """Fit the churn model on the active base, the win-back group's estimate, the value models on everyone, and the
    baselines per population, from the labelled rows of the training cutoffs."""
    started = time.monotonic()
    features = feature_columns(rows.drop(columns=["churned", "future_spend"]))
    categories = models.categories_of(rows[features])
    learn, split = churn_rows(rows)
    churn, oof_raw, iterations = fit_churn(learn, features, categories, cfg, seed)
    y = rows["churned"].to_numpy()
    win_back, oof = fit_win_back(rows, features, categories, cfg, seed) if split else (None, None)
    logistic = models.PerPopulation(models.LogisticBaseline(features, seed)).fit(rows, y)
    trained = TrainedModels(
        churn,
        None,
        models.PerPopulation(models.RfmBaseline(horizon_days)).fit(rows, y),
        logistic,
        features,
        churn.calibrator.method,
        iterations,
        0,
        models.PerPopulation(models.RecencyBaseline()).fit(rows, y),
        win_back=win_back,
        horizon_days=horizon_days,
    )
    p = np.empty(len(rows))  # every row's out-of-fold churn probability, for the value blend
    if split:
        p[~rows["active"].to_numpy(bool)] = oof
    p[rows.index.get_indexer(learn.index)] = churn.calibrated(oof_raw)
    value = fit_value(rows, features, categories, p, cfg, seed, horizon_days)
    log.info(
        "train: churn model on %s rows of the %s (%d trees; blend %s; %s calibration)%s; value blend %s; %.0f s",
        f"{len(learn):,}",
        "active base" if split else "customers",
        iterations,
        ", ".join(f"{k} {w:.2f}" for k, w in churn.blend.items()),
        churn.calibrator.method,
        "; the win-back group by its own model" if split else "",
        ", ".join(f"{k} {v:.2f}" for k, v in value.weights.items()),
        time.monotonic() - started,
    )
    return dataclasses.replace(trained, value=value, value_iterations=value.iterations)


def fit_churn(
    learn: pd.DataFrame, features: list[str], categories: dict, cfg: ModelConfig, seed: int
) -> tuple[models.CalibratedChurnModel, np.ndarray, int]:
    """The churn blend fitted on ``learn``, its out-of-fold raw probabilities, and its number of trees."""
    y = learn["churned"].to_numpy()
    half = halves(learn["customer_id"], seed)
    increasing = list(cfg.monotone_increasing)
    with_rfm = RfmScore.available(learn, features)
    oof = {name: np.zeros(len(learn)) for name in PARTS if name != "rfm" or with_rfm}
    stopped_at = []
    for k in (0, 1):
        fit_on, held = half != k, half == k
        clf = _fit_stopped(
            _classifier(cfg.churn, features, cfg, seed), learn[fit_on], learn[held], features, "churned",
            cfg.churn.early_stopping_rounds,
        )  # fmt: skip
        stopped_at.append(clf.best_iteration_ or clf.n_estimators)
        oof["trees"][held] = models.logit(clf.predict_proba(learn.loc[held, features])[:, 1])
        linear = models.LogisticBaseline(features, seed, log_scale=True).fit(learn[fit_on], y[fit_on])
        contrib, base = linear.contributions(learn[held], linear.monotone_coef(increasing))
        oof["linear"][held] = base + contrib.sum(axis=1)
        if with_rfm:
            oof["rfm"][held] = RfmScore().fit(learn[fit_on], y[fit_on]).log_odds(learn[held])
    iterations = max(1, int(round(np.mean(stopped_at))))
    classifier = _classifier(dataclasses.replace(cfg.churn, n_estimators=iterations), features, cfg, seed)
    classifier.fit(learn[features], learn["churned"])
    linear = models.LogisticBaseline(features, seed, log_scale=True).fit(learn, y)
    centre = bgnbd_log_odds(learn, np.nan)
    centre = float(np.nanmean(centre)) if np.isfinite(centre).any() else 0.0
    oof["bgnbd"] = bgnbd_log_odds(learn, centre)
    churn = models.CalibratedChurnModel(
        classifier,
        None,
        features,
        categories,
        linear,
        linear.monotone_coef(increasing),
        RfmScore().fit(learn, y) if with_rfm else None,
        centre,
    )
    pick = sampling.by_customer(learn["customer_id"], BLEND_MAX_ROWS, seed)  # the weights need no more rows
    churn.weights = stack_weights({k: v[pick] for k, v in oof.items()}, y[pick])
    raw = churn.combine(oof)
    method = choose_calibration(raw, y, cfg.calibration, seed)
    churn.calibrator = models.ProbabilityCalibrator(method).fit(raw, y)
    return churn, raw, iterations


def fit_win_back(
    rows: pd.DataFrame, features: list[str], categories: dict, cfg: ModelConfig, seed: int
) -> tuple[models.WinBackModel, np.ndarray]:
    """The win-back group's estimate (see ``models.winback``): churn trees of the whole base, one per half of the
    customers (each early-stopped on the other), averaged, and calibrated on the win-back rows' out-of-fold
    forecasts; and those calibrated forecasts."""
    half = halves(rows["customer_id"], seed)
    raw, fitted = np.zeros(len(rows)), []
    for k in (0, 1):
        fit_on, held = half != k, half == k
        clf = _fit_stopped(
            _classifier(cfg.churn, features, cfg, seed), rows[fit_on], rows[held], features, "churned",
            cfg.churn.early_stopping_rounds,
        )  # fmt: skip
        raw[held] = clf.predict_proba(rows.loc[held, features])[:, 1]
        fitted.append(clf)
    gone = ~rows["active"].to_numpy(bool)
    y = rows["churned"].to_numpy()
    method = "none"
    if _both_outcomes(pd.Series(y[gone]), MIN_CLASS_ROWS // 4):  # too few to calibrate on: the trees' own level
        method = choose_calibration(raw[gone], y[gone], cfg.calibration, seed)
    calibrator = models.ProbabilityCalibrator(method).fit(raw[gone], y[gone])
    model = models.WinBackModel(models.HalvesAverage(*fitted), calibrator, features, categories)
    return model, calibrator.transform(raw[gone])


def stack_weights(parts: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    """Non-negative weights of the parts' log-odds, summing to 1: those of the logistic regression of the outcome on
    them with the least log loss (its intercept and scale are left to the calibration). Non-negative, so no part
    enters turned around, and every part's monotone promise holds for the blend."""
    names = list(parts)
    x = np.column_stack([parts[n] for n in names])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] + x @ theta[1:]
        p = 1 / (1 + np.exp(-np.clip(z, -35, 35)))
        value = -np.mean(y * np.log(np.clip(p, 1e-12, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-12, 1)))
        grad = np.concatenate([[np.mean(p - y)], x.T @ (p - y) / len(y)])
        return float(value), grad

    start = np.concatenate([[0.0], np.full(len(names), 1.0 / len(names))])
    bounds = [(None, None)] + [(0.0, None)] * len(names)
    found = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    weights = np.round(np.maximum(found.x[1:], 0.0), 6)
    if weights.sum() <= 0:
        return {"trees": 1.0}
    return {n: float(w / weights.sum()) for n, w in zip(names, weights)}


def choose_calibration(raw: np.ndarray, y: np.ndarray, method: str, seed: int) -> str:
    """The calibration (``method``, or for auto the better of isotonic and sigmoid by cross-fitted log loss)."""
    if method != "auto":
        return method
    losses = {}
    for candidate in ("isotonic", "sigmoid"):
        folds = StratifiedKFold(2, shuffle=True, random_state=seed).split(raw.reshape(-1, 1), y)
        losses[candidate] = np.mean(
            [
                log_loss(
                    y[b], models.ProbabilityCalibrator(candidate).fit(raw[a], y[a]).transform(raw[b]), labels=[0, 1]
                )
                for a, b in folds
            ]
        )
    return min(losses, key=losses.get)


def churn_probability(trained: TrainedModels, frame: pd.DataFrame, raw: np.ndarray | None = None) -> np.ndarray:
    """Calibrated P(no purchase in the label horizon): the churn model's for the active base, the win-back model's
    for the rest. ``raw``: the churn model's uncalibrated probabilities of the active rows, when the caller has them.
    """
    return trained.scorer.probability(frame, raw)


def fit_value(
    rows: pd.DataFrame,
    features: list[str],
    categories: dict,
    p: np.ndarray,
    cfg: ModelConfig,
    seed: int,
    horizon_days: int,
) -> models.ValueModel:
    """The buyers' spend regressor and the Tweedie regressor on everyone, each a pair fitted on the two halves of
    the customers (early-stopped on the other, then averaged), and the blend of the value candidates with the least
    out-of-fold RMSE; ``p``: every row's out-of-fold churn probability."""
    half = halves(rows["customer_id"], seed)
    buyer = ((rows["churned"] == 0) & (rows["future_spend"] > 0)).to_numpy()
    if_retained, tweedie = np.zeros(len(rows)), np.zeros(len(rows))
    pairs = {"regressor": [], "tweedie": []}
    rounds = cfg.value.early_stopping_rounds
    for k in (0, 1):
        fit_on, held = half != k, half == k
        reg = _fit_stopped(
            models.value_regressor(cfg.value, seed), rows[fit_on & buyer], rows[held & buyer], features,
            "future_spend", rounds,
        )  # fmt: skip
        tw = _fit_stopped(
            models.spend_regressor(cfg.value, seed), rows[fit_on], rows[held], features, "future_spend", rounds
        )
        if_retained[held] = reg.predict(models.align(rows[held], features, categories))
        tweedie[held] = tw.predict(models.align(rows[held], features, categories))
        pairs["regressor"].append(reg)
        pairs["tweedie"].append(tw)
    value = models.ValueModel(
        models.HalvesAverage(*pairs["regressor"]),
        features,
        categories,
        models.HalvesAverage(*pairs["tweedie"]),
        horizon_days=horizon_days,
        retained_level=models.value.retained_level(rows, p, horizon_days),
    )
    actual = rows["future_spend"].to_numpy(float)
    found = value.candidates(rows, p, oof={"two_part": (1 - p) * if_retained, "tweedie": tweedie})
    value.weights = models.blend_weights(found, actual)
    value.scale = float(actual[buyer].sum() / if_retained[buyer].sum()) if if_retained[buyer].sum() > 0 else 1.0
    return value


def predict(trained: TrainedModels, frame: pd.DataFrame, raw: np.ndarray | None = None) -> pd.DataFrame:
    """Churn probability, spend if retained, expected value and value at risk for each row.

    ``raw``: the churn model's uncalibrated probabilities of the active rows, when the caller has them already.
    A model of a short history forecasts over its label horizon, extended to the horizon asked for.
    """
    p = churn_probability(trained, frame, raw)
    if_retained = trained.value.predict(frame)
    out = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "churn_probability": p,
            "value_if_retained": if_retained,
            "expected_value": trained.value.expected(frame, p),
            "value_at_risk": p * if_retained,
        },
        index=frame.index,
    )
    if not trained.extended:
        return out
    weights = {k: w for k, w in (trained.value.weights or {}).items() if w > 0}
    extended = extend.predictions(out, frame, trained.label_days, trained.target_days)
    if not weights:
        return extended
    found = value_candidates(trained, frame, p)
    return extended.assign(expected_value=sum(w * found[name] for name, w in weights.items()))


def baseline_probability(trained: TrainedModels, name: str, frame: pd.DataFrame) -> np.ndarray:
    """A baseline's churn probability over the horizon the model forecasts (a short history's extended like the
    model's; BG/NBD's straight over the longer horizon)."""
    if name == "bgnbd_gg_baseline":
        column = "bgnbd_p_no_purchase_target" if trained.extended else "bgnbd_p_no_purchase"
        return frame[column].to_numpy(float)
    model = {
        "rfm_baseline": trained.baseline,
        "logistic_baseline": trained.logistic,
        "recency_baseline": trained.recency,
    }
    p = model[name].predict_proba(frame)[:, 1]
    if trained.extended:
        p = p * extend.churn_factor(p, frame, trained.label_days, trained.target_days)
    return p


def bgnbd_value(trained: TrainedModels, frame: pd.DataFrame) -> np.ndarray:
    """BG/NBD x Gamma-Gamma expected spend over the horizon the model forecasts."""
    if trained.extended and "bgnbd_expected_purchases_target" in frame:
        return frame["bgnbd_expected_purchases_target"].to_numpy(float) * frame["gg_expected_spend"].to_numpy(float)
    return models.BgNbdBaseline().predict_value(frame)


def rfm_value(trained: TrainedModels, frame: pd.DataFrame) -> np.ndarray:
    """The RFM baseline's spend forecast (last year's spend, scaled to the horizon the model forecasts)."""
    value = models.RfmBaseline(trained.horizon_days).predict_value(frame)
    return value * trained.target_days / trained.label_days if trained.extended else value


def value_candidates(trained: TrainedModels, frame: pd.DataFrame, p: np.ndarray) -> dict[str, np.ndarray]:
    """Each value candidate's expected spend over the horizon the model forecasts (see models.value). A short
    history's learnt candidates are extended with BG/NBD's shape; the label-free ones are computed over the full
    horizon directly."""
    if not trained.extended:
        return trained.value.candidates(frame, p)
    label_p = churn_probability(trained, frame)
    grow = extend.value_factor(frame, trained.label_days, trained.target_days)
    found = {k: v * grow for k, v in trained.value.candidates(frame, label_p).items()}
    if "bgnbd_gg" in found:
        bg = bgnbd_value(trained, frame)
        found["bgnbd_gg"] = np.where(np.isnan(bg), found["bgnbd_gg"], bg)
    if "daily_spend" in found:
        found["daily_spend"] = models.value.daily_spend(frame, trained.target_days)
    if "daily_retained" in found:
        found["daily_retained"] = trained.value.daily_retained(frame, label_p, trained.target_days)
    return found
