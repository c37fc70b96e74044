"""The report's plots, as PNG bytes: calibration, gains, profit curve, value deciles, drivers, SHAP summary."""

from __future__ import annotations

import io as _io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline import economics
from pipeline.config import CampaignConfig

LABELS = {
    "lightgbm": "LightGBM",
    "rfm_baseline": "RFM baseline",
    "recency_baseline": "Days since last purchase",
    "logistic_baseline": "Logistic regression",
    "bgnbd_gg_baseline": "BG/NBD x Gamma-Gamma",
}


def _png(fig: plt.Figure) -> bytes:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _models(latest: pd.DataFrame, suffix: str) -> dict[str, np.ndarray]:
    return {
        label: latest[f"{name}_{suffix}"].to_numpy() for name, label in LABELS.items() if f"{name}_{suffix}" in latest
    }


def calibration_plot(y: np.ndarray, scores: dict[str, np.ndarray]) -> bytes:
    """Predicted vs observed churn rate in ten bins of predicted risk."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, q in scores.items():
        bins = pd.qcut(q, 10, duplicates="drop")
        grid = pd.DataFrame({"p": q, "y": y}).groupby(bins, observed=True).mean()
        ax.plot(grid["p"], grid["y"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate", title="Calibration (latest test cutoff)")
    ax.legend(fontsize=8)
    return _png(fig)


def gains_plot(y: np.ndarray, scores: dict[str, np.ndarray]) -> bytes:
    """Share of all churners caught when contacting the top x% by predicted risk."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, q in scores.items():
        order = np.argsort(-q, kind="stable")
        caught = np.cumsum(y[order]) / max(y.sum(), 1)
        ax.plot(np.arange(1, len(y) + 1) / len(y), caught, label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="random")
    ax.set(xlabel="share of customers contacted", ylabel="share of churners reached", title="Cumulative gains")
    ax.legend(fontsize=8)
    return _png(fig)


def profit_plot(y: np.ndarray, at_risk: dict[str, np.ndarray], clv: np.ndarray, campaign: CampaignConfig) -> bytes:
    """Campaign profit by list size (each list ranked by its model's value at risk), best size marked."""
    fig, ax = plt.subplots(figsize=(5, 4))
    share = np.arange(len(y) + 1) / len(y)
    for name, order_by in at_risk.items():
        curve = economics.profit_curve(y, order_by, clv, campaign)
        best = int(curve.argmax())
        (line,) = ax.plot(share, curve, label=f"{name} (best: top {best:,}, {curve[best]:,.0f})")
        ax.plot(share[best], curve[best], "o", color=line.get_color())
    ax.axhline(0, c="grey", lw=1, ls="--")
    ax.set(
        xlabel="share of customers contacted (by value at risk)",
        ylabel="campaign profit",
        title=f"Profit curve (contact {campaign.contact_cost:g}, incentive {campaign.incentive_cost:g})",
    )
    ax.legend(fontsize=7)
    return _png(fig)


def value_decile_plot(actual: np.ndarray, predictions: dict[str, np.ndarray]) -> bytes:
    """Mean predicted vs mean actual spend in deciles of predicted spend."""
    fig, ax = plt.subplots(figsize=(5, 4))
    top = 0.0
    for name, pred in predictions.items():
        bins = pd.qcut(pd.Series(pred).rank(method="first"), 10, labels=False)
        grid = pd.DataFrame({"p": pred, "a": actual}).groupby(bins).mean()
        ax.plot(
            grid["p"], grid["a"], marker="o", label=f"{name} (total {pred.sum() / max(actual.sum(), 1e-9):.2f}x actual)"
        )
        top = max(top, grid.to_numpy().max())
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1)
    ax.set(
        xlabel="mean predicted spend in the horizon", ylabel="mean actual spend", title="Value calibration by decile"
    )
    ax.legend(fontsize=7)
    return _png(fig)


def drivers_chart(points: pd.Series) -> bytes:
    """What adds most to the churn risk of the customers on the save list, in probability points."""
    fig, ax = plt.subplots(figsize=(7, 0.42 * len(points) + 1.2))
    points.sort_values().plot.barh(ax=ax, color="#c0392b")
    ax.set(
        xlabel="average percentage points added to churn risk",
        ylabel="",
        title="What drives churn risk on this week's save list",
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def qini_chart(pooled: dict) -> bytes:
    """The out-of-time Qini curves of the uplift ranking and of the lists' own order and actions."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    shares = np.asarray(pooled["shares"]) * 100
    ax.plot(shares, 100 * np.asarray(pooled["curve_uplift"]), label="Uplift model (its best action)")
    ax.plot(shares, 100 * np.asarray(pooled["curve_as_sent"]), label="The lists as sent (their order and actions)")
    ax.plot(shares, 100 * np.asarray(pooled["curve_value_at_risk"]), label="By value at risk (the lists' actions)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("Share of the listed customers contacted, best first (%)")
    ax.set_ylabel("Customers kept per 100 listed")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def shap_summary_plot(mean_abs_shap: pd.Series, top: int = 25) -> bytes:
    """Mean |SHAP| of the most important features (the churn model, log-odds)."""
    head = mean_abs_shap.sort_values(ascending=False).head(top).sort_values()
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(head) + 1))
    head.plot.barh(ax=ax, color="#2c7fb8")
    ax.set(xlabel="mean |SHAP| (log-odds)", title="Churn model: feature contributions (validation cutoff)")
    return _png(fig)


def figures(latest: pd.DataFrame, campaign: CampaignConfig = CampaignConfig()) -> dict[str, bytes]:
    """The data scientists' plots of the latest backtest fold: calibration, gains, profit curve, value deciles."""
    y = latest["churned"].to_numpy()
    probabilities = _models(latest, "probability")
    return {
        "calibration": calibration_plot(y, probabilities),
        "gains": gains_plot(y, probabilities),
        "profit_curve": profit_plot(
            y, _models(latest, "value_at_risk"), latest["value_if_retained"].to_numpy(), campaign
        ),
        "value_deciles": value_decile_plot(latest["future_spend"].to_numpy(), _models(latest, "value")),
    }
