"""Exact TreeSHAP for small LightGBM trees, vectorised over customers: the same values as LightGBM's ``pred_contrib``.

Path-dependent TreeSHAP sums, over the leaves of a tree, the Shapley values of one small game per leaf: the leaf's
value times, for each feature on its path, either "the customer satisfies every split on that feature" (1 or 0) or
the share of training rows that went that way (the zero fraction). Such a product game has ``d`` players (the
distinct features on the path, at most the tree's depth), so each leaf has only ``2**d`` outcomes. Those are tabled
once per model; explaining a customer is then, per leaf, a few comparisons, a bit pattern and a table look-up, done
for a block of customers at a time in numpy.

LightGBM's own implementation walks each tree once per customer and per leaf in C++ (about 3,200 customers a
second per core for 200 trees of 15 leaves); this does the same arithmetic column-wise and is several times faster
on shallow trees. Trees deeper than ``MAX_PATH_FEATURES`` distinct features per path fall back to LightGBM.
The results are checked against LightGBM's and ``shap``'s exact values in the tests.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_PATH_FEATURES = 10  # 2**10 outcomes per leaf; deeper paths are left to LightGBM
ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold: |x| <= this counts as zero for missing_type=Zero
BLOCK_ROWS = 65_536


@dataclass(frozen=True)
class _Split:
    feature: int
    threshold: float
    categories: np.ndarray | None  # category codes that go left (categorical splits), else None
    default_left: bool
    missing_type: str  # "None", "Zero" or "NaN"

    def goes_left(self, x: np.ndarray) -> np.ndarray:
        """LightGBM's decision for a column of values (float64, categorical codes with NaN for missing)."""
        nan = np.isnan(x)
        if self.categories is not None:  # a missing or negative category always goes right
            return np.isin(x, self.categories) & (x >= 0) & ~nan
        if self.missing_type != "NaN":
            x = np.where(nan, 0.0, x)
        if self.missing_type == "Zero":
            missing = np.abs(x) <= ZERO_THRESHOLD
        elif self.missing_type == "NaN":
            missing = nan
        else:
            return x <= self.threshold
        return np.where(missing, self.default_left, x <= self.threshold)


@dataclass(frozen=True)
class _Leaf:
    features: np.ndarray  # the distinct features on the path (d)
    conditions: tuple[tuple[tuple[int, bool], ...], ...]  # per feature: (split index, went left) along the path
    table: np.ndarray  # (2**d, d): each feature's contribution for every pattern of satisfied features


@dataclass(frozen=True)
class _Tree:
    splits: tuple[_Split, ...]
    leaves: tuple[_Leaf, ...]


def product_game_shapley(value: float, zero: np.ndarray) -> np.ndarray:
    """Shapley values of v(S) = value x prod(one_f if f in S else zero_f) for every 0/1 pattern of ``one``.

    Returns a (2**d, d) table; row ``p`` holds the values when feature ``k`` satisfies its splits iff bit ``k`` of
    ``p`` is set.
    """
    d = len(zero)
    patterns = (np.arange(2**d)[:, None] >> np.arange(d)) & 1  # (P, d) of one fractions
    weights = np.array([math.factorial(k) * math.factorial(d - 1 - k) / math.factorial(d) for k in range(d)])
    out = np.empty((2**d, d))
    for j in range(d):
        # e[:, k] = sum over subsets S of the other features with |S| = k of prod(one in S) x prod(zero not in S)
        e = np.zeros((2**d, d))
        e[:, 0] = 1.0
        for f in range(d):
            if f == j:
                continue
            shifted = np.zeros_like(e)
            shifted[:, 1:] = e[:, :-1]
            e = e * zero[f] + shifted * patterns[:, f : f + 1]
        out[:, j] = value * (patterns[:, j] - zero[j]) * (e @ weights)
    return out


def _compile_tree(structure: dict, n_features_limit: int) -> _Tree | None:
    splits: list[_Split] = []
    leaves: list[_Leaf] = []

    def walk(node: dict, path: list[tuple[int, bool, float]]) -> bool:
        if "leaf_index" in node:
            if not path:
                return True
            by_feature: dict[int, list] = {}
            for split, left, zero in path:
                by_feature.setdefault(splits[split].feature, []).append((split, left, zero))
            if len(by_feature) > n_features_limit:
                return False
            zeros = np.array([math.prod(z for _, _, z in steps) for steps in by_feature.values()])
            leaves.append(
                _Leaf(
                    np.array(list(by_feature), dtype=np.intp),
                    tuple(tuple((s, left) for s, left, _ in steps) for steps in by_feature.values()),
                    product_game_shapley(float(node["leaf_value"]), zeros),
                )
            )
            return True
        categorical = node["decision_type"] == "=="
        splits.append(
            _Split(
                int(node["split_feature"]),
                float("nan") if categorical else float(node["threshold"]),
                np.array([int(c) for c in str(node["threshold"]).split("||")], float) if categorical else None,
                bool(node["default_left"]),
                str(node["missing_type"]),
            )
        )
        index, count = len(splits) - 1, float(node["internal_count"])
        children = ((node["left_child"], True), (node["right_child"], False))
        return all(walk(child, [*path, (index, left, _count(child) / count)]) for child, left in children)

    return _Tree(tuple(splits), tuple(leaves)) if walk(structure, []) else None


def _count(node: dict) -> float:
    return float(node["leaf_count"] if "leaf_index" in node else node["internal_count"])


class TreeShap:
    """Exact path-dependent SHAP values of a fitted LightGBM binary or regression booster (raw score scale)."""

    def __init__(self, booster):
        model = booster.dump_model()
        self.booster = booster
        self.n_features = len(model["feature_names"])
        trees = [_compile_tree(t["tree_structure"], MAX_PATH_FEATURES) for t in model["tree_info"]]
        self.trees = None if any(t is None for t in trees) or model["num_tree_per_iteration"] != 1 else trees

    def shap_values(self, X: pd.DataFrame, threads: int = 1) -> np.ndarray:
        """(rows, features) contributions; their sum plus the expected value is the raw prediction."""
        values = _as_float_matrix(X)
        if self.trees is None:  # a model this implementation does not cover: LightGBM's own
            return self.booster.predict(X, pred_contrib=True, num_threads=threads)[:, :-1]
        out = np.zeros((len(values), self.n_features))
        blocks = [slice(s, min(s + BLOCK_ROWS, len(values))) for s in range(0, len(values), BLOCK_ROWS)]

        def run(block: slice) -> None:
            out[block] = self._block(values[block]).T

        with ThreadPoolExecutor(max(1, threads)) as pool:  # numpy releases the GIL on whole-column work
            list(pool.map(run, blocks))
        return out

    def _block(self, X: np.ndarray) -> np.ndarray:
        columns = np.ascontiguousarray(X.T)
        phi = np.zeros((self.n_features, len(X)))
        for tree in self.trees:
            left = [s.goes_left(columns[s.feature]) for s in tree.splits]
            for leaf in tree.leaves:
                pattern = np.zeros(len(X), dtype=np.intp)
                for k, steps in enumerate(leaf.conditions):
                    ok = np.ones(len(X), dtype=bool)
                    for split, went_left in steps:
                        ok &= left[split] if went_left else ~left[split]
                    pattern |= ok.astype(np.intp) << k
                for k, feature in enumerate(leaf.features):
                    phi[feature] += leaf.table[:, k].take(pattern)
        return phi


def _as_float_matrix(X: pd.DataFrame) -> np.ndarray:
    """The frame as LightGBM sees it: numbers as float64, categoricals as their codes with NaN for missing."""
    columns = []
    for c in X.columns:
        col = X[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            columns.append(codes)
        else:
            columns.append(col.to_numpy(dtype=float, na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(X), 0))
