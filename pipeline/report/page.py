"""The single-file HTML report (plots embedded), from the scored list and the backtest summary."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline.report.at_risk import at_risk_list
from pipeline.report.plots import Figures


def render(scored: pd.DataFrame, summary: pd.DataFrame, figs: Figures, context: dict, top_n: int) -> str:
    """The single-file HTML report (plots embedded)."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))
    b64 = {
        k: base64.b64encode(getattr(figs, k)).decode()
        for k in ("calibration", "gains", "drivers", "profit", "value_deciles")
        if getattr(figs, k)
    }
    top = at_risk_list(scored, top_n)
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
