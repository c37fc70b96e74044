"""The vectorised exact TreeSHAP gives LightGBM's and shap's exact values, splits of every kind included."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from pipeline.models import treeshap


def _data(n: int = 3_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "recency": rng.exponential(40, n),
            "with_gaps": np.where(rng.random(n) < 0.2, np.nan, rng.normal(0, 1, n)),  # missing values: NaN splits
            "mostly_zero": np.where(rng.random(n) < 0.6, 0.0, rng.gamma(2, 3, n)),  # zero_as_missing: Zero splits
            "region": pd.Categorical(rng.choice(["n", "s", "e", "w", None], n)),  # categorical splits, with missing
            "noise": rng.normal(0, 1, n),
        }
    )
    logit = 0.03 * X["recency"] - np.nan_to_num(X["with_gaps"]) + 0.2 * X["mostly_zero"] - 1.5 * (X["region"] == "s")
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit - 1)))).astype(int)
    return X, y


@pytest.mark.parametrize("params", [{"max_depth": 4, "num_leaves": 15}, {"max_depth": -1, "num_leaves": 31}])
def test_values_equal_lightgbms_own_treeshap_on_every_kind_of_split(params):
    X, y = _data()
    for zero_as_missing in (False, True):
        model = lgb.LGBMClassifier(
            n_estimators=60, min_child_samples=5, zero_as_missing=zero_as_missing, verbose=-1, **params
        ).fit(X, y)
        booster = model.booster_
        kinds = {(s["decision_type"], s["missing_type"]) for s in _splits(booster.dump_model())}
        assert ("==", "NaN") in kinds or ("==", "None") in kinds  # the test covers categorical splits
        expected = booster.predict(X, pred_contrib=True)
        got = treeshap.TreeShap(booster).shap_values(X, threads=2)
        np.testing.assert_allclose(got, expected[:, :-1], rtol=0, atol=1e-10)
        # the values add up to the prediction, as SHAP values must
        np.testing.assert_allclose(got.sum(axis=1) + expected[:, -1], booster.predict(X, raw_score=True), atol=1e-9)


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier with TreeExplainer")
def test_values_equal_shaps_exact_tree_explainer():
    shap = pytest.importorskip("shap")
    X, y = _data(seed=1)
    X = X.drop(columns="region")  # shap's explainer reads LightGBM's numerical splits only
    model = lgb.LGBMClassifier(n_estimators=40, max_depth=4, num_leaves=15, verbose=-1).fit(X, y)
    exact = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent").shap_values(X)
    exact = exact[1] if isinstance(exact, list) else exact
    np.testing.assert_allclose(treeshap.TreeShap(model.booster_).shap_values(X), exact, rtol=0, atol=1e-8)


def test_a_tree_deeper_than_the_table_allows_falls_back_to_lightgbm(monkeypatch):
    X, y = _data(seed=2)
    model = lgb.LGBMClassifier(n_estimators=10, max_depth=6, num_leaves=40, verbose=-1).fit(X, y)
    monkeypatch.setattr(treeshap, "MAX_PATH_FEATURES", 2)
    explainer = treeshap.TreeShap(model.booster_)
    assert explainer.trees is None
    np.testing.assert_allclose(
        explainer.shap_values(X), model.booster_.predict(X, pred_contrib=True)[:, :-1], rtol=0, atol=1e-12
    )


def test_the_leaf_game_table_is_the_shapley_value_by_its_definition():
    from itertools import combinations
    from math import factorial

    zero = np.array([0.3, 0.6, 0.45])
    table = treeshap.product_game_shapley(2.0, zero)
    d = len(zero)
    for pattern in range(2**d):
        one = np.array([(pattern >> k) & 1 for k in range(d)], float)

        def v(S, one=one):
            return 2.0 * np.prod([one[f] if f in S else zero[f] for f in range(d)])

        for j in range(d):
            others = [f for f in range(d) if f != j]
            phi = sum(
                factorial(len(S)) * factorial(d - len(S) - 1) / factorial(d) * (v({*S, j}) - v(set(S)))
                for k in range(d)
                for S in combinations(others, k)
            )
            assert table[pattern, j] == pytest.approx(phi, abs=1e-12)


def _splits(model: dict) -> list[dict]:
    found = []

    def walk(node):
        if "split_index" in node:
            found.append(node)
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in model["tree_info"]:
        walk(tree["tree_structure"])
    return found
