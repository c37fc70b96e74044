"""What a contact really saves, measured on the team's own past lists (issue 26, part 2).

Every list holds out a random share of its customers (``retention.holdout_share``): they are not contacted. Once a
list's horizon has passed, each kind of contact is judged on its own: the listed customers it was used on (by the
contact log; without one, every listed customer not held out is taken as contacted with the suggested action)
against the held-out customers it would have been used on. The hold-out is random within the list, so the two
groups differ only by the contact.

* The effect in points: churn of the held out - churn of the contacted, with a 90 % Agresti-Caffo interval (one
  success and one failure added to each group: honest coverage on the small groups a hold-out gives).
* The save rate the ranking uses (``value at risk x save rate``) is the share of would-be leavers a contact keeps:
  1 - churn(contacted) / churn(held out), with a 90 % interval on the log risk ratio (Katz, on counts with 0.5
  added).
* **Adjusted for who happened to be held out.** Where the rows carry ``prognosis`` (each customer's chance of buying
  again without a contact, from a model of the held-out customers, cross-fitted so no customer's own outcome is in
  theirs: ``stages.uplift``), the effect is the difference of the two groups' outcomes *minus their prognoses*: a
  hold-out that happened to draw customers more likely to stay no longer hides part of the effect, and the
  interval narrows by as much as the prognosis explains. The random assignment keeps it unbiased whatever the
  prognosis model's quality. The interval is then the normal one on the residuals, and the save rate is the
  adjusted effect over the held-out churn.
* While evidence is thin the configured rate stays in use. Once an action has ``min_contacted`` contacted and
  ``min_held_out`` held-out customers, the rate used is the measured one shrunk towards the configured prior by
  their precisions (a normal prior of sd ``prior_sd`` around the configured rate): an estimate a few lists old moves
  the ranking a little, one measured on thousands decides it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from pipeline.config import EffectsConfig

Z90 = 1.6448536269514722  # the normal quantile of a two-sided 90 % interval
OUTCOME_COLUMNS = ("action", "holdout", "contacted", "churned")  # one row per listed customer of a past list


@dataclass(frozen=True)
class Effect:
    """One kind of contact, judged on past lists."""

    action: str
    contacted: int
    held_out: int
    churn_contacted: float
    churn_held_out: float
    points: float  # held-out churn - contacted churn, in percentage points
    points_low: float
    points_high: float
    save_rate: float  # 1 - churn(contacted) / churn(held out); nan when nothing to compare
    save_low: float
    save_high: float
    prior: float  # the configured save rate
    used: float  # the rate the ranking uses
    measured: bool  # True: ``used`` comes from the evidence (shrunk to the prior); False: the prior alone

    def to_dict(self) -> dict:
        return asdict(self)


def points_interval(x_c: int, n_c: int, x_h: int, n_h: int) -> tuple[float, float, float]:
    """Held-out churn - contacted churn (in points) and its 90 % Agresti-Caffo interval."""
    p_c, p_h = (x_c + 1) / (n_c + 2), (x_h + 1) / (n_h + 2)
    diff = p_h - p_c
    se = np.sqrt(p_c * (1 - p_c) / (n_c + 2) + p_h * (1 - p_h) / (n_h + 2))
    raw = (x_h / n_h - x_c / n_c) if n_c and n_h else np.nan
    return 100 * raw, 100 * (diff - Z90 * se), 100 * (diff + Z90 * se)


def adjusted_points(contacted: pd.DataFrame, held: pd.DataFrame) -> tuple[float, float, float] | None:
    """The effect in points adjusted by the prognosis (see the module's notes) and its 90 % interval; None when the
    rows carry no prognosis."""
    if "prognosis" not in contacted or contacted["prognosis"].isna().any() or held["prognosis"].isna().any():
        return None
    if len(contacted) < 2 or len(held) < 2:
        return None
    res_c = (1 - contacted["churned"].to_numpy(dtype=float)) - contacted["prognosis"].to_numpy(dtype=float)
    res_h = (1 - held["churned"].to_numpy(dtype=float)) - held["prognosis"].to_numpy(dtype=float)
    diff = res_c.mean() - res_h.mean()
    se = np.sqrt(res_c.var(ddof=1) / len(res_c) + res_h.var(ddof=1) / len(res_h))
    return 100 * diff, 100 * (diff - Z90 * se), 100 * (diff + Z90 * se)


def save_rate_interval(x_c: int, n_c: int, x_h: int, n_h: int) -> tuple[float, float, float, float]:
    """1 - risk ratio (contacted / held out), its 90 % interval, and the standard error of the log risk ratio."""
    a, b = x_c + 0.5, x_h + 0.5
    log_rr = np.log((a / (n_c + 0.5)) / (b / (n_h + 0.5)))
    se = float(np.sqrt(1 / a - 1 / (n_c + 0.5) + 1 / b - 1 / (n_h + 0.5)))
    rate = 1 - np.exp(log_rr)
    return float(rate), float(1 - np.exp(log_rr + Z90 * se)), float(1 - np.exp(log_rr - Z90 * se)), se


def measure(outcomes: pd.DataFrame, priors: dict[str, float], cfg: EffectsConfig) -> list[Effect]:
    """Each action's effect from the listed customers of past lists: one row each with ``action`` (what was, or
    would have been, used on them), ``holdout``, ``contacted`` and ``churned``. Actions without a prior (``none``)
    are left out; an action no list used keeps its prior."""
    out = []
    for action, prior in priors.items():
        if action == "none":
            continue
        rows = outcomes[outcomes["action"] == action]
        held = rows[rows["holdout"].astype(bool)]
        contacted = rows[~rows["holdout"].astype(bool) & rows["contacted"].astype(bool)]
        n_c, n_h = len(contacted), len(held)
        x_c, x_h = int(contacted["churned"].sum()), int(held["churned"].sum())
        if n_c == 0 or n_h == 0:
            nan = float("nan")
            churn = (_rate(x_c, n_c), _rate(x_h, n_h))
            out.append(Effect(action, n_c, n_h, *churn, nan, nan, nan, nan, nan, nan, prior, prior, False))
            continue
        adjusted = adjusted_points(contacted, held)
        if adjusted is None:
            points, low, high = points_interval(x_c, n_c, x_h, n_h)
            rate, s_low, s_high, se_log = save_rate_interval(x_c, n_c, x_h, n_h)
            se = se_log * max(1 - rate, 1e-6)  # the delta method: the rate's own standard error
        else:
            points, low, high = adjusted
            churn_h = max(x_h / n_h, 1e-6)
            rate, s_low, s_high = points / 100 / churn_h, low / 100 / churn_h, high / 100 / churn_h
            se = (high - low) / 200 / Z90 / churn_h
        measured = n_c >= cfg.min_contacted and n_h >= cfg.min_held_out
        used = prior
        if measured:
            used = float(np.clip(shrink(rate, se, prior, cfg.prior_sd), 0.0, 1.0))
        out.append(
            Effect(
                action, n_c, n_h, x_c / n_c, x_h / n_h, points, low, high, rate, s_low, s_high, prior, used, measured
            )
        )
    return out


def shrink(estimate: float, se: float, prior: float, prior_sd: float) -> float:
    """The precision-weighted mean of the estimate and the prior (a normal prior, a normal likelihood)."""
    w_data, w_prior = 1 / max(se, 1e-9) ** 2, 1 / max(prior_sd, 1e-9) ** 2
    return (estimate * w_data + prior * w_prior) / (w_data + w_prior)


def rates_in_use(effects: list[dict] | None, priors: dict[str, float]) -> dict[str, float]:
    """The save rate per action the ranking uses: the measured one where it is trustworthy, else the configured."""
    rates = dict(priors)
    for e in effects or []:
        if e.get("measured") and e.get("action") in rates:
            rates[e["action"]] = float(e["used"])
    return rates


def sentence(e: Effect, label: str) -> str:
    """One line for the report: what the evidence says and which rate the list uses."""
    if not e.contacted or not e.held_out:
        counts = f"contacted {e.contacted:,}, held out {e.held_out:,}"
        return f"{label}: no comparison yet ({counts}); the list assumes a save rate of {e.prior:.0%}"
    half = (e.points_high - e.points_low) / 2
    said = (
        f"{label}: contacted {e.contacted:,}, held out {e.held_out:,}, churn {e.churn_contacted:.0%} vs "
        f"{e.churn_held_out:.0%}: saves {e.points:.0f} ± {half:.0f} points"
    )
    if e.measured:
        return f"{said}; the list uses a save rate of {e.used:.0%} (measured, shrunk towards the assumed {e.prior:.0%})"
    return f"{said}; too few customers yet to trust, the list keeps the assumed {e.prior:.0%}"


def _rate(x: int, n: int) -> float:
    return x / n if n else np.nan
