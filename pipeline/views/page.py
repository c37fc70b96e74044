"""The retention team's weekly page: one self-contained HTML file (plots embedded, no external requests).

Headline numbers per risk band and the saveable value with the change since last week, warnings, the save list and
the win-back group, what changed, how past lists turned out, and what drives risk overall, per segment and per
loyalty stage, in probability points and plain words. The data scientists' metrics are in the model card.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline import monitor, sentences
from pipeline.targeting import BANDS, SAVE, WIN_BACK
from pipeline.views import plots

SHOWN_ROWS = 50  # rows of each list on the page; the files hold them all


@dataclass(frozen=True)
class PageInputs:
    """Everything the page shows, as scoring, the lists and the checks made it."""

    customers: pd.DataFrame
    drivers: pd.DataFrame  # probability points per customer and driver, in the customers' order
    previous_drivers: Optional[pd.DataFrame]
    save: pd.DataFrame  # the readable save list (at_risk.csv)
    win_back: pd.DataFrame
    changes: Optional[monitor.Changes]
    past: pd.DataFrame
    health: monitor.Health
    driver_labels: dict[str, str]
    context: dict
    effects: list[str] = dataclasses.field(default_factory=list)  # what each kind of contact saved (pipeline.effects)
    contact_log: bool = False  # whether the team's contact log says who was contacted
    uplift: Optional[dict] = None  # the uplift model's out-of-time test (stages.uplift), when there is one


def _money(value: float, currency: str) -> str:
    return sentences.money([value], currency)[0]


def headline(inputs: PageInputs) -> dict:
    """The numbers at the top, which do not overlap: the active base by risk band, and the win-back group on its own
    (together every scored customer); the save list, its saveable value, and what changed since the last list."""
    c, currency = inputs.customers, inputs.context["currency"]
    gone = (c["group"] == WIN_BACK).to_numpy()
    bands = c.loc[~gone, "risk_band"].value_counts().reindex(list(BANDS), fill_value=0)
    on_list = c["on_list"].astype(bool)
    out = {
        "scored": f"{len(c):,}",
        "active": f"{int((~gone).sum()):,}",
        "bands": {b: f"{bands[b]:,}" for b in reversed(BANDS)},
        "listed": f"{int(on_list.sum() - c['holdout'].sum()):,}",
        "held_out": f"{int(c['holdout'].sum()):,}",
        "saveable": _money(c.loc[on_list, "saveable_value"].sum(), currency),
        "at_risk": _money(c.loc[on_list, "value_at_risk"].sum(), currency),
        "win_back": f"{int(gone.sum()):,}",
        "win_back_value": _money(c.loc[gone, "value_at_risk"].sum(), currency),
        "win_back_risk": f"{100 * c.loc[gone, 'churn_probability'].mean():.0f}%" if gone.any() else "–",
    }
    if inputs.changes is not None:
        ch = inputs.changes
        out["since"] = f"{ch.previous_as_of:%Y-%m-%d}"
        as_of = pd.Timestamp(inputs.context["as_of"])
        out["since_weeks"] = (as_of - ch.previous_as_of).days // 7
        out["new"], out["risen"], out["left"] = f"{len(ch.new):,}", f"{len(ch.risen):,}", f"{len(ch.left):,}"
    return out


def driver_tables(inputs: PageInputs) -> dict:
    """Mean probability points each driver adds, on the save list, per segment and per loyalty stage."""
    active = (inputs.customers["group"] != WIN_BACK).to_numpy()  # the points explain the active base
    c, points = inputs.customers[active], inputs.drivers[active].clip(lower=0)
    named = points.rename(columns=lambda n: inputs.driver_labels.get(n, n.replace("_", " ")))
    listed = c["group"].eq(SAVE).to_numpy()
    out = {"overall": named[listed].mean().sort_values(ascending=False).head(8) if listed.any() else pd.Series()}
    for col, title in (("rfm_segment", "segment"), ("loyalty_stage", "loyalty stage")):
        if col not in c:
            continue
        rows = []
        for value, idx in c.groupby(c[col].astype(str), observed=True).groups.items():
            mean = named.loc[idx].mean().sort_values(ascending=False)
            top = [f"{k} (+{v:.0f} pts)" for k, v in mean.head(3).items() if v >= 0.5]
            rows.append({title: value, "customers": f"{len(idx):,}", "main drivers": "; ".join(top) or "none"})
        out[title] = rows
    if inputs.previous_drivers is not None and len(inputs.previous_drivers.columns):
        before = inputs.previous_drivers.clip(lower=0).mean()  # NaN rows (last week's win-back group) are skipped
        now = points.mean()
        moved = pd.DataFrame({"now": now, "before": before.reindex(now.index)}).dropna()
        moved = moved.assign(change=moved["now"] - moved["before"]).sort_values("change", key=np.abs, ascending=False)
        out["moved"] = [
            {
                "driver": inputs.driver_labels.get(k, k),
                "now": f"{r.now:.1f}",
                "before": f"{r.before:.1f}",
                "change": f"{r.change:+.1f}",
            }
            for k, r in moved.head(8).iterrows()
        ]
    return out


def render(inputs: PageInputs) -> str:
    """The single-file HTML report."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))
    tables = driver_tables(inputs)
    chart = plots.drivers_chart(tables["overall"]) if len(tables["overall"]) else None
    changes = inputs.changes
    return env.get_template("report.html.j2").render(
        head=headline(inputs),
        warnings=inputs.health.warnings,
        model_age_days=inputs.health.model_age_days,
        save=inputs.save.head(SHOWN_ROWS).to_dict("records"),
        save_columns=list(inputs.save.columns),
        win_back=inputs.win_back.head(20).to_dict("records"),
        win_back_columns=[c for c in inputs.win_back.columns if not c.startswith("Reason") or c == "Reason 1"],
        n_save=len(inputs.save),
        n_win_back=len(inputs.win_back),
        changes=_changes_view(changes) if changes is not None else None,
        past=_past_view(inputs.past, inputs.context["currency"]),
        effects=inputs.effects,
        contact_log=inputs.contact_log,
        uplift=_uplift_view(inputs),
        drivers=tables,
        chart=base64.b64encode(chart).decode() if chart else None,
        **{"reference_risk": None, "active_rule": None, **inputs.context},
    )


def _changes_view(ch: monitor.Changes) -> dict:
    def rows(frame: pd.DataFrame, extra: str | None = None) -> list[dict]:
        out = []
        for r in frame.head(10).itertuples():
            row = {"Customer ID": r.customer_id, "Churn risk": f"{100 * r.churn_probability:.0f}%"}
            if extra:
                row[extra] = getattr(r, "why", None) or f"{getattr(r, 'change_points', 0):+.0f} pts"
            row["Main reason"] = getattr(r, "reason_1", "")
            out.append(row)
        return out

    return {
        "since": f"{ch.previous_as_of:%Y-%m-%d}",
        "new": rows(ch.new.sort_values("saveable_value", ascending=False)),
        "n_new": len(ch.new),
        "risen": rows(ch.risen, "Change"),
        "n_risen": len(ch.risen),
        "left": rows(ch.left, "Why"),
        "n_left": len(ch.left),
        "why": ch.why_counts,
    }


def _uplift_view(inputs: PageInputs) -> Optional[dict]:
    """Whether the uplift model ranks the list and why, its Qini chart, and what exploring costs this week."""
    found, c = inputs.uplift, inputs.customers
    if not found:
        return None
    pooled = (found.get("pooled") or [None])[0]
    explored = c["explored"].astype(bool) if "explored" in c else pd.Series(False, index=c.index)
    cost = float(c.loc[explored, "explore_cost"].sum()) if "explore_cost" in c else 0.0
    listed = float(c.loc[c["on_list"].astype(bool), "saveable_value"].sum())
    note = c["ranking_note"].iloc[0] if "ranking_note" in c and len(c) else ""
    return {
        "reason": note or found.get("reason", ""),
        "actions": ", ".join(found.get("actions", [])),
        "chart": base64.b64encode(plots.qini_chart(pooled)).decode() if pooled and "shares" in pooled else None,
        "explored": int(explored.sum()),
        "explore_cost": _money(cost, inputs.context["currency"]),
        "explore_share": f"{cost / listed:.0%}" if listed > 0 else "0%",
    }


def _past_view(past: pd.DataFrame, currency: str) -> list[dict]:
    def pct(v: float) -> str:
        return "–" if pd.isna(v) else f"{100 * v:.0f}%"

    return [
        {
            "List of": f"{r.as_of:%Y-%m-%d}",
            "Customers listed": f"{r.listed:,}",
            "Predicted to leave": pct(r.predicted_listed),
            "Left (listed)": pct(r.churn_rate_listed),
            "Left (just below the cut)": pct(r.churn_rate_below_cut),
            "Left (all customers)": pct(r.churn_rate_base),
            "Left (held out, not contacted)": pct(r.churn_rate_held_out),
            "Left (contacted)": pct(r.churn_rate_not_held_out),
            **(
                {
                    "Contacted (contacts table)": f"{r.contacted:,.0f}",
                    "Left (contacted per the table)": pct(r.churn_rate_contacted),
                    "Left (not contacted)": pct(r.churn_rate_not_contacted),
                }
                if "contacted" in past and pd.notna(r.contacted)
                else {}
            ),
            "Value lost": sentences.money([r.value_lost], currency)[0],
        }
        for r in past.itertuples()
    ]
