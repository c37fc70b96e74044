"""The retention team's outputs: at_risk.csv (top customers by value at risk) and a single-file HTML report."""
from __future__ import annotations

import base64
import io as _io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402

AT_RISK_COLUMNS = ["risk_rank", "customer_id", "churn_probability", "value_at_risk", "expected_value", "value_if_retained",
                   "reason_1", "reason_2", "reason_3", "suggested_action", "model_version"]


@dataclass(frozen=True)
class Figures:
    """PNG bytes of the evaluation plots."""

    calibration: Optional[bytes]  # None when there was no backtest
    gains: Optional[bytes]
    drivers: bytes


def _png(fig: plt.Figure) -> bytes:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def calibration_plot(y: np.ndarray, p: np.ndarray, baseline: np.ndarray) -> bytes:
    """Predicted vs observed churn rate in ten bins of predicted risk."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, q in (("LightGBM", p), ("RFM baseline", baseline)):
        bins = pd.qcut(q, 10, duplicates="drop")
        grid = pd.DataFrame({"p": q, "y": y}).groupby(bins, observed=True).mean()
        ax.plot(grid["p"], grid["y"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate", title="Calibration (latest test cutoff)")
    ax.legend()
    return _png(fig)


def gains_plot(y: np.ndarray, p: np.ndarray, baseline: np.ndarray) -> bytes:
    """Share of all churners caught when contacting the top x% by predicted risk."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, q in (("LightGBM", p), ("RFM baseline", baseline)):
        order = np.argsort(-q, kind="stable")
        caught = np.cumsum(y[order]) / max(y.sum(), 1)
        ax.plot(np.arange(1, len(y) + 1) / len(y), caught, label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="random")
    ax.set(xlabel="share of customers contacted", ylabel="share of churners reached", title="Cumulative gains")
    ax.legend()
    return _png(fig)


def drivers_plot(importance: pd.Series) -> bytes:
    """Mean absolute contribution of each driver across the scored base."""
    fig, ax = plt.subplots(figsize=(6, 4))
    importance.sort_values().plot.barh(ax=ax, color="#c0392b")
    ax.set(xlabel="mean |SHAP| (log-odds)", title="What drives churn risk across the base")
    return _png(fig)


def figures(latest: Optional[pd.DataFrame], driver_values: pd.DataFrame) -> Figures:
    """The report's plots; the evaluation plots need the latest backtest fold's predictions."""
    drivers = drivers_plot(driver_values.abs().mean())
    if latest is None:
        return Figures(None, None, drivers)
    y, p, b = latest["churned"].to_numpy(), latest["churn_probability"].to_numpy(), latest["baseline_probability"].to_numpy()
    return Figures(calibration_plot(y, p, b), gains_plot(y, p, b), drivers)


def at_risk(scored: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """The top ``top_n`` customers by value at risk, with the columns a retention team acts on."""
    cols = [c for c in AT_RISK_COLUMNS if c in scored] + [c for c in ("rfm_segment", "loyalty_stage", "loyalty_quadrant", "region", "acquisition_channel", "loyalty_member") if c in scored]
    return scored.head(top_n)[cols]


def render(scored: pd.DataFrame, summary: pd.DataFrame, figs: Figures, context: dict, top_n: int) -> str:
    """The single-file HTML report (plots embedded)."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))
    b64 = {k: base64.b64encode(getattr(figs, k)).decode() for k in ("calibration", "gains", "drivers") if getattr(figs, k)}
    top = at_risk(scored, top_n)
    driver_mix = scored.loc[scored["top_driver"].ne(""), "top_driver"].head(top_n).value_counts()
    return env.get_template("report.html.j2").render(
        top=top.head(50).to_dict("records"), n_listed=len(top), summary=summary, figs=b64, driver_mix=driver_mix.to_dict(),
        totals={"customers": len(scored), "value_at_risk": scored["value_at_risk"].sum(),
                "listed_value_at_risk": top["value_at_risk"].sum(), "mean_probability": scored["churn_probability"].mean()},
        **context,
    )
