"""Operations: one run at a time per project, and outputs readable by other accounts as the umask allows."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pipeline.infra import io, lock


def test_a_second_run_in_the_same_project_stops_and_names_the_holder(tmp_path):
    path = tmp_path / ".pipeline.lock"
    with lock.exclusive(path, "stage=all as_of=2026-10-31"):
        with pytest.raises(lock.ProjectBusy, match=r"another run is working in this project \(pid \d+.*stage=all"):
            with lock.exclusive(path, "stage=score"):
                pass
    with lock.exclusive(path, "stage=score"):  # released when the first run ended
        pass


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    path = tmp_path / ".pipeline.lock"
    code = (
        f"from pipeline.infra import lock\nwith lock.exclusive({str(path)!r}, 'held'):\n    print('in', flush=True)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code + "    import time; time.sleep(60)"], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"in"
    with pytest.raises(lock.ProjectBusy, match="held"):
        with lock.exclusive(path, "second"):
            pass
    holder.kill()
    holder.wait()
    time.sleep(0.1)
    with lock.exclusive(path, "after the kill"):
        pass


def test_outputs_get_the_umasks_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        io._file_mode.cache_clear()
        written = io.write_text("x", tmp_path / "at_risk.csv")
        assert written.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
        io._file_mode.cache_clear()


def test_an_output_that_cannot_be_written_is_named_not_its_temporary_file(tmp_path):
    from pipeline.errors import OutputError

    (tmp_path / "scored").write_text("a file where the folder should be")
    target = tmp_path / "scored" / "2026-10-31" / "at_risk.csv"
    with pytest.raises(
        OutputError, match=r"could not write .*scored/2026-10-31/at_risk\.csv: .*may write to it"
    ) as err:
        io.write_text("x", target)
    assert ".tmp" not in str(err.value)
    with pytest.raises(OutputError, match=r"at_risk\.csv"):
        io.write_together({target: io.pd.DataFrame({"a": [1]})})


def test_feature_files_carry_what_made_them_and_a_stale_one_is_refused(tmp_path):
    import dataclasses

    import pandas as pd

    from pipeline.errors import StaleArtefact
    from pipeline.infra.catalog import Catalog
    from pipeline.plan import Plan

    catalog = Catalog(*(tmp_path / k for k in ("raw", "interim", "quarantine", "scored", "models", "mlruns")))
    plan = Plan(pd.Timestamp("2026-10-31"), None, (), horizon_days=90, tables_digest="t1")
    frame = pd.DataFrame({"customer_id": ["a"], "recency_days": [3.0]})
    catalog.write_scoring_features(frame, plan)
    pd.testing.assert_frame_equal(catalog.read_scoring_features(plan), frame)
    for other in (
        dataclasses.replace(plan, as_of=pd.Timestamp("2026-11-07")),
        dataclasses.replace(plan, horizon_days=60),
        dataclasses.replace(plan, tables_digest="t2"),
    ):
        with pytest.raises(StaleArtefact, match="run stage=features"):
            catalog.read_scoring_features(other)
    frame.to_parquet(catalog.scoring_features)  # written by an earlier version: no stamp
    with pytest.raises(StaleArtefact, match="unstamped"):
        catalog.read_scoring_features(plan)
    # a labelled cutoff depends on the horizon and the data, not on the as_of it is used for
    catalog.write_labelled(frame, pd.Timestamp("2026-06-01"), plan)
    later = dataclasses.replace(plan, as_of=pd.Timestamp("2026-11-07"))
    assert len(catalog.read_labelled([pd.Timestamp("2026-06-01")], later)[0]) == 1
    with pytest.raises(StaleArtefact):
        catalog.read_labelled([pd.Timestamp("2026-06-01")], dataclasses.replace(plan, tables_digest="t2"))


def test_a_week_is_published_whole_and_a_failed_run_publishes_nothing(tmp_path):
    import pandas as pd

    from pipeline.infra.catalog import Catalog

    catalog = Catalog(*(tmp_path / k for k in ("raw", "interim", "quarantine", "scored", "models", "mlruns")))
    week = pd.Timestamp("2026-10-31")
    with catalog.staging_scored() as staged:
        io.write_text("v1 list", staged.at_risk(week))
        io.write_text("v1 report", staged.report(week))
        assert not catalog.scored_dir(week).exists()  # nothing is visible until the run ends
    assert catalog.at_risk(week).read_text() == "v1 list" and catalog.scored_dir(week).is_symlink()
    with pytest.raises(RuntimeError):
        with catalog.staging_scored() as staged:
            io.write_text("v2 list", staged.at_risk(week))
            raise RuntimeError("the report failed")
    assert catalog.at_risk(week).read_text() == "v1 list" and catalog.report(week).read_text() == "v1 report"
    with catalog.staging_scored() as staged:
        io.write_text("v3 list", staged.at_risk(week))
    assert sorted(p.name for p in catalog.scored_dir(week).iterdir()) == ["at_risk.csv"]  # the old report went too
    assert catalog.leftovers() == [] and len(list((catalog.scored / ".versions").iterdir())) == 1


def test_scoring_refuses_features_built_for_another_horizon_or_feature_settings(tmp_path):
    import pandas as pd

    from pipeline import registry
    from pipeline.config import Config, DataConfig, FeaturesConfig
    from pipeline.errors import StaleArtefact
    from pipeline.infra.catalog import Catalog
    from pipeline.plan import Plan
    from pipeline.stages.score import check_plan

    catalog = Catalog(*(tmp_path / k for k in ("raw", "interim", "quarantine", "scored", "models", "mlruns")))
    cfg = Config(data=DataConfig(), as_of="2026-10-31")
    plan = Plan(
        pd.Timestamp("2026-10-31"),
        None,
        (),
        horizon_days=90,
        tables_digest=catalog.tables_digest(),
        features_digest=registry.features_digest(cfg),
    )
    check_plan(cfg, catalog, plan)  # the features this run asks for
    for other, said in (
        (Config(data=DataConfig(), as_of="2026-10-31", horizon_days=60), "horizon_days=60"),
        (Config(data=DataConfig(), as_of="2026-10-31", features=FeaturesConfig(windows_days=[30])), "feature settings"),
        (Config(data=DataConfig(), as_of="2026-11-07"), "asks for 2026-11-07"),
    ):
        with pytest.raises(StaleArtefact, match=said):
            check_plan(other, catalog, plan)


def test_a_weekly_score_without_a_champion_says_what_to_run(tmp_path):
    import pandas as pd

    from pipeline.infra.catalog import Catalog, MissingArtefact
    from pipeline.plan import Plan
    from pipeline.stages.score import scoring_model

    catalog = Catalog.of_project(tmp_path)
    with pytest.raises(
        MissingArtefact, match=r"no champion model in .*models: run stage=train, stage=evaluate and stage=promote"
    ):
        scoring_model(catalog, Plan(pd.Timestamp("2026-11-07"), None, ()))
