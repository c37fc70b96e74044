"""The weekly loop's checks: what changed since last week, how past lists turned out, and whether the model still fits.

All pure functions on frames: the report stage reads the weeks and tables through the catalog and hands them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.config import HealthConfig, RetentionConfig
from pipeline.targeting import WIN_BACK

# ------------------------------------------------------------------ what changed since last week


@dataclass(frozen=True)
class Changes:
    """Week over week: who is new on the list, whose risk jumped, who left the list and why."""

    previous_as_of: pd.Timestamp
    new: pd.DataFrame  # on the list now, not last week
    risen: pd.DataFrame  # on the list both weeks, risk up by at least risk_rise_points
    left: pd.DataFrame  # on last week's list, not on this one, with ``why``
    change_points: pd.Series  # every current customer's risk change in points (NaN = not scored last week)

    @property
    def why_counts(self) -> dict[str, int]:
        return self.left["why"].value_counts().to_dict() if len(self.left) else {}


def changes(current: pd.DataFrame, previous: pd.DataFrame, cfg: RetentionConfig) -> Changes:
    """Compare this week's scored customers with last week's (both as written by scoring)."""
    before = previous.set_index("customer_id")
    now = current.set_index("customer_id")
    delta = 100 * (now["churn_probability"] - before["churn_probability"].reindex(now.index))
    listed_now, listed_before = now["on_list"].astype(bool), before["on_list"].astype(bool)
    both = listed_now & listed_before.reindex(now.index, fill_value=False)
    new = now[listed_now & ~listed_before.reindex(now.index, fill_value=False)]
    risen = now[both & (delta >= cfg.risk_rise_points)].assign(change_points=delta)
    gone = before[listed_before & ~listed_now.reindex(before.index, fill_value=False)]
    left = gone.assign(why=_why_left(gone, now.reindex(gone.index), pd.Timestamp(previous["as_of"].iloc[0])))
    return Changes(
        pd.Timestamp(previous["as_of"].iloc[0]),
        new.reset_index(),
        risen.sort_values("change_points", ascending=False).reset_index(),
        left.reset_index(),
        delta.rename("change_points").reset_index(drop=True).set_axis(current.index),
    )


def _why_left(before: pd.DataFrame, now: pd.DataFrame, previous_as_of: pd.Timestamp) -> np.ndarray:
    """Why a customer on last week's list is not on this one, in words."""
    bought = pd.to_datetime(now.get("last_order_date")) >= previous_as_of if "last_order_date" in now else False
    closed = (before.get("open_complaints", 0) > 0) & (now.get("open_complaints", 0) == 0)
    return np.select(
        [
            now["churn_probability"].isna(),
            np.asarray(bought, dtype=bool),
            np.asarray(closed, dtype=bool),
            (now["group"] == WIN_BACK).to_numpy(),
            (now["churn_probability"] < before["churn_probability"]).to_numpy(),
        ],
        [
            "no longer in the data",
            "bought again",
            "complaint closed",
            "moved to win-back (likely gone)",
            "risk fell",
        ],
        default="ranked below the cut",
    )


# ------------------------------------------------------------------ how past lists turned out


def list_outcome(past: pd.DataFrame, churned: pd.Series, contacts: pd.DataFrame | None = None) -> dict:
    """How one earlier list turned out, once its horizon has passed.

    ``past`` is that week's scored customers; ``churned`` is, per customer, whether they made no purchase in the
    horizon after it. Compares the listed customers with the whole base and with the customers just below the cut
    (the next ones by saveable value, as many as were listed); with a hold-out, contacted against held out.
    """
    frame = past.assign(churned=churned.to_numpy())
    listed = frame[frame["on_list"].astype(bool)]
    below = frame[(frame["group"] != WIN_BACK) & ~frame["on_list"].astype(bool) & (frame["saveable_value"] > 0)]
    below = below.sort_values("saveable_value", ascending=False).head(len(listed))
    held = listed[listed["holdout"].astype(bool)]
    contacted_list = listed[~listed["holdout"].astype(bool)]
    out = {
        "as_of": pd.Timestamp(past["as_of"].iloc[0]),
        "listed": len(listed),
        "churn_rate_listed": _rate(listed),
        "predicted_listed": float(listed["churn_probability"].mean()) if len(listed) else np.nan,
        "churn_rate_base": _rate(frame),
        "churn_rate_below_cut": _rate(below),
        "value_lost": float(listed.loc[listed["churned"] == 1, "value_if_retained"].sum()),
        "held_out": len(held),
        "churn_rate_held_out": _rate(held),
        "churn_rate_not_held_out": _rate(contacted_list),
    }
    if contacts is not None:
        reached = listed["customer_id"].astype(str).isin(contacts["customer_id"].astype(str))
        out.update(
            contacted=int(reached.sum()),
            churn_rate_contacted=_rate(listed[reached.to_numpy()]),
            churn_rate_not_contacted=_rate(listed[~reached.to_numpy()]),
        )
    return out


def _rate(frame: pd.DataFrame) -> float:
    return float(frame["churned"].mean()) if len(frame) else np.nan


# ------------------------------------------------------------------ is the model still right for this data


def reference_profile(features: pd.DataFrame, scores: np.ndarray, bins: int = 10) -> dict:
    """What the champion's training data looked like: per feature, decile edges and shares, missing share; the score."""
    profile = {"features": {}, "score": _bins(pd.Series(scores), bins)}
    for name in features.columns:
        profile["features"][name] = _bins(features[name], bins)
    return profile


def _bins(values: pd.Series, bins: int) -> dict:
    missing = float(values.isna().mean())
    known = values.dropna()
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        shares = known.astype(str).value_counts(normalize=True)
        return {"kind": "categorical", "shares": shares.to_dict(), "missing": missing}
    edges: np.ndarray | list = (
        np.unique(np.quantile(known.to_numpy(dtype=float), np.linspace(0, 1, bins + 1)[1:-1])) if len(known) else []
    )
    counts = np.bincount(np.searchsorted(edges, known.to_numpy(dtype=float), side="right"), minlength=len(edges) + 1)
    return {
        "kind": "numeric",
        "edges": list(map(float, edges)),
        "shares": list(counts / max(len(known), 1)),
        "missing": missing,
    }


def psi(reference: dict, values: pd.Series) -> float:
    """Population stability index of ``values`` against a reference made by ``_bins`` (0 = the same distribution)."""
    known = values.dropna()
    if reference["kind"] == "categorical":
        names = sorted(set(reference["shares"]) | set(known.astype(str).unique()))
        expected = np.array([reference["shares"].get(n, 0.0) for n in names])
        actual = known.astype(str).value_counts(normalize=True).reindex(names, fill_value=0.0).to_numpy()
    else:
        expected = np.asarray(reference["shares"])
        counts = np.searchsorted(reference["edges"], known.to_numpy(dtype=float), side="right")
        actual = np.bincount(counts, minlength=len(expected)) / max(len(known), 1)
    e, a = np.clip(expected, 1e-4, None), np.clip(actual, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class Health:
    """Drift, age and missing inputs, with the warnings a person should read first."""

    psi: pd.Series  # per feature, plus "churn score"
    missing_increase: pd.Series  # per feature: this week's missing share - training's
    model_age_days: int
    warnings: list[str] = field(default_factory=list)


def health(
    reference: dict | None,
    features: pd.DataFrame,
    scores: pd.Series,
    model_as_of: pd.Timestamp,
    as_of: pd.Timestamp,
    cfg: HealthConfig,
    labels: dict[str, str],
) -> Health:
    """Check this week's features and scores against the champion's training data; plain-language warnings."""
    age = int((as_of - model_as_of).days)
    warnings = []
    if age > cfg.max_model_age_days:
        warnings.append(
            f"The model is {age} days old (trained for {model_as_of:%Y-%m-%d}); customers' habits may have changed "
            f"since. Retrain it with `make train`."
        )
    if reference is None:
        return Health(pd.Series(dtype=float), pd.Series(dtype=float), age, warnings)
    found = {
        n: psi(ref, features[n]) for n, ref in reference["features"].items() if n in features and n not in cfg.ignore
    }
    found["churn score"] = psi(reference["score"], scores)
    drift = pd.Series(found).sort_values(ascending=False)
    missing = pd.Series(
        {
            n: float(features[n].isna().mean()) - ref["missing"]
            for n, ref in reference["features"].items()
            if n in features
        }
    ).sort_values(ascending=False)
    gone = [n for n in reference["features"] if n not in features]
    shifted = drift[drift > cfg.max_psi]
    if len(shifted):
        named = ", ".join(_distinct(labels.get(n, n) for n in shifted.index)[:5])
        warnings.append(
            f"This week's customers look different from those the model was trained on ({named}: population "
            f"stability index above {cfg.max_psi}). Check the latest data load; if it is right, retrain with "
            f"`make train`."
        )
    gaps = missing[missing > cfg.max_missing_increase]
    if len(gaps) or gone:
        named = ", ".join(_distinct([*(labels.get(n, n) for n in gaps.index), *gone])[:5])
        warnings.append(
            f"Inputs are missing for more customers than in training ({named}). A column or table may be missing "
            f"from this week's data; check the ingest summary."
        )
    return Health(drift, missing, age, warnings)


def _distinct(names) -> list[str]:
    """The names in order, each once (several features share a driver's label)."""
    return list(dict.fromkeys(names))
