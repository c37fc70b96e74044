"""Seeded, realistic demo data with a documented generative story and a hidden ground truth.

The generative story (simulated week by week for every customer):

* **Who arrives.** A third of the customers are already on the books when the history starts; the rest sign up
  at a steady pace over the following years, so there are many acquisition cohorts.  Each has a region, an
  acquisition channel and a loyalty-programme flag.
* **How often and how much they buy.** Each customer has their own purchase rate (Gamma distributed, so a few buy
  weekly and many buy a few times a year) and their own typical basket value (Gamma distributed, log-normal-ish
  tail).  Rates follow the season: a spring/summer swell and a strong late-November/December peak.  A purchase
  occasion writes one to three transaction lines (several purchases per customer per day), occasionally a free
  item (amount 0), and some lines are later returned (a negative line days later).
* **Discounts.** Customers acquired through the promo channel (and some others) are price sensitive.  They get a
  welcome discount for their first 12 weeks; when it ends, their dropout hazard rises for half a year.
* **Complaints.** About one purchase occasion in 25 leads to a complaint (delivery, quality, billing, service; severity
  1-3).  Most are resolved within days, some take weeks, and about one in six is never resolved.  Satisfaction after
  resolution falls the slower the resolution; it is sometimes not recorded.
* **NPS.** Customers now and then answer a survey; the score reflects their latent satisfaction, pulled down by open
  complaints and slow resolutions.
* **Fading engagement.** Now and then a customer starts to lose interest: their purchase rate decays week by week.
* **Going quiet.** Some customers pause for 6-26 weeks and then come back (not churn - it makes labels noisy,
  as in real data).
* **The team's past lists.** With ``past_lists``, the year before today carries a retention team's weekly lists,
  their random hold-outs and contacts, and the contacts' effects on who keeps buying (``pipeline.demo_lists``).
* **Dropout.** Every active week a customer may leave for good.  The weekly hazard is a baseline multiplied by
  ``exp`` of: open complaints, a slowly resolved complaint in the last half year, a detractor NPS answer, the end of
  a welcome discount for a price-sensitive customer, fading engagement, and being a one-time buyer; loyalty-programme
  members are stickier.

**The retail regime** (``regime="retail"``, the ``data=demo_retail`` preset) looks like a real retail log instead
(e.g. the CDNOW panel): one acquisition cohort whose first purchases all fall in the first 12 weeks, most of them
never buy again (each purchase may also be a customer's last, with a chance of their own, as in BG/NBD's story), no
customers, complaints or surveys tables, plain numeric customer IDs, and about 18 months of history.

The hidden truth - each customer's dropout time and the hazard term that dominated when they left - is written to
``_truth/truth.parquet`` beside the tables.  The pipeline never reads it; tests do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import demo_lists, demo_tables
from pipeline.demo_tables import BRANDS, CATEGORIES
from pipeline.infra import io

REGIONS = np.array(["north", "south", "east", "west"])
CHANNELS = np.array(["organic", "paid_search", "referral", "promo"])
DRIVERS = ("open_complaints", "slow_resolution", "low_nps", "discount_ended", "fading_engagement", "one_time_buyer")
REGIMES = ("mixed", "retail")  # many cohorts with complaints and surveys | one cohort, mostly one-time buyers
RETAIL_COHORT_WEEKS = 12  # the retail regime's customers all make their first purchase within these weeks
# log-hazard weight of each driver term; the baseline weekly hazard is BASE_HAZARD.
HAZARD_WEIGHTS = np.array([1.1, 0.9, 0.9, 1.2, 2.8, 0.8])
BASE_HAZARD = 0.0045
WELCOME_DISCOUNT_WEEKS = 12
TABLES = ("customers", "transactions", "complaints", "surveys", "lists", "contacts")  # what the demo can write
LIST_COLUMNS = ["customer_id", "list_date", "rank", "action", "explored", "holdout"]
CONTACT_COLUMNS = ["customer_id", "contacted_at", "action", "channel", "outcome"]
RETAIL_TABLES = ("transactions",)  # what the retail regime writes


@dataclass(frozen=True)
class DemoTables:
    """The four raw tables and the hidden truth."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    complaints: pd.DataFrame
    surveys: pd.DataFrame
    truth: pd.DataFrame
    lists: pd.DataFrame | None = None  # the team's past lists (``past_lists`` weeks; None without)
    contacts: pd.DataFrame | None = None  # the team's contact log of those lists
    action_truth: pd.DataFrame | None = None  # customer_id, action, true_save_probability at end_date
    list_truth: pd.DataFrame | None = None  # list_date, customer_id, action, true_effect of the past lists' rows


@dataclass
class _State:
    """Per-customer mutable simulation state (arrays of length n)."""

    active: np.ndarray
    churned_week: np.ndarray
    driver: np.ndarray
    engagement: np.ndarray
    fading: np.ndarray
    dormant_until: np.ndarray
    n_occasions: np.ndarray
    open_complaints: np.ndarray
    last_slow_week: np.ndarray
    last_nps: np.ndarray
    drop_after_purchase: np.ndarray  # chance that a purchase occasion is the customer's last (retail regime; else 0)
    last_week: np.ndarray  # the week of the last purchase occasion (-1: none yet)
    protected_until: np.ndarray  # a saving contact keeps the customer from dropping out until this week
    forced_week: np.ndarray  # a saving contact brings a purchase in this week (-1: none)
    regime: str = "mixed"


def _season(day: pd.Timestamp) -> float:
    """Purchase-rate multiplier for the week starting on ``day``."""
    doy = day.day_of_year
    peak = 0.7 if (day.month == 11 and day.day >= 20) or (day.month == 12 and day.day <= 24) else 0.0
    return 1.0 + 0.25 * np.sin(2 * np.pi * (doy - 80) / 365.25) + peak


def _draw_customers(
    rng: np.random.Generator, n: int, start: pd.Timestamp, n_weeks: int, regime: str = "mixed"
) -> pd.DataFrame:
    """Customer attributes plus latent traits (columns starting with '_' are hidden)."""
    retail = regime == "retail"
    initial = rng.random(n) < (0.0 if retail else 1 / 3)
    last_signup = min(RETAIL_COHORT_WEEKS, n_weeks) if retail else max(n_weeks - 4, 1)
    signup_week = np.where(initial, 0, rng.integers(0, last_signup, n))
    signup_offset_days = np.where(initial, -rng.integers(30, 700, n), signup_week * 7 + rng.integers(0, 7, n))
    channel = rng.choice(CHANNELS, n, p=[0.4, 0.25, 0.15, 0.2])
    member = rng.random(n) < 0.35
    price_sensitive = rng.random(n) < np.where(channel == "promo", 0.6, 0.15)
    return pd.DataFrame(
        {
            "customer_id": [str(i + 1) if retail else f"C{i:06d}" for i in range(n)],
            "signup_date": (start + pd.to_timedelta(signup_offset_days, unit="D")).normalize(),
            "region": rng.choice(REGIONS, n, p=[0.3, 0.25, 0.25, 0.2]),
            "acquisition_channel": channel,
            "loyalty_member": member,
            "_signup_week": signup_week,
            "_rate_per_week": (rng.gamma(0.4, 0.25, n) if retail else rng.gamma(1.3, 0.3, n))
            * np.where(member, 1.3, 1.0),
            "_mean_spend": rng.gamma(4.0, 12.0, n),
            "_price_sensitive": price_sensitive,
            "_satisfaction": rng.normal(7.5, 1.5, n),
            "_favourite_category": rng.integers(0, len(CATEGORIES), n),
            "_favourite_brand": rng.integers(0, len(BRANDS), n),
        }
    )


def _hazard_terms(s: _State, week: int, cust: pd.DataFrame, welcome_end: np.ndarray) -> np.ndarray:
    """Matrix (n, len(DRIVERS)) of the dropout-hazard terms this week."""
    discount_ended = cust["_price_sensitive"].to_numpy() & (week >= welcome_end) & (week < welcome_end + 26)
    return np.column_stack(
        [
            np.minimum(s.open_complaints, 3),
            (week - s.last_slow_week) < 26,
            (s.last_nps >= 0) & (s.last_nps <= 6),
            discount_ended,
            1.0 - s.engagement,
            s.n_occasions == 1,
        ]
    ).astype(float)


def _simulate_week(
    rng: np.random.Generator,
    s: _State,
    week: int,
    day: pd.Timestamp,
    cust: pd.DataFrame,
    welcome_end: np.ndarray,
    resolutions: dict[int, list[np.ndarray]],
    out: dict[str, list],
) -> None:
    """Advance every customer by one week: purchases, complaints, surveys, then dropout."""
    n = len(cust)
    signed_up = cust["_signup_week"].to_numpy() <= week
    live = s.active & signed_up
    awake = live & (s.dormant_until <= week)
    # engagement fading and going quiet
    s.fading |= live & (rng.random(n) < 0.006)
    s.engagement = np.where(s.fading, s.engagement * 0.95, s.engagement)
    s.dormant_until = np.where(awake & (rng.random(n) < 0.003), week + rng.integers(6, 27, n), s.dormant_until)
    awake &= s.dormant_until <= week
    # purchase occasions
    lam = cust["_rate_per_week"].to_numpy() * s.engagement * _season(day) * awake
    k = rng.poisson(lam)
    k = np.where(live & (s.forced_week == week), np.maximum(k, 1), k)  # a saving contact's purchase
    retail = s.regime == "retail"
    if retail:  # the cohort: everyone's first purchase falls in their signup week
        k = np.where(live & (cust["_signup_week"].to_numpy() == week), np.maximum(k, 1), k)
    s.last_week = np.where(k > 0, week, s.last_week)
    who = np.repeat(np.arange(n), k)
    if len(who):
        occ_day = day + pd.to_timedelta(
            rng.integers(0, 7, len(who)) * 86400 + rng.integers(8 * 3600, 21 * 3600, len(who)), unit="s"
        )
        discounted = np.where(
            cust["_price_sensitive"].to_numpy()[who] & (week < welcome_end[who]),
            rng.random(len(who)) < 0.8,
            rng.random(len(who)) < 0.1,
        )
        out["occasions"].append(pd.DataFrame({"cust": who, "ts": occ_day, "discounted": discounted}))
        s.n_occasions += k
        # complaints from occasions
        has_c = rng.random(len(who)) < (0.0 if retail else 0.04)
        c_who = who[has_c]
        if len(c_who):
            severity = rng.choice([1, 2, 3], len(c_who), p=[0.5, 0.35, 0.15])
            res_days = rng.lognormal(np.log(3.0) + 0.4 * (severity - 1), 1.0, len(c_who))
            never = rng.random(len(c_who)) < 0.16
            res_days = np.where(never, np.inf, res_days)
            opened = occ_day[has_c] + pd.to_timedelta(rng.integers(0, 5 * 86400, len(c_who)), unit="s")
            out["complaints"].append(
                pd.DataFrame({"cust": c_who, "opened_at": opened, "res_days": res_days, "severity": severity})
            )
            np.add.at(s.open_complaints, c_who, 1)
            finite = ~never
            resolve_week = week + 1 + (res_days[finite] // 7).astype(int)
            for w, c, d in zip(resolve_week, c_who[finite], res_days[finite], strict=True):
                resolutions.setdefault(int(w), []).append(np.array([c, d]))
    # resolutions due this week
    for c, d in resolutions.pop(week, []):
        s.open_complaints[int(c)] = max(s.open_complaints[int(c)] - 1, 0)  # a contact may have settled it already
        if d > 14:
            s.last_slow_week[int(c)] = week
    # surveys
    answers = live & (rng.random(n) < (0.0 if retail else 0.02))
    if answers.any():
        idx = np.flatnonzero(answers)
        score = (
            cust["_satisfaction"].to_numpy()[idx]
            - 1.8 * np.minimum(s.open_complaints[idx], 2)
            - 1.5 * ((week - s.last_slow_week[idx]) < 26)
            + rng.normal(0, 1.2, len(idx))
        )
        score = np.clip(np.round(score), 0, 10).astype(int)
        s.last_nps[idx] = score
        out["surveys"].append(
            pd.DataFrame(
                {
                    "cust": idx,
                    "answered_at": day + pd.to_timedelta(rng.integers(0, 7 * 86400, len(idx)), unit="s"),
                    "score": score,
                }
            )
        )
    # dropout
    terms = _hazard_terms(s, week, cust, welcome_end)
    member_factor = np.where(cust["loyalty_member"].to_numpy(), 0.7, 1.0)
    hazard = np.minimum(BASE_HAZARD * member_factor * np.exp(terms @ HAZARD_WEIGHTS), 0.9)
    leaves = live & (s.n_occasions > 0) & (rng.random(n) < hazard) & (s.protected_until <= week)
    if leaves.any():
        contrib = terms[leaves] * HAZARD_WEIGHTS
        s.driver[leaves] = np.where(contrib.max(axis=1) > 0, np.array(DRIVERS)[contrib.argmax(axis=1)], "baseline")
        s.churned_week[leaves] = week
        s.active &= ~leaves
    if retail:  # BG/NBD's story: a purchase may be the customer's last
        last = s.active & (k > 0) & (rng.random(n) < 1 - (1 - s.drop_after_purchase) ** k)
        s.driver[last] = "after_purchase"
        s.churned_week[last] = week
        s.active &= ~last


def generate(
    n_customers: int = 20_000,
    years: float = 3.0,
    end_date: str = "2026-10-31",
    seed: int = 42,
    weeks_ahead: int = 0,
    regime: str = "mixed",
    past_lists: int = 0,
) -> DemoTables:
    """Simulate ``n_customers`` over ``years`` ending at ``end_date`` (exclusive), reproducibly from ``seed``.

    ``weeks_ahead`` more weeks follow ``end_date``: the demo's "next weeks", which weekly runs with a later as_of load
    as if they had just arrived. ``regime``: "mixed" (the default story) or "retail" (see the module docstring).
    ``past_lists``: weeks before ``end_date`` in which the demo's team sent a save list and contacted it (the mixed
    regime; see ``pipeline.demo_lists``); the true effect of every action at ``end_date`` is then in the truth.
    """
    if regime not in REGIMES:
        raise ValueError(f"regime={regime!r} is not one of {', '.join(REGIMES)}")
    rng = np.random.default_rng(seed)
    history_end = pd.Timestamp(end_date)
    n_weeks = int(round(years * 52.18))
    start = history_end - pd.Timedelta(weeks=n_weeks)
    end = history_end + pd.Timedelta(weeks=weeks_ahead)
    cust = _draw_customers(rng, n_customers, start, n_weeks, regime)
    n = n_customers
    retail = regime == "retail"
    state = _State(
        active=np.ones(n, bool),
        churned_week=np.full(n, -1),
        driver=np.full(n, "", dtype=object),
        engagement=np.ones(n),
        fading=np.zeros(n, bool),
        dormant_until=np.zeros(n, int),
        n_occasions=np.zeros(n, int),
        open_complaints=np.zeros(n, int),
        last_slow_week=np.full(n, -10_000),
        last_nps=np.full(n, -1),
        drop_after_purchase=rng.beta(1.0, 2.0, n) if retail else np.zeros(n),
        last_week=np.full(n, -1),
        protected_until=np.zeros(n, int),
        forced_week=np.full(n, -1),
        regime=regime,
    )
    welcome_end = cust["_signup_week"].to_numpy() + WELCOME_DISCOUNT_WEEKS
    out: dict[str, list] = {"occasions": [], "complaints": [], "surveys": []}
    resolutions: dict[int, list[np.ndarray]] = {}
    team = demo_lists.PastLists.start(np.random.default_rng([seed, 26]), n) if past_lists and not retail else None
    chance = _forward(seed, start, cust, welcome_end, resolutions)
    action_truth = None
    for week in range(n_weeks + weeks_ahead + 1):
        day = start + pd.Timedelta(weeks=week)
        if team is not None and n_weeks - past_lists <= week < n_weeks:
            demo_lists.contact(team, state, week, day, cust, chance)
        if team is not None and week == n_weeks:  # today: every action's true effect on every customer
            bought = (cust["_signup_week"].to_numpy() <= week) & (state.n_occasions > 0)
            now = demo_lists.seen(state, week, cust)
            action_truth = demo_lists.true_effects(
                cust["customer_id"].to_numpy(), now, team.noise, chance(state, week), bought
            )
        if week < n_weeks + weeks_ahead:
            _simulate_week(rng, state, week, day, cust, welcome_end, resolutions, out)
    tables = DemoTables(**demo_tables.assemble(rng, cust, state, out, start, end))
    if team is not None:
        ids = cust["customer_id"].to_numpy()
        lists = pd.concat(team.lists, ignore_index=True)
        contacts = pd.concat(team.contacts, ignore_index=True)
        effects = pd.concat(team.effects, ignore_index=True)
        tables = dataclasses.replace(
            tables,
            lists=lists.assign(customer_id=ids[lists.pop("cust")])[LIST_COLUMNS],
            contacts=contacts.assign(
                customer_id=ids[contacts.pop("cust")], contacted_at=contacts["contacted_at"].dt.floor("s")
            )[CONTACT_COLUMNS],
            action_truth=action_truth,
            list_truth=effects.assign(customer_id=ids[effects.pop("cust")]),
        )
    if retail:  # a transaction log alone, as retailers' exports are
        return dataclasses.replace(
            tables,
            customers=tables.customers.iloc[:0],
            complaints=tables.complaints.iloc[:0],
            surveys=tables.surveys.iloc[:0],
        )
    return tables


def _forward(seed: int, start: pd.Timestamp, cust: pd.DataFrame, welcome_end: np.ndarray, resolutions: dict):
    """``chance(state, week, who)``: the chance of buying in the next 13 weeks without a contact, by running the
    story forward on copies of the customers ``who`` (their own random numbers: the demo's story is unchanged)."""
    rng = np.random.default_rng([seed, 2026])
    sink: dict[str, list] = {"occasions": [], "complaints": [], "surveys": []}

    def step(state, w, many, ends, pending) -> None:
        _simulate_week(rng, state, w, start + pd.Timedelta(weeks=w), many, ends, pending, sink)
        for frames in sink.values():
            frames.clear()

    def chance(state, week: int, who: np.ndarray | None = None) -> np.ndarray:
        return demo_lists.chance_of_buying(state, step, cust, welcome_end, resolutions, week, who)

    return chance


def write(tables: DemoTables, out_dir: Path, names: tuple[str, ...] = TABLES) -> dict[str, Path]:
    """Write the public tables ``names`` as CSV and the truth as Parquet under ``out_dir``; return the table paths."""
    paths = {name: out_dir / f"{name}.csv" for name in names if getattr(tables, name) is not None}
    for name, path in paths.items():
        io.write_csv(getattr(tables, name), path)
    io.write_parquet(tables.truth, out_dir / "_truth" / "truth.parquet")
    if tables.action_truth is not None:
        io.write_parquet(tables.action_truth, out_dir / "_truth" / "action_effects.parquet")
    if tables.list_truth is not None:
        io.write_parquet(tables.list_truth, out_dir / "_truth" / "past_list_effects.parquet")
    return paths


def main() -> None:
    """Command line: ``python -m pipeline.demo [OUT_DIR] [N_CUSTOMERS]``."""
    import sys

    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/raw/demo")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    paths = write(generate(n_customers=n), out_dir)
    for name, path in paths.items():
        print(f"{name:>13}: {path}")


if __name__ == "__main__":
    main()
