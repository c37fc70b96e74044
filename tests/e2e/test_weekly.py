"""The retention team's weekly loop on small demo data (the ``weeks`` fixture: a list from one horizon ago, this week's
training run, then two weekly runs a week apart). Each week keeps its own lists; the second weekly report says what
changed since the first and how the list of one horizon ago turned out, and the page reads well in a real browser."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
PAST, TODAY, WEEK1, WEEK2 = "2026-08-01", "2026-10-31", "2026-11-07", "2026-11-14"  # the weeks of conftest.weeks
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_every_week_keeps_its_own_lists(weeks):
    scored = weeks / "data" / "scored"
    for week in (PAST, TODAY, WEEK1, WEEK2):
        names = {p.name for p in (scored / week).iterdir()}
        assert {"at_risk.csv", "at_risk.xlsx", "win_back.csv", "report.html", "customers.parquet"} <= names, week
    save = pd.read_csv(scored / WEEK2 / "at_risk.csv")
    assert save["Rank"].tolist() == list(range(1, len(save) + 1)) and len(save) > 0
    assert (save["As of"] == WEEK2).all() and save["Churn risk (%)"].between(0, 100).all()
    # the change column names the list it compares with: last week's, a week earlier
    assert set(save[f"Change since {WEEK1} (pts)"].astype(str)) - {"new"}  # most were on last week's list too
    first = pd.read_csv(scored / TODAY / "at_risk.csv")  # the first weekly list compares with one 13 weeks before
    assert f"Change since {PAST}, 13 weeks earlier (pts)" in first.columns
    customers = pd.read_parquet(scored / WEEK2 / "customers.parquet")
    gone = customers[customers["group"] == "win-back"]
    assert len(gone) and not set(gone["customer_id"]) & set(save["Customer ID"].astype(str))
    reasons = pd.concat([save[f"Reason {k}"].dropna() for k in (1, 2, 3)])
    assert reasons.str.contains(r"\(\+\d+ pts\)").all()
    assert not reasons.str.contains(r"nan|unknown|\(s\)| 0 complaints").any()
    with zipfile.ZipFile(scored / WEEK2 / "at_risk.xlsx") as book:  # a workbook Excel opens: sheets and cells
        sheets = re.findall(r'<sheet name="([^"]+)"', book.read("xl/workbook.xml").decode())
        cells = book.read("xl/sharedStrings.xml").decode()
    assert sheets == ["Save list", "Win-back", "Columns explained"]
    assert all(f">{c}<" in cells for c in save["Customer ID"].astype(str).head(20))


def test_the_report_says_what_changed_and_how_the_list_of_one_horizon_ago_turned_out(weeks):
    html = (weeks / "data" / "scored" / WEEK2 / "report.html").read_text()
    assert f"Since the list of {WEEK1}" in html
    past = pd.read_parquet(weeks / "data" / "scored" / PAST / "customers.parquet")
    listed = past.loc[past["on_list"], "customer_id"]
    # the outcome from the raw demo data, independently of the pipeline: no purchase in the 90 days after the list
    tx = pd.read_csv(weeks / "data" / "raw" / "demo" / "transactions.csv", parse_dates=["timestamp"])
    window = tx[(tx["timestamp"] >= PAST) & (tx["timestamp"] < pd.Timestamp(PAST) + pd.Timedelta(days=90))]
    bought = set(window.loc[window["amount"] > 0, "customer_id"])
    churned = 1 - listed.isin(bought).mean()
    row = re.search(rf"<td[^>]*>{PAST}</td>(.*?)</tr>", html, re.S)
    assert row, "the list of one horizon ago is not in 'How past lists turned out'"
    assert f">{100 * churned:.0f}%<" in row.group(1)


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI_REQUIRE_CHROMIUM"), reason="needs Debian's chromium")
@pytest.mark.parametrize("width", [1366, 390])
def test_the_report_reads_well_in_a_real_browser_at_desktop_and_phone_width(weeks, width, tmp_path):
    assert CHROMIUM, "chromium is required here (CI_REQUIRE_CHROMIUM=1): apt-get install chromium"
    page = (weeks / "data" / "scored" / WEEK2 / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing is fetched: plots are embedded
    assert "default-src 'none'" in page  # and the page forbids any request
    # measure in the browser: horizontal overflow and the embedded charts' size (the probe needs scripts, which the
    # page itself forbids, so it runs on a copy without that line)
    probe = (
        "<script>window.onload=()=>{const imgs=[...document.images];document.title=JSON.stringify({"
        "overflow:document.documentElement.scrollWidth-window.innerWidth,"
        "images:imgs.length,drawn:imgs.filter(i=>i.naturalWidth>100).length,"
        "tables:document.querySelectorAll('table').length})}</script>"
    )
    copy = tmp_path / "report.html"
    copy.write_text(re.sub(r"<meta http-equiv=\"Content-Security-Policy\"[^>]*>", "", page) + probe)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={width},900",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--virtual-time-budget=5000", "--dump-dom", copy.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    measured = re.search(r"<title>(\{.*?\})</title>", dom)
    assert measured, dom[:500]
    found = json.loads(html.unescape(measured.group(1)))
    assert found["overflow"] <= 0, f"the page is {found['overflow']} px wider than a {width} px screen"
    assert found["images"] >= 1 and found["drawn"] == found["images"] and found["tables"] >= 4
    shot = weeks / f"report_{width}.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", (weeks / "data" / "scored" / WEEK2 / "report.html").as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 10_000


def test_damaged_artefacts_are_named_and_tracking_trouble_never_stops_the_list(weeks, tmp_path):
    """A damaged mlflow.db: the weekly list is still written, with a warning naming the store. A truncated champion:
    one line naming the file and how to restore it, exit code 2, no traceback."""
    root = tmp_path / "project"
    shutil.copytree(weeks, root, symlinks=True)
    db = root / "mlruns" / "mlflow.db"
    db.write_bytes(b"this is not a database" * 100)
    week = WEEK2  # scored again in the copy
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", f"paths.root={root}", "stage=weekly", f"as_of={week}"],
        cwd=root, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = proc.stdout + proc.stderr  # Hydra's log goes to the console and the run's log file
    assert "tracking: the MLflow store sqlite:///" in said and "goes on untracked" in said
    assert (root / "data" / "scored" / week / "at_risk.csv").exists()
    champion = root / "models" / "champion.joblib"
    champion.write_bytes(champion.read_bytes()[:1000])
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", f"paths.root={root}", "stage=weekly", f"as_of={week}"],
        cwd=root, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "champion.joblib is damaged and cannot be read" in proc.stderr and "make train" in proc.stderr
