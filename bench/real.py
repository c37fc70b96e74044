"""The real-data benchmark behind ``make bench-real``: the pipeline against the simple baselines on a real log.

The log is the UCI Online Retail file shipped in ``data/examples/online_retail/`` (CC BY 4.0; see its README). Two
tasks, as a user would run them (``python -m pipeline data=online_retail as_of=... horizon_days=...``, each in a
project folder of its own under ``bench/cache/real/``):

* A: as_of 2011-09-10, 91 days (to the end of the log): 283 days of history, the peak season ahead;
* B: as_of 2011-06-11, 182 days: 192 days of history, less than twice the horizon.

The harness does not trust the pipeline's ingest: it cleans the raw file itself with the careful user's rules
(``clean``), takes the population (every customer with a purchase before as_of) and the outcome (no invoice from
as_of to the end of the log; the spend in that window) from that, and computes the simple baselines itself
(``baselines``) with the definitions below. Their figures are checked against the ones published with the data
(``PUBLISHED``): a harness that does not reproduce them is wrong, whatever the pipeline scores.

Baselines (all as of c, the last day before as_of; day d = date - 2010-12-01; purchase days d <= c only):
* recency = c - last purchase day; frequency = purchase days; monetary = total spend; tenure = c - first day;
* RFM quintile: R, F, M = ceil(5 x average-rank percentile) of -recency, frequency, monetary, clipped to 1..5; churn
  score 15 - (R + F + M), made a probability by a one-variable logistic fit on one earlier 91-day window (features as
  of c - 91, label: no purchase in the 91 days after);
* RFM logistic: unpenalised logistic regression on standardised log1p(recency, frequency, monetary), same window;
* recency: recency alone, Platt-scaled on the same window;
* BG/NBD: P(no purchase in the horizon), maximum likelihood on (x, t_x, T) in weeks, x = repeat purchase days;
* BG/NBD x Gamma-Gamma: expected purchases x expected spend per purchase (Gamma-Gamma fitted on the repeat
  purchases' mean spend of repeat buyers; a one-time buyer gets the population mean);
* average daily spend x horizon: monetary x horizon / max(tenure + 1, horizon);
* last-window spend: the spend of the last horizon-long window before as_of.

Writes ``bench/real_data.md``. A benchmark, not a test: ``tests/unit/test_bench_real.py`` checks its wiring.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import btyd  # noqa: E402  (the harness runs from a checkout, without an install
from pipeline.backtest import normalised_gini, top_decile_capture  # noqa: E402

RAW = ROOT / "data" / "examples" / "online_retail" / "online_retail.csv.xz"
CACHE = ROOT / "bench" / "cache" / "real"
RESULTS = ROOT / "bench" / "real_data.md"
DAY0 = pd.Timestamp("2010-12-01")
LOG_END = pd.Timestamp("2011-12-09")  # the last day of the log (inclusive)
EARLIER_DAYS = 91  # the earlier window the Platt and logistic baselines are fitted on


@dataclass(frozen=True)
class Task:
    name: str
    as_of: str
    horizon_days: int


TASKS = (Task("A", "2011-09-10", 91), Task("B", "2011-06-11", 182))
# The figures published with the data (shared/data/online_retail/README.md), which the harness must reproduce.
PUBLISHED = {
    ("A", "rfm_quintile", "roc_auc"): 0.7391,
    ("A", "rfm_logistic", "log_loss"): 0.5980,
    ("A", "rfm_logistic", "roc_auc"): 0.7356,
    ("A", "recency", "roc_auc"): 0.6839,
    ("A", "bgnbd", "roc_auc"): 0.7323,
    ("A", "bgnbd", "log_loss"): 0.6227,
    ("A", "bgnbd_gg", "normalised_gini"): 0.774,
    ("A", "avg_daily_spend", "rmse"): 2659.75,
    ("B", "rfm_quintile", "roc_auc"): 0.7385,
    ("B", "rfm_logistic", "roc_auc"): 0.7369,
    ("B", "rfm_logistic", "log_loss"): 0.5533,
    ("B", "bgnbd", "log_loss"): 0.5511,
    ("B", "avg_daily_spend", "normalised_gini"): 0.844,
    ("B", "avg_daily_spend", "rmse"): 3188.95,
    ("B", "bgnbd_gg", "rmse"): 4088.53,
    ("B", "bgnbd_gg", "normalised_gini"): 0.794,
}
TOLERANCE = {"roc_auc": 0.005, "log_loss": 0.005, "normalised_gini": 0.005, "rmse": 5.0}
CHURN = ("roc_auc", "pr_auc", "log_loss", "brier")
VALUE = ("rmse", "mae", "normalised_gini", "total_ratio", "top_decile_capture")
LOWER_IS_BETTER = {"log_loss", "brier", "rmse", "mae"}
LABELS = {
    "pipeline": "**the pipeline**",
    "rfm_quintile": "RFM quintile score (Platt)",
    "rfm_logistic": "RFM logistic",
    "recency": "recency (Platt)",
    "bgnbd": "BG/NBD",
    "bgnbd_gg": "BG/NBD x Gamma-Gamma",
    "avg_daily_spend": "average daily spend x horizon",
    "last_window_spend": "last-window spend",
}


# ---------------------------------------------------------------- the careful user's cleaning, written afresh


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per invoice (customer, day index, amount in pence), by the rules of the data's README."""
    lines = raw.dropna(subset=["CustomerID"]).reset_index(drop=True)
    pence = np.round(lines["Quantity"].astype(float) * lines["UnitPrice"].astype(float) * 100).astype(np.int64)
    lines = lines.assign(
        customer=lines["CustomerID"].astype(float).astype(np.int64).astype(str),
        time=pd.to_datetime(lines["InvoiceDate"]),
        pence=pence,
        credit=lines["InvoiceNo"].str.startswith("C"),
    )
    reversed_rows = _credit_note_matches(lines)
    kept = lines[~lines["credit"] & ~lines.index.isin(reversed_rows) & (lines["UnitPrice"].astype(float) > 0)]
    invoices = kept.groupby("InvoiceNo").agg(
        customer=("customer", "first"), time=("time", "min"), pence=("pence", "sum")
    )
    return invoices.assign(day=(invoices["time"].dt.normalize() - DAY0).dt.days).reset_index()


def _credit_note_matches(lines: pd.DataFrame) -> set[int]:
    """The purchase lines the credit notes reverse: same customer and absolute amount, bought no later, same
    StockCode (or any, for a credit note of StockCode M); credit notes in time order, each taking the latest line."""
    purchases = lines[~lines["credit"]].sort_values("time", kind="stable")
    by_product: dict[tuple, list[tuple]] = {}
    by_amount: dict[tuple, list[tuple]] = {}
    for row in purchases.itertuples():
        by_product.setdefault((row.customer, row.pence, row.StockCode), []).append((row.time, row.Index))
        by_amount.setdefault((row.customer, row.pence), []).append((row.time, row.Index))
    taken: set[int] = set()
    for row in lines[lines["credit"]].sort_values("time", kind="stable").itertuples():
        key = (row.customer, -row.pence)
        found = by_amount.get(key, []) if row.StockCode == "M" else by_product.get((*key, row.StockCode), [])
        open_ = [(t, i) for t, i in found if t <= row.time and i not in taken]
        if open_:
            taken.add(max(open_)[1])
    return taken


# ---------------------------------------------------------------- population, outcome and the baselines


def summary(invoices: pd.DataFrame, c: int) -> pd.DataFrame:
    """Per customer with a purchase day <= c: recency, frequency, monetary, tenure, first day (all in days)."""
    days = invoices[invoices["day"] <= c].groupby(["customer", "day"], as_index=False)["pence"].sum()
    g = days.groupby("customer")
    out = pd.DataFrame(
        {"first": g["day"].min(), "last": g["day"].max(), "frequency": g.size(), "monetary": g["pence"].sum() / 100}
    )
    return out.assign(recency=c - out["last"], tenure=c - out["first"])


def outcome(invoices: pd.DataFrame, customers: pd.Index, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(churned, spend) of ``customers`` over the days start..end (inclusive)."""
    window = invoices[(invoices["day"] >= start) & (invoices["day"] <= end)]
    spend = (window.groupby("customer")["pence"].sum() / 100).reindex(customers).fillna(0.0)
    churned = (~customers.isin(window["customer"].unique())).astype(int)
    return churned, spend.to_numpy()


def _quintile_score(f: pd.DataFrame) -> np.ndarray:
    def q(v: pd.Series) -> np.ndarray:
        return np.clip(np.ceil(5 * v.rank(pct=True, method="average")), 1, 5).to_numpy()

    return 15 - (q(-f["recency"]) + q(f["frequency"]) + q(f["monetary"]))


def _log_rfm(f: pd.DataFrame) -> np.ndarray:
    return np.log1p(f[["recency", "frequency", "monetary"]].clip(lower=0).to_numpy(float))


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray) -> np.ndarray:
    """An unpenalised logistic regression on standardised inputs: P(churn) for ``x``."""
    mu, sd = x_train.mean(axis=0), x_train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    model = LogisticRegression(C=1e10, max_iter=1000).fit((x_train - mu) / sd, y_train)
    return model.predict_proba((x - mu) / sd)[:, 1]


def baselines(invoices: pd.DataFrame, task: Task) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every baseline's P(churn) and spend forecast per customer of the population, and the outcome."""
    c = (pd.Timestamp(task.as_of) - DAY0).days - 1
    end = (LOG_END - DAY0).days
    horizon = end - c
    f = summary(invoices, c)
    churned, spend = outcome(invoices, f.index, c + 1, end)
    earlier = summary(invoices, c - EARLIER_DAYS)
    y_earlier, _ = outcome(invoices, earlier.index, c - EARLIER_DAYS + 1, c)
    x, t_x, big_t = (f["frequency"] - 1).to_numpy(float), (f["last"] - f["first"]) / 7, f["tenure"] / 7
    bg = btyd.BgNbd.fit(x, t_x.to_numpy(float), big_t.to_numpy(float))
    weeks = horizon / 7
    out = pd.DataFrame(index=f.index)
    out["rfm_quintile"] = _fit_predict(
        _quintile_score(earlier).reshape(-1, 1), y_earlier, _quintile_score(f).reshape(-1, 1)
    )
    out["rfm_logistic"] = _fit_predict(_log_rfm(earlier), y_earlier, _log_rfm(f))
    out["recency"] = _fit_predict(earlier[["recency"]].to_numpy(float), y_earlier, f[["recency"]].to_numpy(float))
    out["bgnbd"] = bg.p_no_purchase(weeks, x, t_x, big_t)
    values = pd.DataFrame(index=f.index)
    values["bgnbd_gg"] = bg.expected_purchases(weeks, x, t_x, big_t) * _gamma_gamma(invoices, f, c)
    values["avg_daily_spend"] = f["monetary"] * horizon / np.maximum(f["tenure"] + 1, horizon)
    last = invoices[(invoices["day"] > c - horizon) & (invoices["day"] <= c)]
    values["last_window_spend"] = (last.groupby("customer")["pence"].sum() / 100).reindex(f.index).fillna(0.0)
    return pd.concat([out.add_suffix("|p"), values.add_suffix("|v")], axis=1), churned, spend


def _gamma_gamma(invoices: pd.DataFrame, f: pd.DataFrame, c: int) -> np.ndarray:
    """Gamma-Gamma's expected spend per purchase day, fitted on repeat buyers' mean repeat-purchase spend."""
    days = invoices[invoices["day"] <= c].groupby(["customer", "day"], as_index=False)["pence"].sum()
    repeat = days[days.groupby("customer").cumcount() > 0]
    mean = (repeat.groupby("customer")["pence"].mean() / 100).reindex(f.index)
    x = (f["frequency"] - 1).to_numpy(float)
    gg = btyd.GammaGamma.fit(x[x > 0], mean.to_numpy()[x > 0])
    return gg.expected_spend(x, np.nan_to_num(mean.to_numpy()))


# ---------------------------------------------------------------- the pipeline, as a user runs it


def run_pipeline(task: Task, fresh: bool) -> tuple[pd.DataFrame, float]:
    """``python -m pipeline data=online_retail as_of=... horizon_days=...`` in the task's own project folder, made
    anew (``fresh``, or when it holds no list yet)."""
    root = CACHE / task.name
    scored = root / "data" / "scored" / task.as_of / "customers.parquet"
    if fresh or not scored.exists():
        shutil.rmtree(root, ignore_errors=True)  # a new project: no champion of an earlier run to compare with
        root.mkdir(parents=True)
        command = [
            sys.executable,
            "-m",
            "pipeline",
            "data=online_retail",
            f"as_of={task.as_of}",
            f"horizon_days={task.horizon_days}",
            f"paths.root={root}",
        ]
        print("$", " ".join(command[1:]), flush=True)
        started = time.monotonic()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        (root / "run.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise SystemExit(f"task {task.name}: the pipeline failed:\n{proc.stderr[-3000:]}")
        seconds = time.monotonic() - started
    else:
        seconds = float("nan")
    return pd.read_parquet(scored).set_index("customer_id"), seconds


# ---------------------------------------------------------------- metrics and the table


def metrics(churned: np.ndarray, spend: np.ndarray, p: np.ndarray | None, value: np.ndarray | None) -> dict:
    row = dict.fromkeys((*CHURN, *VALUE), np.nan)
    if p is not None:
        clipped = np.clip(p, 1e-6, 1 - 1e-6)
        row.update(
            roc_auc=roc_auc_score(churned, p),
            pr_auc=average_precision_score(churned, p),
            log_loss=log_loss(churned, clipped, labels=[0, 1]),
            brier=brier_score_loss(churned, p),
        )
    if value is not None:
        row.update(
            rmse=float(np.sqrt(np.mean((spend - value) ** 2))),
            mae=float(np.mean(np.abs(spend - value))),
            normalised_gini=normalised_gini(spend, value),
            total_ratio=float(value.sum() / spend.sum()),
            top_decile_capture=top_decile_capture(spend, value),
        )
    return row


def evaluate(task: Task, invoices: pd.DataFrame, fresh: bool) -> tuple[pd.DataFrame, dict]:
    """The table of one task (a row per forecaster) and facts about the run."""
    predictions, churned, spend = baselines(invoices, task)
    scored, seconds = run_pipeline(task, fresh)
    missing = predictions.index.difference(scored.index)
    if len(missing):
        raise SystemExit(f"task {task.name}: the pipeline did not score {len(missing)} customers, e.g. {missing[0]}")
    mine = scored.reindex(predictions.index)
    rows = {
        "pipeline": metrics(churned, spend, mine["churn_probability"].to_numpy(), mine["expected_value"].to_numpy())
    }
    for name in LABELS:
        p, v = predictions.get(f"{name}|p"), predictions.get(f"{name}|v")
        if p is not None or v is not None:
            rows[name] = metrics(
                churned, spend, None if p is None else p.to_numpy(), None if v is None else v.to_numpy()
            )
    facts = {
        "population": len(predictions),
        "scored": len(scored),
        "churn_rate": float(churned.mean()),
        "spend": float(spend.sum()),
        "seconds": seconds,
        "model_version": str(scored["model_version"].iloc[0]),
        "log": (CACHE / task.name / "run.log"),
    }
    return pd.DataFrame(rows).T, facts


def check_harness(tables: dict[str, pd.DataFrame]) -> list[tuple]:
    """(task, baseline, metric, published, measured, ok) for every published figure."""
    out = []
    for (task, name, metric), published in PUBLISHED.items():
        measured = float(tables[task].loc[name, metric])
        out.append((task, name, metric, published, measured, abs(measured - published) <= TOLERANCE[metric]))
    return out


def verdict(table: pd.DataFrame) -> dict[str, bool]:
    """Whether the pipeline beats the best baseline on each headline metric (and its total is within 15%)."""
    base = table.drop(index="pipeline")
    me = table.loc["pipeline"]
    out = {
        "roc_auc": me["roc_auc"] > base["roc_auc"].max(),
        "log_loss": me["log_loss"] < base["log_loss"].min(),
        "normalised_gini": me["normalised_gini"] > base["normalised_gini"].max(),
        "rmse": me["rmse"] < base["rmse"].min(),
        "total_ratio": abs(me["total_ratio"] - 1) <= 0.15,
    }
    return out


def _cell(table: pd.DataFrame, name: str, metric: str) -> str:
    value = table.loc[name, metric]
    if pd.isna(value):
        return "–"
    text = (
        f"{value:,.0f}" if metric in ("rmse", "mae") else f"{value:.4f}" if metric != "total_ratio" else f"{value:.3f}"
    )
    column = table[metric].dropna()
    if metric == "total_ratio":
        best = (column - 1).abs().min()
        return f"**{text}**" if abs(value - 1) == best else text
    best = column.min() if metric in LOWER_IS_BETTER else column.max()
    return f"**{text}**" if value == best else text


def write(tables: dict[str, pd.DataFrame], facts: dict[str, dict], checks: list[tuple], commit: str) -> str:
    lines = [
        "# The pipeline on a real log: UCI Online Retail",
        "",
        f"Made by `make bench-real` on {pd.Timestamp.now():%Y-%m-%d %H:%M} (code: {commit}). Data: the UCI Online "
        "Retail log (D. Chen, S. L. Sain, K. Guo, 2012; UCI Machine Learning Repository, data set 352; CC BY 4.0), "
        "read raw from `data/examples/online_retail/` by `data=online_retail`. Each task runs "
        "`python -m pipeline data=online_retail as_of=... horizon_days=...` in a project of its own; the population, "
        "the outcome and the baselines come from the harness's own cleaning of the raw file (`bench/real.py`).",
        "",
        "Bold: the best in the column (total ratio: the nearest to 1). Churn = no invoice from as_of to the end of "
        "the log; value = the spend in that window. Every customer with a purchase before as_of is scored.",
    ]
    for task in TASKS:
        table, fact = tables[task.name], facts[task.name]
        beat = verdict(table)
        lines += [
            "",
            f"## Task {task.name}: as_of {task.as_of}, {task.horizon_days} days",
            "",
            f"{fact['population']:,} customers (the pipeline scored {fact['scored']:,}); churn rate "
            f"{fact['churn_rate']:.3f}; GBP {fact['spend']:,.0f} spent in the window. Scored by: "
            f"`{fact['model_version']}`"
            + (f"; the run took {fact['seconds']:.0f} s." if fact["seconds"] == fact["seconds"] else "."),
            "",
            "| forecaster | " + " | ".join((*CHURN, *VALUE)) + " |",
            "|---" * (1 + len(CHURN) + len(VALUE)) + "|",
        ]
        for name in table.index:
            cells = [_cell(table, name, m) for m in (*CHURN, *VALUE)]
            lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
        said = ", ".join(f"{m} {'yes' if ok else 'NO'}" for m, ok in beat.items())
        lines += ["", f"Pipeline ahead of the best baseline: {said}."]
    lines += [
        "",
        "## The harness reproduces the published baselines",
        "",
        "| task | baseline | metric | published | measured | within tolerance |",
        "|---|---|---|---:|---:|---|",
    ]
    for task, name, metric, published, measured, ok in checks:
        lines.append(
            f"| {task} | {LABELS[name]} | {metric} | {published:,.4f} | {measured:,.4f} | {'yes' if ok else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="reuse the tasks' scored lists in bench/cache/real")
    parser.add_argument("--tasks", nargs="*", default=[t.name for t in TASKS])
    args = parser.parse_args(argv)
    raw = pd.read_csv(RAW, dtype=str, keep_default_na=False, na_values=[""])
    invoices = clean(raw)
    print(
        f"cleaned: {len(invoices):,} invoices of {invoices['customer'].nunique():,} customers, "
        f"GBP {invoices['pence'].sum() / 100:,.2f}"
    )
    tables, facts = {}, {}
    for task in TASKS:
        if task.name in args.tasks:
            tables[task.name], facts[task.name] = evaluate(task, invoices, fresh=not args.reuse)
            print(f"task {task.name}:\n{tables[task.name].round(4).to_string()}")
    if set(tables) != {t.name for t in TASKS}:
        return 0
    checks = check_harness(tables)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    RESULTS.write_text(write(tables, facts, checks, commit.strip() or "unknown"))
    print(f"wrote {RESULTS}")
    bad = [c for c in checks if not c[-1]]
    for c in bad:
        print(f"harness check failed: task {c[0]} {c[1]} {c[2]}: published {c[3]}, measured {c[4]:.4f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
