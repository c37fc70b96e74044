"""Measured action effects (pipeline.effects): on hand-made randomised samples with a known effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import effects
from pipeline.config import EffectsConfig


def _sample(rng, n: int, held_share: float, churn_held: float, churn_contacted: float, action="reminder"):
    held = rng.random(n) < held_share
    churned = np.where(held, rng.random(n) < churn_held, rng.random(n) < churn_contacted)
    return pd.DataFrame({"action": action, "holdout": held, "contacted": ~held, "churned": churned.astype(int)})


def test_a_known_effect_is_found_and_its_interval_covers_it_nine_times_in_ten():
    rng = np.random.default_rng(0)
    covered, inside_rate = 0, 0
    for _ in range(400):
        rows = _sample(rng, 800, 0.1, churn_held=0.50, churn_contacted=0.40)
        (e,) = effects.measure(rows, {"reminder": 0.1}, EffectsConfig())
        covered += e.points_low <= 10.0 <= e.points_high
        inside_rate += e.save_low <= 0.2 <= e.save_high  # 1 - 0.40 / 0.50
    assert 0.85 <= covered / 400 <= 0.96 and 0.85 <= inside_rate / 400 <= 0.96
    big = _sample(np.random.default_rng(1), 200_000, 0.2, 0.50, 0.40)
    (e,) = effects.measure(big, {"reminder": 0.1}, EffectsConfig())
    assert e.points == pytest.approx(10, abs=0.7) and e.save_rate == pytest.approx(0.2, abs=0.015)
    assert e.measured and e.used == pytest.approx(0.2, abs=0.02)  # thousands of customers: the evidence decides


def test_thin_evidence_keeps_the_assumed_rate_and_says_so():
    rows = _sample(np.random.default_rng(2), 150, 0.1, 0.5, 0.2)
    (e,) = effects.measure(rows, {"reminder": 0.1}, EffectsConfig(min_contacted=200, min_held_out=30))
    assert not e.measured and e.used == 0.1 and e.contacted < 200
    assert "too few customers yet to trust, the list keeps the assumed 10%" in effects.sentence(e, "Reminder")
    assert effects.rates_in_use([e.to_dict()], {"reminder": 0.1, "none": 0.0}) == {"reminder": 0.1, "none": 0.0}


def test_a_measured_rate_is_shrunk_towards_the_prior_by_the_precisions():
    assert effects.shrink(0.3, se=0.05, prior=0.1, prior_sd=0.05) == pytest.approx(0.2)
    assert effects.shrink(0.3, se=0.001, prior=0.1, prior_sd=0.1) == pytest.approx(0.3, abs=1e-3)
    rows = _sample(np.random.default_rng(3), 3000, 0.1, 0.5, 0.35)
    (e,) = effects.measure(rows, {"reminder": 0.05}, EffectsConfig())
    assert e.measured and 0.05 < e.used < e.save_rate  # between the prior and the evidence
    assert effects.rates_in_use([e.to_dict()], {"reminder": 0.05})["reminder"] == e.used


def test_an_action_never_compared_keeps_its_prior_and_no_contact_is_not_judged():
    rows = _sample(np.random.default_rng(4), 500, 0.1, 0.5, 0.4)
    found = effects.measure(rows, {"reminder": 0.1, "complaint_call": 0.3, "none": 0.0}, EffectsConfig())
    assert [e.action for e in found] == ["reminder", "complaint_call"]
    call = found[1]
    assert call.contacted == 0 and not call.measured and call.used == 0.3
    assert effects.sentence(call, "Complaint call").startswith("Complaint call: no comparison yet")


def test_past_list_customers_take_the_contact_logs_action_and_only_logged_contacts_count(caplog):
    import dataclasses

    from pipeline import history
    from pipeline.config import Config, load_reasons

    cfg = dataclasses.replace(Config(), reasons=load_reasons())
    day = pd.Timestamp("2026-05-02")
    rows = pd.DataFrame(
        {
            "list_date": day,
            "customer_id": ["a", "b", "c", "d"],
            "rank": [1, 2, 3, 4],
            "holdout": [False, False, False, True],
            "explored": False,
            "action": ["reminder", "reminder", "complaint_call", "reminder"],
            "churned": [0, 1, 0, 1],
        }
    )
    log = pd.DataFrame(
        {
            "customer_id": ["a", "c", "b"],
            "contacted_at": [day + pd.Timedelta(days=1), day + pd.Timedelta(days=2), day - pd.Timedelta(days=3)],
            "action": ["Resolve the complaint, then call", "unknown words", "reminder"],
        }
    )
    out = history.by_contact_log(rows, log, cfg)
    assert "neither a key nor a label of configs/reasons (unknown words)" in caplog.text
    assert out["action"].tolist() == ["complaint_call", "reminder", "complaint_call", "reminder"]
    assert out["contacted"].tolist() == [True, False, True, False]  # b's contact came before the list; d held out
    assert history.by_contact_log(rows, None, cfg)["contacted"].tolist() == [True, True, True, False]


def test_the_rates_in_use_are_kept_as_strict_json(tmp_path):
    import json

    from pipeline.infra.catalog import Catalog

    catalog = Catalog(*(tmp_path / k for k in ("raw", "interim", "quarantine", "scored", "models", "mlruns")))
    catalog.models.mkdir()
    thin = effects.measure(_sample(np.random.default_rng(5), 40, 0.0, 0.5, 0.4), {"reminder": 0.1}, EffectsConfig())
    catalog.write_effects([e.to_dict() for e in thin])
    saved = json.loads(catalog.effects.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert saved[0]["points"] is None and catalog.read_effects() == saved
    assert effects.rates_in_use(saved, {"reminder": 0.1}) == {"reminder": 0.1}


def test_adjusting_for_a_prognosis_narrows_the_interval_and_keeps_it_honest():
    """With each customer's chance of staying known up to noise, the adjusted effect still covers the true one nine
    times in ten, with a narrower interval than the raw comparison."""
    rng = np.random.default_rng(6)
    covered, widths_raw, widths_adj = 0, [], []
    for _ in range(300):
        n = 1500
        stay_alone = rng.uniform(0.2, 0.95, n)  # customers differ a lot in how likely they are to stay anyway
        held = rng.random(n) < 0.15
        stay = np.where(held, stay_alone, stay_alone + 0.08 * (1 - stay_alone))  # the contact keeps 8 % of leavers
        churned = (rng.random(n) >= stay).astype(int)
        rows = pd.DataFrame({"action": "reminder", "holdout": held, "contacted": ~held, "churned": churned})
        (raw,) = effects.measure(rows, {"reminder": 0.1}, EffectsConfig())
        (adj,) = effects.measure(rows.assign(prognosis=stay_alone), {"reminder": 0.1}, EffectsConfig())
        truth = 100 * (0.08 * (1 - stay_alone[~held])).mean()
        covered += adj.points_low <= truth <= adj.points_high
        widths_raw.append(raw.points_high - raw.points_low)
        widths_adj.append(adj.points_high - adj.points_low)
    assert 0.85 <= covered / 300 <= 0.96
    assert np.mean(widths_adj) < 0.95 * np.mean(widths_raw)  # here the prognosis explains about a fifth of the variance
