"""Issue 26's checks on a demo project, against the demo's hidden truth (the pipeline never reads it).

    python bench/uplift_check.py [PROJECT] [AS_OF]

* The latest list's expected saved value: the sum, over its listed customers who are not held out, of the true
  effect of the suggested action x value if retained; against as many customers ranked by value at risk, each with
  their top reason's action (the ranking before the uplift model).
* For every action with at least 200 contacted customers on past lists: whether the measured 90 % interval (the
  report's, in models/action_effects.json) contains the true average effect on the customers it was used on.
* The uplift model's out-of-time Qini against the lists as sent (models/uplift.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from pipeline.infra.catalog import Catalog


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    catalog = Catalog.of_project(root)
    as_of = pd.Timestamp(sys.argv[2]) if len(sys.argv) > 2 else max(catalog.published_weeks())
    truth_dir = catalog.raw / "demo" / "_truth"
    truth = pd.read_parquet(truth_dir / "action_effects.parquet").set_index(["customer_id", "action"])
    effect = truth["true_save_probability"]
    scored = pd.read_parquet(catalog.customers(as_of))
    contacted = scored[scored["on_list"] & ~scored["holdout"]]

    def saved(frame: pd.DataFrame, action_column: str) -> float:
        keys = pd.MultiIndex.from_arrays([frame["customer_id"].astype(str), frame[action_column].astype(str)])
        return float((effect.reindex(keys).fillna(0.0).to_numpy() * frame["value_if_retained"].to_numpy()).sum())

    eligible = scored[scored["group"] != "win-back"]
    by_value = eligible.sort_values("value_at_risk", ascending=False).head(len(contacted))
    ours, before = saved(contacted, "action"), saved(by_value, "reason_action")
    print(f"list of {as_of:%Y-%m-%d}: {len(contacted):,} contacted, ranked by {contacted['ranked_by'].iloc[0]}")
    print(f"  expected saved value {ours:,.0f} vs {before:,.0f} by value at risk with the top reason's action")
    print(f"  ratio {ours / before:.2f} (done when >= 1.25)")
    measured = json.loads(catalog.uplift_backtest(as_of).read_text())["effects"]
    past = pd.read_parquet(truth_dir / "past_list_effects.parquet")
    lists = pd.read_csv(catalog.raw / "demo" / "lists.csv", parse_dates=["list_date"])
    past = past.merge(lists[["customer_id", "list_date", "holdout"]], on=["customer_id", "list_date"])
    judged = past[(past["list_date"] + pd.Timedelta(days=90) <= as_of) & ~past["holdout"]]
    print("measured effect (90 % interval, points) vs the true average effect on the customers it was used on:")
    for e in measured:
        if e["contacted"] < 200:
            continue
        true = 100 * judged.loc[judged["action"] == e["action"], "true_effect"].mean()
        inside = e["points_low"] <= true <= e["points_high"]
        print(
            f"  {e['action']:<18} contacted {e['contacted']:>5,}, held out {e['held_out']:>4,}: measured "
            f"{e['points']:5.1f} [{e['points_low']:5.1f}, {e['points_high']:5.1f}], true {true:5.1f}  "
            f"{'inside' if inside else 'OUTSIDE'}"
        )
    found = json.loads(catalog.uplift_backtest(as_of).read_text())
    print(f"uplift model: {found.get('reason')}")


if __name__ == "__main__":
    main()
