"""The checks of `make lint` run in `make test` too, so CI holds them: ruff (with bugbear and pyupgrade), ruff's
formatting and mypy on pipeline/; every imported third-party package is declared in pyproject.toml."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHECKED = ["pipeline", "tests", "bench", "notebooks"]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing_and_the_code_is_formatted():
    found = _run(str(BIN / "ruff"), "check", *CHECKED)
    assert found.returncode == 0, found.stdout[-3000:]
    formatted = _run(str(BIN / "ruff"), "format", "--check", *CHECKED)
    assert formatted.returncode == 0, formatted.stdout[-3000:]


def test_mypy_is_clean_on_the_package():
    found = _run(str(BIN / "mypy"))
    assert found.returncode == 0, found.stdout[-3000:]


# import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml", "hydra": "hydra-core", "ibis": "ibis-framework",
                 "psycopg": "psycopg", "omegaconf": "hydra-core", "pyspark": "pyspark"}  # fmt: skip


def test_every_package_the_pipeline_imports_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        d.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower() for d in project["dependencies"]
    }
    declared |= {d.split(">")[0].strip().lower() for d in project["optional-dependencies"]["spark"]}
    stdlib = set(sys.stdlib_module_names)
    imported = set()
    for path in (ROOT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in stdlib and m != "pipeline"}
    missing = {m for m in third_party if DISTRIBUTIONS.get(m, m).lower().replace("_", "-") not in declared}
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


def _bench_headline() -> dict[str, tuple[str, str]]:
    """The largest size's end-to-end rows of bench/results.md: {run: (seconds, GB with one decimal)}."""
    rows = [r for r in (ROOT / "bench" / "results.md").read_text().splitlines() if "end to end" in r]
    size = max(int(r.split("|")[1].strip().replace(",", "")) for r in rows)
    out = {}
    for row in rows:
        cells = [c.strip().strip("*") for c in row.split("|")]
        if int(cells[1].replace(",", "")) == size:
            run = "weekly" if "weekly" in cells[2] else "training"
            out[run] = (cells[3], f"{float(cells[5].split()[0]):.1f}")
    return out


def test_the_figures_the_readme_and_docs_quote_are_the_bench_tables():
    headline = _bench_headline()
    readme = (ROOT / "README.md").read_text()
    performance = (ROOT / "docs" / "performance.md").read_text()
    for run, (seconds, gb) in headline.items():
        assert f"**{seconds} s at {gb} GB**" in readme, (run, seconds, gb)
        assert f"| {seconds} s | {gb} GB |" in performance, (run, seconds, gb)
