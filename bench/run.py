"""The benchmark behind ``make bench``: the weekly run and the training run at several sizes, on this machine.

For each size it generates (once, cached under ``bench/cache/``) demo data at the generator's own rates, loads the
history before the last week, and times, each stage as its own ``python -m pipeline`` process:

* the **training run**: features for every cutoff, both models, backtest and promotion;
* the **weekly run** (median of ``--repeats``): ingest of the last week's new rows, features for that one cutoff,
  scoring with exact reasons for every customer, list and report (``stage=weekly``);
* two **references** for the feature stage, on the same data in the same run: the idiomatic pandas version of the
  core RFM features for one cutoff, and the DuckDB floor (one scan with a group-by).

Peak memory is the largest resident set of the process and all its children, sampled every 0.1 s from /proc.
Results go to ``bench/results.md`` (with cores, threads and package versions); nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
SHARD = 250_000  # customers generated per shard: bounds the generator's memory (customers do not interact)
WEEK = pd.Timedelta(days=7)
END = pd.Timestamp("2026-10-31")
TABLES = ("transactions", "complaints", "customers", "surveys")
TIME_COLUMNS = {
    "transactions": "timestamp",
    "complaints": "opened_at",
    "surveys": "answered_at",
    "customers": "signup_date",
}
GB = 1024**3


# ---------------------------------------------------------------- measuring a process tree


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += parents.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


@dataclass
class Measured:
    seconds: float
    peak_bytes: int
    stage_seconds: dict[str, float] = field(default_factory=dict)
    output: str = ""


def measure(cmd: list[str], log: Path, env: dict | None = None) -> Measured:
    """Run ``cmd``, sampling the process tree's memory; fail loudly with the log's tail if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    peak = 0
    with open(log, "w") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})})
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(proc.pid))
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
    text = log.read_text()
    if code != 0:
        sys.exit(
            f"benchmark step failed ({' '.join(cmd[2:])}), exit {code}; last lines of {log}:\n"
            + "\n".join(text.splitlines()[-15:])
        )
    stages = {m.group(1): float(m.group(2)) for m in re.finditer(r"stage (\w+) done in ([\d.]+) s", text)}
    return Measured(seconds, peak, stages, text)


# ---------------------------------------------------------------- data


def ensure_data(n: int) -> Path:
    """Demo data for ``n`` customers, split into the history before the last week and that week; cached.

    A folder is used only once its ``complete`` marker exists, so an interrupted generation is rebuilt, never used.
    """
    folder = CACHE / f"n{n}"
    if (folder / "complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    from pipeline import demo

    week_parts: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    for s, start in enumerate(range(0, n, SHARD)):
        size = min(SHARD, n - start)
        print(f"  generating shard {s + 1} of {-(-n // SHARD)}: {size:,} customers", flush=True)
        tables = demo.generate(n_customers=size, seed=42 + s)
        split = {}
        for name in TABLES:
            frame = _prefixed(getattr(tables, name), s) if n > SHARD else getattr(tables, name)
            split[name] = _split(frame, name)
            split[name][0].to_parquet(_mkdir(folder / f"shard{s}") / f"{name}.parquet", index=False)
        # the week's customer export: everyone who bought or signed up this week, with their current attributes
        customers = pd.concat(split["customers"])
        active = customers["customer_id"].isin(split["transactions"][1]["customer_id"])
        split["customers"] = (
            split["customers"][0],
            customers[active | customers.index.isin(split["customers"][1].index)],
        )
        for name in TABLES:
            week_parts[name].append(split[name][1])
        del tables
    for name in TABLES:
        pd.concat(week_parts[name], ignore_index=True).to_parquet(
            _mkdir(folder / "week") / f"{name}.parquet", index=False
        )
    (folder / "complete").write_text(pd.Timestamp.now().isoformat())
    return folder


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _prefixed(frame: pd.DataFrame, shard: int) -> pd.DataFrame:
    """IDs unique across shards (each shard is its own seeded population)."""
    ids = {
        c: f"S{shard}" + frame[c].astype(str) for c in ("customer_id", "transaction_id", "complaint_id") if c in frame
    }
    return frame.assign(**ids)


def _split(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows before the last week, and the rows of that week (customers: those who signed up in it)."""
    in_week = frame[TIME_COLUMNS[name]] >= END - WEEK
    return frame[~in_week], frame[in_week]


# ---------------------------------------------------------------- the runs


def load_history(data: Path, work: Path) -> tuple[float, int]:
    """Ingest the history shard by shard (``data.mode=merge``); returns (seconds, peak bytes).

    The loaded interim tables are kept beside the data, keyed by the ingest code: a later run with the same ingest code
    copies them instead of loading again (the initial load is set-up, not one of the timed runs).
    """
    key = _ingest_code_key()
    kept = data / "history"
    if (kept / "key").exists() and (kept / "key").read_text() == key:
        shutil.copytree(kept / "interim", work / "interim")
        return tuple(json.loads((kept / "load.json").read_text()))
    shutil.rmtree(kept, ignore_errors=True)
    load = [
        measure(pipeline_cmd(work, "stage=ingest", *tables_overrides(shard)), work / "logs" / f"load{i}.log")
        for i, shard in enumerate(sorted(data.glob("shard*")))
    ]
    measured = (sum(m.seconds for m in load), max(m.peak_bytes for m in load))
    shutil.copytree(work / "interim", kept / "interim", ignore=shutil.ignore_patterns(".*"))
    (kept / "load.json").write_text(json.dumps(measured))
    (kept / "key").write_text(key)
    return measured


def _ingest_code_key() -> str:
    """A digest of the code that decides what ingest writes."""
    import hashlib

    files = sorted((ROOT / "pipeline" / "sources").glob("*.py")) + [
        ROOT / "pipeline" / "infra" / "io.py",
        ROOT / "pipeline" / "config.py",
        ROOT / "pipeline" / "config_data.py",
        ROOT / "pipeline" / "infra" / "catalog.py",
        ROOT / "pipeline" / "stages" / "ingest.py",
    ]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def pipeline_cmd(work: Path, *overrides: str) -> list[str]:
    paths = [f"paths.{k}={work / k}" for k in ("interim", "quarantine", "scored", "models", "mlruns")]
    return [
        sys.executable,
        "-m",
        "pipeline",
        *paths,
        f"hydra.run.dir={work / 'logs' / '${now:%H-%M-%S-%f}'}",
        *overrides,
    ]


def tables_overrides(folder: Path) -> list[str]:
    return ["data=files", "data.mode=merge", *[f"data.{t}={folder / f'{t}.parquet'}" for t in TABLES]]


def catalog_of(work: Path):
    """The pipeline's catalog of a benchmark work folder (the same folders ``pipeline_cmd`` points the runs at)."""
    from pipeline.infra.catalog import Catalog

    return Catalog(*(work / k for k in ("raw", "interim", "quarantine", "scored", "models", "mlruns")))


def count_rows(*paths: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def run_size(n: int, repeats: int, weekly_only: bool) -> dict:
    print(f"size {n:,} customers", flush=True)
    data = ensure_data(n)
    work = data / "work"
    shutil.rmtree(work, ignore_errors=True)
    result: dict = {"customers": n, "rows": {}, "initial_load": load_history(data, work)}
    catalog = catalog_of(work)
    lines = count_rows(*catalog.table_files("transactions"))
    result["rows"]["history_lines"] = lines
    as_of = f"as_of={END - WEEK:%Y-%m-%d}"
    print(f"  history loaded: {lines:,} lines in {result['initial_load'][0]:.0f} s", flush=True)
    training = {}
    # the stress run only needs a champion to score with: the 1,000,000 run's champion (same features) when it is
    # there, else one trained here without a backtest (promotion then needs none)
    donor = CACHE / "n1000000" / "work"
    if weekly_only and catalog_of(donor).champion.exists():
        shutil.copytree(catalog_of(donor).models, catalog.models)
        shutil.copytree(catalog_of(donor).evaluation, catalog.evaluation)
        print("  scoring with the champion of the 1,000,000-customer training run", flush=True)
    else:
        extra = ["tracking.enabled=false", "model.n_backtest_folds=0"] if weekly_only else []
        for stage in ("features", "train", "evaluate", "promote"):  # the stages of stage=all before score
            m = measure(pipeline_cmd(work, "stage=" + stage, as_of, *extra), work / "logs" / f"{stage}.log")
            training[stage] = (m.seconds, m.peak_bytes)
            print(f"  training run, {stage}: {m.seconds:.0f} s, peak {m.peak_bytes / GB:.1f} GB", flush=True)
    result["training"] = training
    weekly = []
    for k in range(repeats):
        m = measure(
            pipeline_cmd(work, "stage=weekly", f"as_of={END:%Y-%m-%d}", *tables_overrides(data / "week")),
            work / "logs" / f"weekly{k}.log",
        )
        weekly.append(m)
        print(f"  weekly run {k + 1} of {repeats}: {m.seconds:.0f} s, peak {m.peak_bytes / GB:.1f} GB", flush=True)
    result["weekly"] = [(m.seconds, m.peak_bytes, m.stage_seconds) for m in weekly]
    result["rows"]["week_lines"] = count_rows(data / "week" / "transactions.parquet")
    result["rows"]["lines"] = count_rows(*catalog.table_files("transactions"))
    result["rows"]["scored"] = count_rows(catalog.customers(END))
    refs = {}
    for ref in ("pandas", "duckdb"):
        m = measure(
            [
                sys.executable,
                str(Path(__file__).resolve().parent / "references.py"),
                ref,
                f"{END:%Y-%m-%d}",
                *map(str, catalog.table_files("transactions")),
            ],
            work / "logs" / f"{ref}.log",
        )
        refs[ref] = (json.loads(m.output.strip().splitlines()[-1])["seconds"], m.peak_bytes)
        print(f"  reference {ref}: {refs[ref][0]:.1f} s", flush=True)
    result["references"] = refs
    return result


# ---------------------------------------------------------------- the table


def _mb(b: int) -> str:
    return f"{b / GB:.2f} GB"


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def table_rows(r: dict) -> list[list[str]]:
    """One table row per measured step of one size."""
    n, rows = r["customers"], r["rows"]
    weekly_s = statistics.median(w[0] for w in r["weekly"])
    weekly_peak = max(w[1] for w in r["weekly"])
    stage = {s: statistics.median(w[2].get(s, 0.0) for w in r["weekly"]) for s in r["weekly"][0][2]}
    out = [
        [
            f"{n:,}",
            "initial load (history, not a target)",
            f"{r['initial_load'][0]:.0f}",
            _rate(rows["history_lines"], r["initial_load"][0]),
            _mb(r["initial_load"][1]),
        ]
    ]
    for s, label, count in (
        ("ingest", "weekly: ingest of the week's rows", rows["week_lines"]),
        ("features", "weekly: features for one cutoff (lines scanned)", rows["lines"]),
        ("score", "weekly: score + exact reasons (customers)", rows["scored"]),
        ("report", "weekly: list and report (customers)", rows["scored"]),
    ):
        out.append([f"{n:,}", label, f"{stage.get(s, 0):.1f}", _rate(count, stage.get(s, 0)), ""])
    out.append(
        [
            f"{n:,}",
            f"**weekly run end to end** (median of {len(r['weekly'])})",
            f"**{weekly_s:.0f}**",
            _rate(rows["scored"], weekly_s),
            f"**{_mb(weekly_peak)}**",
        ]
    )
    for ref, label in (("pandas", "reference: pandas core RFM, one cutoff"), ("duckdb", "reference: DuckDB floor")):
        out.append(
            [
                f"{n:,}",
                label,
                f"{r['references'][ref][0]:.1f}",
                _rate(rows["lines"], r["references"][ref][0]),
                _mb(r["references"][ref][1]),
            ]
        )
    for s, (seconds, peak) in r["training"].items():
        out.append([f"{n:,}", f"training run: {s}", f"{seconds:.0f}", "", _mb(peak)])
    if "evaluate" in r["training"]:
        total = sum(v[0] for v in r["training"].values())
        out.append(
            [
                f"{n:,}",
                "**training run end to end**",
                f"**{total:.0f}**",
                "",
                f"**{_mb(max(v[1] for v in r['training'].values()))}**",
            ]
        )
    return out


def targets(results: dict[int, dict]) -> list[tuple[str, str, str]]:
    """(target, measured, met/missed) for the targets at 1,000,000 customers and the scaling check."""
    out = []
    big = results.get(1_000_000)
    if big:
        weekly_s = statistics.median(w[0] for w in big["weekly"])
        weekly_peak = max(w[1] for w in big["weekly"])
        feat = statistics.median(w[2].get("features", 0.0) for w in big["weekly"])
        pandas_s, duck_s = big["references"]["pandas"][0], big["references"]["duckdb"][0]
        out += [
            ("weekly run < 240 s", f"{weekly_s:.0f} s", _met(weekly_s < 240)),
            ("weekly run peak memory < 6 GB", _mb(weekly_peak), _met(weekly_peak < 6 * GB)),
            ("features for one cutoff >= 2x faster than pandas", f"{pandas_s / feat:.1f}x", _met(pandas_s / feat >= 2)),
            (
                "features for one cutoff within 4x of the DuckDB floor",
                f"{feat / duck_s:.1f}x",
                _met(feat / duck_s <= 4),
            ),
        ]
        if "evaluate" in big["training"]:
            total = sum(v[0] for v in big["training"].values())
            peak = max(v[1] for v in big["training"].values())
            out += [
                ("training run < 1,800 s", f"{total:.0f} s", _met(total < 1800)),
                ("training run peak memory < 14 GB", _mb(peak), _met(peak < 14 * GB)),
            ]
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, large = results[sizes[0]], results[sizes[-1]]
        grow = sizes[-1] / sizes[0]
        w = statistics.median(x[0] for x in large["weekly"]) / statistics.median(x[0] for x in small["weekly"])
        out.append(
            (
                f"weekly run grows at most linearly ({sizes[0]:,} -> {sizes[-1]:,}: x{grow:.0f} customers)",
                f"x{w:.1f}",
                _met(w <= grow * 1.1),
            )
        )
        if "evaluate" in small["training"] and "evaluate" in large["training"]:
            t = sum(v[0] for v in large["training"].values()) / sum(v[0] for v in small["training"].values())
            out.append(
                (f"training run grows at most linearly (x{grow:.0f} customers)", f"x{t:.1f}", _met(t <= grow * 1.1))
            )
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write_results(results: dict[int, dict], path: Path, note: str) -> None:
    from pipeline.infra import threads

    pkgs = ("duckdb", "ibis-framework", "lightgbm", "pandas", "pyarrow", "numpy", "scikit-learn", "mlflow", "shap")
    commits = sorted({r.get("commit") or _commit() for r in results.values()})
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    lines = [
        "# Benchmark results",
        "",
        f"Made by `make bench` on {pd.Timestamp.now():%Y-%m-%d %H:%M} (code: {', '.join(commits)}). {note}",
        "",
        f"- machine: {threads.cores()} cores, {mem:.0f} GB memory, {platform.platform()}",
        f"- threads: `threads=0` (all cores) = {threads.cores()} for LightGBM, DuckDB and BLAS; one pipeline process "
        "at a time",
        f"- python {platform.python_version()}; " + ", ".join(f"{p} {version(p)}" for p in pkgs),
        "- demo data at the generator's own rates (about 37 transaction lines per customer over three years); "
        "the weekly run scores every customer known at the cutoff and explains every one of them exactly",
        "",
        "| customers | step | seconds | rows per second | peak memory |",
        "|---:|---|---:|---:|---:|",
    ]
    for n in sorted(results):
        lines += ["| " + " | ".join(row) + " |" for row in table_rows(results[n])]
    found = targets(results)
    if found:
        lines += ["", "## Targets", "", "| target | measured | |", "|---|---:|---|"]
        lines += [f"| {t} | {m} | {ok} |" for t, m, ok in found]
    text = "\n".join(lines) + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 250_000, 1_000_000])
    parser.add_argument("--stress", type=int, help="only the weekly run, at this many customers (e.g. 3000000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument("--reuse", action="store_true", help="use a size's saved result instead of running it again")
    args = parser.parse_args()
    if args.stress:
        r = run_size(args.stress, 1, weekly_only=True)
        write_results({args.stress: r}, args.out.with_name("stress.md"), "Stress run: the weekly run only.")
        return
    results = {}
    for n in args.sizes:
        saved = CACHE / f"n{n}" / "result.json"
        if not (args.reuse and saved.exists()):
            result = run_size(n, args.repeats, weekly_only=False)
            saved.write_text(json.dumps({"commit": _commit(), "result": result}))
        results[n] = json.loads(saved.read_text())["result"]
        results[n]["commit"] = json.loads(saved.read_text())["commit"]
    write_results(results, args.out, "")


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return head.strip() + (" + uncommitted changes" if dirty else "")


if __name__ == "__main__":
    main()
