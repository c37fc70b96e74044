"""The retention team's outputs: at_risk.csv (top customers by value at risk) and a single-file HTML report."""

from __future__ import annotations

import base64
import io as _io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline import economics
from pipeline.config import CampaignConfig
from pipeline.evaluate import SHOWN_METRICS
from pipeline.score import FILTER_COLUMNS

AT_RISK_COLUMNS = [
    "risk_rank",
    "customer_id",
    "churn_probability",
    "value_at_risk",
    "expected_value",
    "value_if_retained",
    "reason_1",
    "reason_2",
    "reason_3",
    "suggested_action",
    "model_version",
]


@dataclass(frozen=True)
class Figures:
    """PNG bytes of the evaluation plots (None when there was no backtest)."""

    calibration: Optional[bytes]
    gains: Optional[bytes]
    drivers: bytes
    profit: Optional[bytes] = None
    value_deciles: Optional[bytes] = None


LABELS = {
    "lightgbm": "LightGBM",
    "rfm_baseline": "RFM baseline",
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


def drivers_plot(importance: pd.Series, xlabel: str) -> bytes:
    """Mean absolute contribution of each driver across the scored base."""
    fig, ax = plt.subplots(figsize=(6, 4))
    importance.sort_values().plot.barh(ax=ax, color="#c0392b")
    ax.set(xlabel=xlabel, title="What drives churn risk across the base")
    return _png(fig)


def shap_summary_plot(mean_abs_shap: pd.Series, top: int = 25) -> bytes:
    """Mean |SHAP| of the most important features (the churn model, log-odds)."""
    head = mean_abs_shap.sort_values(ascending=False).head(top).sort_values()
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(head) + 1))
    head.plot.barh(ax=ax, color="#2c7fb8")
    ax.set(xlabel="mean |SHAP| (log-odds)", title="Churn model: feature contributions (validation cutoff)")
    return _png(fig)


def figures(
    latest: Optional[pd.DataFrame],
    driver_values: pd.DataFrame,
    drivers_label: str = "mean |SHAP| (log-odds)",
    campaign: CampaignConfig = CampaignConfig(),
) -> Figures:
    """The report's plots; the evaluation plots need the latest backtest fold's predictions."""
    drivers = drivers_plot(driver_values.abs().mean(), drivers_label)
    if latest is None:
        return Figures(None, None, drivers)
    y = latest["churned"].to_numpy()
    probabilities = _models(latest, "probability")
    return Figures(
        calibration_plot(y, probabilities),
        gains_plot(y, probabilities),
        drivers,
        profit_plot(y, _models(latest, "value_at_risk"), latest["value_if_retained"].to_numpy(), campaign),
        value_decile_plot(latest["future_spend"].to_numpy(), _models(latest, "value")),
    )


def at_risk(scored: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """The top ``top_n`` customers by value at risk, with the columns a retention team acts on."""
    cols = [c for c in AT_RISK_COLUMNS if c in scored] + [c for c in FILTER_COLUMNS if c in scored]
    return scored.head(top_n)[cols]


def render(scored: pd.DataFrame, summary: pd.DataFrame, figs: Figures, context: dict, top_n: int) -> str:
    """The single-file HTML report (plots embedded)."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))
    b64 = {
        k: base64.b64encode(getattr(figs, k)).decode()
        for k in ("calibration", "gains", "drivers", "profit", "value_deciles")
        if getattr(figs, k)
    }
    top = at_risk(scored, top_n)
    driver_mix = scored.loc[scored["top_driver"].ne(""), "top_driver"].head(top_n).value_counts()
    return env.get_template("report.html.j2").render(
        top=top.head(50).to_dict("records"),
        n_listed=len(top),
        summary=summary,
        figs=b64,
        driver_mix=driver_mix.to_dict(),
        totals={
            "customers": len(scored),
            "value_at_risk": scored["value_at_risk"].sum(),
            "listed_value_at_risk": top["value_at_risk"].sum(),
            "mean_probability": scored["churn_probability"].mean(),
        },
        **context,
    )


def _mean_spread(mean: float, std: float) -> str:
    if mean != mean:
        return "–"
    return f"{mean:,.0f} ± {std:,.0f}" if abs(mean) >= 1000 else f"{mean:.3f} ± {std:.3f}"


def model_card(context: dict, summary: pd.DataFrame) -> str:
    """A Markdown model card: what the model is, the data window it saw, how well it works, and its known limits."""
    lines = [
        f"# Model card: {context['model_version']}",
        "",
        f"*Made for the list as of {context['as_of']}; predicts the next {context['horizon_days']} days.*",
        "",
        "## What it predicts",
        "- `churn_probability`: calibrated probability of no purchase (no line with a positive amount) in the horizon.",
        "- `value_if_retained`: spend over the horizon if the customer keeps buying; "
        "value at risk = probability x that.",
        "",
        "## Data window",
        f"- Transactions from {context['first_transaction']} to {context['last_transaction']}; "
        f"{context['n_customers']:,} customers scored.",
        f"- Training cutoffs: {context['train_cutoffs'] or 'none (label-free BG/NBD x Gamma-Gamma)'}; "
        f"validation cutoff: {context['validation_cutoff'] or '-'}.",
        f"- Features ({len(context['features'])}): {', '.join(context['features']) or 'BG/NBD and Gamma-Gamma only'}.",
        f"- Calibration: {context.get('calibration') or '-'}.",
        "",
        "## Out-of-time backtest (mean ± spread over folds)",
    ]
    if summary.empty:
        lines.append("No backtest: the history is too short for a fold. Treat the probabilities with caution.")
    else:
        metrics = [m for m in SHOWN_METRICS if (m, "mean") in summary.columns]
        lines += ["| model | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for model in summary.index:
            cells = [_mean_spread(summary.loc[model, (m, "mean")], summary.loc[model, (m, "std")]) for m in metrics]
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Known limits",
        "- Churn is defined by purchases alone: a customer who pauses longer than the horizon counts as churned.",
        "- Every customer who ever bought is scored, including long-gone ones; they inflate ROC AUC and lift.",
        "- Customer attributes (region, channel, loyalty membership) are a current snapshot, not as of each cutoff.",
        "- Reasons are TreeSHAP contributions of the uncalibrated model, grouped into drivers: "
        "associations, not causes.",
        "- The value model is fitted on customers who buy in the horizon; it is not a lifetime value.",
    ]
    return "\n".join(lines) + "\n"
