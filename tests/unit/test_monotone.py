"""More open complaints never lower the churn risk, by construction: every tree of the churn model keeps each leaf
reached through the low side of an open-complaints split at or below every leaf of its high side (LightGBM's basic
monotone method; the advanced one has known violations), and so does every part and the calibration of the blend."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from pipeline import models
from pipeline.config import LgbmParams


def _leaves(node: dict) -> list[float]:
    if "leaf_value" in node:
        return [node["leaf_value"]]
    return _leaves(node["left_child"]) + _leaves(node["right_child"])


def _violations(node: dict, feature: int) -> int:
    """Splits on ``feature`` with a leaf of the low side above a leaf of the high side (missing values go left)."""
    if "leaf_value" in node:
        return 0
    here = int(
        node["split_feature"] == feature
        and max(_leaves(node["left_child"])) > min(_leaves(node["right_child"])) + 1e-12
    )
    return here + _violations(node["left_child"], feature) + _violations(node["right_child"], feature)


def test_every_tree_is_monotone_in_open_complaints_on_data_that_tempts_it_not_to_be():
    rng = np.random.default_rng(11)
    n = 20_000
    X = pd.DataFrame(
        {
            "open_complaints": rng.integers(0, 4, n).astype(float),
            "recency_days": rng.uniform(0, 200, n),
            "spend_total": rng.gamma(2.0, 100.0, n),
        }
    )
    # complaints raise risk for recent buyers and lower it (in this made-up data) for long-silent ones
    z = -1 + 0.01 * X["recency_days"] + np.where(X["recency_days"] < 60, 0.6, -0.6) * X["open_complaints"]
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    params = LgbmParams(n_estimators=200, learning_rate=0.1, num_leaves=31, max_depth=6, min_child_samples=20)
    clf = models.churn_classifier(params, 0, [1, 0, 0]).fit(X, y)
    trees = clf.booster_.dump_model()["tree_info"]
    assert sum(_violations(t["tree_structure"], 0) for t in trees) == 0
    grid = X.sample(2000, random_state=0)
    p = [clf.predict_proba(grid.assign(open_complaints=grid["open_complaints"] + k))[:, 1] for k in range(4)]
    assert all(np.all(b >= a - 1e-12) for a, b in itertools.pairwise(p))
