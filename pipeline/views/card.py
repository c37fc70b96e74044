"""The model card (Markdown): what the model is, the data it saw, how well it works, its known limits."""

from __future__ import annotations

import pandas as pd

from pipeline.backtest import SHOWN_METRICS


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
        f"- Training cutoffs: {context['train_cutoffs'] or 'none (label-free BG/NBD x Gamma-Gamma)'} (early stopping, "
        "blend weights and calibration chosen on out-of-fold predictions: customers split in two halves).",
        f"- Features ({len(context['features'])}): {', '.join(context['features']) or 'BG/NBD and Gamma-Gamma only'}.",
        f"- Calibration: {context.get('calibration') or '-'}.",
        *_shape(context),
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
    lines += uplift_section(context.get("uplift"))
    lines += [
        "",
        "## Known limits",
        "- Churn is defined by purchases alone: a customer who pauses longer than the horizon counts as churned.",
        "- Every customer who ever bought is scored, including long-gone ones; they inflate ROC AUC and lift.",
        "- Customer attributes (region, channel, loyalty membership) are a current snapshot, not as of each cutoff.",
        "- Reasons are TreeSHAP contributions of the uncalibrated model, grouped into drivers: "
        "associations, not causes.",
        "- The value forecast covers the horizon only; it is not a lifetime value.",
    ]
    return "\n".join(lines) + "\n"


def uplift_section(found: dict | None) -> list[str]:
    """The uplift model's out-of-time backtest: per fold and pooled, its Qini area against the lists as sent."""
    if not found:
        return []
    lines = ["", "## Uplift model: out-of-time backtest on past lists", "", f"{found.get('reason', '')}.", ""]
    folds = [*found.get("folds", []), *found.get("pooled", [])]
    if folds:
        lines += [
            "Qini area (extra customers kept per listed customer, averaged over list depths); each fold's lists are "
            "judged by a model fitted on the lists whose horizon ended before them.",
            "",
            "| lists from | listed | held out | uplift model | lists as sent | value-at-risk order |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {f['test_from']} | {f['customers']:,} | {f['held_out']:,} | {f['qini_uplift']:.4f} | "
            f"{f['qini_as_sent']:.4f} | {f['qini_value_at_risk']:.4f} |"
            for f in folds
        ]
    if counts := found.get("per_action"):
        lines += ["", "Past lists' customers by what they got: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())]
    return lines


def _shape(context: dict) -> list[str]:
    """The lines saying how the model is blended, whether a baseline scores, and whether it is extended."""
    out = []
    if blend := context.get("churn_blend"):
        parts = ", ".join(f"{k} {v:.2f}" for k, v in blend.items() if v > 0)
        out.append(f"- Churn: a blend of log-odds, weighted on out-of-fold predictions: {parts} (see `models.churn`).")
    if value := context.get("value_blend"):
        parts = ", ".join(f"{k} {v:.2f}" for k, v in value.items() if v > 0)
        out.append(f"- Value: a blend of forecasts, weighted by backtest RMSE: {parts} (see `models.value`).")
    if reason := context.get("scorer_reason"):
        out.append(f"- **A baseline scores the list**: {reason}.")
    if note := context.get("backtest_note"):
        out.append(f"- **Not ahead of every baseline**: {note}.")
    if extended := context.get("extended"):
        out.append(
            f"- **A short history**: the model learnt {extended[0]}-day labels (the backtest judges those); its "
            f"forecasts are extended to {extended[1]} days with BG/NBD's shape (see `pipeline.extend`)."
        )
    return out
