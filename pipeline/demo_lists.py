"""The demo team's past year of weekly save lists, their contacts, and what each kind of contact truly does.

A retention team that adopts the pipeline has a history: lists it sent (each with a random hold-out), a contact log,
and purchases that carry the contacts' effects. The demo simulates that history inside its week-by-week story
(``pipeline.demo``), so the pipeline can learn from it the way it would from a real team's records.

* **The team's old list.** Each week of the last ``past_lists`` weeks before the demo's today, the team lists about
  3 % of its customers, drawn from those it sees overdue against their own rhythm or with an open complaint with a
  chance that grows with how overdue they are and their usual spend (so the lists cover the whole at-risk base),
  skipping anyone listed in the 13 weeks before and anyone silent for more than 13 weeks (the
  team works on customers who are lapsing, not on those long gone). Its rule is the one many teams start with: an
  open complaint gets a complaint call, everyone else a discount. Three in ten of the listed get an action drawn at
  random from the five it uses instead (``explored``); 15 % are held out.
* **What a contact does.** Each action has, for each customer at that moment, a chance to *save* them (``q``: they
  buy within six weeks, open complaints are settled, fading interest is restored, and they do not drop out for the
  next 13 weeks, even if they had already left) and a chance to *harm* them (``h``: they drop out there and then, the
  "sleeping dogs" a discount annoys). The chances depend on who the customer is: a complaint call saves customers
  with an open complaint far more, a discount does nothing for price-insensitive customers who are buying anyway and
  harms some of them, a reminder helps regular buyers who are overdue. Each customer's chances carry their own noise
  (log-normal, fixed per customer and action).
* **The truth.** At the demo's today, each customer's true effect of each action on the chance of buying in the next
  13 weeks is ``q (1 - P0) - h P0``, where ``P0`` is their chance of buying without a contact, estimated by running
  the story forward from today ``TRUTH_REPLICAS`` times without contacts. Written to
  ``_truth/action_effects.parquet`` (``customer_id, action, true_save_probability``), and each past list row's true
  effect of its action to ``_truth/past_list_effects.parquet``; the pipeline never reads them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

HORIZON_WEEKS = 13  # a contact's protection, and the window the truth measures (the demo's 90-day horizon)
LIST_SHARE = 0.03  # share of the signed-up customers on each week's list
HOLDOUT_SHARE = 0.15
EXPLORE_SHARE = 0.3
RECENT_WEEKS = 13  # the team lists customers who bought within this many weeks (lapsing, not long gone)
RELIST_WEEKS = 13  # a customer listed is not listed again for this many weeks
TRIED = ("reminder", "complaint_call", "targeted_discount", "care_call", "recommendations")  # the team's actions
CHANNELS = {"complaint_call": "phone", "care_call": "phone", "service_recovery": "phone", "check_in": "phone"}
TRUTH_REPLICAS = 24
NOISE_SD = 0.3  # log-normal spread of each customer's own save chance around their group's


@dataclass(frozen=True)
class Seen:
    """What the story knows about every customer at one week (arrays of length n)."""

    open_complaints: np.ndarray
    slow_recently: np.ndarray
    low_nps: np.ndarray
    price_sensitive: np.ndarray
    fading: np.ndarray
    overdue_regular: np.ndarray
    buying: np.ndarray  # bought within their usual gap: not at risk by their own rhythm
    one_time: np.ndarray
    member: np.ndarray


def _effects(s: Seen) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each action's (save chance, harm chance) for every customer, before their own noise."""
    complaint = s.open_complaints > 0
    unhappy = s.low_nps | s.slow_recently
    z = np.zeros(len(complaint))

    def q(cond: np.ndarray, hit: float, miss: float | np.ndarray) -> np.ndarray:
        return np.where(cond, hit, miss)

    return {
        "reminder": (q(s.overdue_regular, 0.35, 0.03), z),
        "recommendations": (q(s.fading, 0.25, 0.02), z),
        "complaint_call": (q(complaint, 0.45, 0.02), z),
        "service_recovery": (q(complaint | s.slow_recently, 0.35, 0.02), z),
        "check_in": (q(unhappy, 0.25, 0.03), z),
        "care_call": (q(unhappy & ~complaint, 0.35, q(complaint, 0.10, 0.02)), z),
        "targeted_discount": (
            q(s.price_sensitive, 0.35, 0.01),
            q(~s.price_sensitive & s.buying, 0.05, q(~s.price_sensitive, 0.02, 0.0)),
        ),
        "onboarding": (q(s.one_time, 0.15, 0.0), z),
        "product_fit": (q(s.fading, 0.10, 0.02), z),
        "brand_offer": (q(s.fading, 0.08, 0.02), z),
        "cross_sell": (q(s.fading, 0.06, 0.02), z),
        "loyalty_invite": (q(~s.member, 0.08, 0.0), z),
        "segment_campaign": (z + 0.02, z),
    }


ACTIONS = tuple(_effects(Seen(*[np.zeros(1, bool)] * 9)))


def chances(s: Seen, noise: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each action's save and harm chance for every customer, their own noise included."""
    out = {}
    for action, (save, harm) in _effects(s).items():
        save = np.clip(save * noise[action], 0.0, 0.9)
        out[action] = (save, np.clip(harm, 0.0, 0.9 - save))
    return out


def draw_noise(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Each customer's own multiplier of each action's save chance (fixed for the whole story)."""
    return {a: rng.lognormal(-(NOISE_SD**2) / 2, NOISE_SD, n) for a in ACTIONS}


def rule_action(s: Seen) -> np.ndarray:
    """The team's old rule, as many teams start: an open complaint gets a complaint call, everyone else a discount."""
    return np.where(s.open_complaints > 0, "complaint_call", "targeted_discount").astype(object)


@dataclass
class PastLists:
    """The lists and contacts drawn so far (one frame per week), and when each customer was last listed."""

    n: int
    noise: dict[str, np.ndarray]
    last_listed: np.ndarray
    lists: list[pd.DataFrame]
    contacts: list[pd.DataFrame]
    effects: list[pd.DataFrame]  # the hidden truth: each listed customer's true effect of their action

    @classmethod
    def start(cls, rng: np.random.Generator, n: int) -> PastLists:
        return cls(n, draw_noise(rng, n), np.full(n, -10_000), [], [], [])


def team_list(
    rng: np.random.Generator,
    week: int,
    day: pd.Timestamp,
    seen: Seen,
    signed_up: np.ndarray,
    n_occasions: np.ndarray,
    silent_weeks: np.ndarray,
    observed_rate: np.ndarray,
    spend: np.ndarray,
    past: PastLists,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This week's list, recorded in ``past``: the listed customers (indices), their action's key, and whether each
    is held out."""
    recent = (n_occasions > 0) & (silent_weeks < RECENT_WEEKS)
    eligible = signed_up & recent & (week - past.last_listed >= RELIST_WEEKS)
    overdue = silent_weeks * observed_rate
    score = (np.minimum(overdue, 6.0) + 1.5 * np.minimum(seen.open_complaints, 2)) * np.sqrt(spend)
    pool = np.flatnonzero(eligible & ((overdue >= 1.0) | (seen.open_complaints > 0)) & (score > 0))
    size = min(int(round(LIST_SHARE * signed_up.sum())), len(pool))
    drawn = rng.choice(pool, size, replace=False, p=score[pool] / score[pool].sum()) if size else pool[:0]
    listed = drawn[np.argsort(-score[drawn], kind="stable")]  # the list's order: the team's score
    action = rule_action(seen)[listed]
    explored = rng.random(len(listed)) < EXPLORE_SHARE
    action[explored] = rng.choice(np.array(TRIED, dtype=object), int(explored.sum()))
    holdout = rng.random(len(listed)) < HOLDOUT_SHARE
    past.last_listed[listed] = week
    past.lists.append(
        pd.DataFrame(
            {
                "cust": listed,
                "list_date": day,
                "rank": np.arange(1, len(listed) + 1),
                "action": action,
                "explored": explored,
                "holdout": holdout,
            }
        )
    )
    contacted = listed[~holdout]
    when = day + pd.to_timedelta(
        rng.integers(0, 3, len(contacted)) * 86400 + rng.integers(9, 18, len(contacted)) * 3600, unit="s"
    )
    acts = action[~holdout]
    past.contacts.append(
        pd.DataFrame(
            {
                "cust": contacted,
                "contacted_at": when,
                "action": acts,
                "channel": [CHANNELS.get(a, "email") for a in acts],
                "outcome": rng.choice(np.array(["reached", "reached", "reached", "no answer"]), len(contacted)),
            }
        )
    )
    return listed, action, holdout


def outcomes_of_contact(
    rng: np.random.Generator, seen: Seen, who: np.ndarray, acts: np.ndarray, noise: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Which contacted customers are saved and which are harmed (boolean arrays over ``who``)."""
    sub = Seen(*[np.asarray(getattr(seen, f))[who] for f in Seen.__dataclass_fields__])
    own = chances(sub, {a: v[who] for a, v in noise.items()})
    save = np.zeros(len(who))
    harm = np.zeros(len(who))
    for action in set(acts):
        at = acts == action
        save[at], harm[at] = own[action][0][at], own[action][1][at]
    u = rng.random(len(who))
    return u < save, (u >= save) & (u < save + harm)


def true_effects(
    ids: np.ndarray, seen: Seen, noise: dict[str, np.ndarray], p_buy: np.ndarray, eligible: np.ndarray
) -> pd.DataFrame:
    """``customer_id, action, true_save_probability`` for every customer who has bought and every action."""
    own = chances(seen, noise)
    frames = [
        pd.DataFrame(
            {
                "customer_id": ids[eligible],
                "action": a,
                "true_save_probability": (q * (1 - p_buy) - h * p_buy)[eligible],
            }
        )
        for a, (q, h) in own.items()
    ]
    return pd.concat(frames, ignore_index=True)


def chance_of_buying(
    state,
    step: Callable[[object, int, pd.DataFrame, np.ndarray, dict], None],
    cust: pd.DataFrame,
    welcome_end: np.ndarray,
    resolutions: dict[int, list[np.ndarray]],
    week: int,
    who: np.ndarray | None = None,
    replicas: int = TRUTH_REPLICAS,
) -> np.ndarray:
    """Each customer's (of ``who``; default everyone) chance of a purchase in the next ``HORIZON_WEEKS`` weeks
    without a contact: the story run forward from ``state`` on ``replicas`` copies of them. ``step(state, week,
    cust, welcome_end, resolutions)`` advances a state by one week."""
    n = len(cust)
    who = np.arange(n) if who is None else np.asarray(who)
    m = len(who)
    position = np.full(n, -1)
    position[who] = np.arange(m)
    tiled = copy.copy(state)
    for name in state.__dataclass_fields__:
        value = getattr(state, name)
        if isinstance(value, np.ndarray) and len(value) == n:
            setattr(tiled, name, np.tile(value[who], replicas))
    tiled.last_week = np.full(m * replicas, -1)
    pending = {
        w: [
            np.array([position[int(c)] + r * m, d])
            for c, d in entries
            if position[int(c)] >= 0
            for r in range(replicas)
        ]
        for w, entries in resolutions.items()
        if w >= week
    }
    many = pd.concat([cust.iloc[who]] * replicas, ignore_index=True)
    ends = np.tile(welcome_end[who], replicas)
    for w in range(week, week + HORIZON_WEEKS):
        step(tiled, w, many, ends, pending)
    return (tiled.last_week >= week).reshape(replicas, m).mean(axis=0)


def effect_of(seen: Seen, who: np.ndarray, acts: np.ndarray, noise: dict[str, np.ndarray], p_buy: np.ndarray):
    """The true effect of the action each of ``who`` got (or would have got, when held out)."""
    sub = Seen(*[np.asarray(getattr(seen, f))[who] for f in Seen.__dataclass_fields__])
    own = chances(sub, {a: v[who] for a, v in noise.items()})
    out = np.zeros(len(who))
    for action in set(acts):
        at = acts == action
        q, h = own[action][0][at], own[action][1][at]
        out[at] = q * (1 - p_buy[at]) - h * p_buy[at]
    return out


def seen(s, week: int, cust: pd.DataFrame) -> Seen:
    """What decides a contact's effect on each customer this week."""
    rate = cust["_rate_per_week"].to_numpy()
    silent = np.where(s.last_week >= 0, week - s.last_week, 10_000)
    return Seen(
        open_complaints=s.open_complaints.copy(),
        slow_recently=(week - s.last_slow_week) < 26,
        low_nps=(s.last_nps >= 0) & (s.last_nps <= 6),
        price_sensitive=cust["_price_sensitive"].to_numpy(),
        fading=s.fading.copy(),
        overdue_regular=(rate >= 0.2) & (silent > 2 / np.maximum(rate, 1e-9)),
        buying=s.active & (silent <= 1 / np.maximum(rate, 1e-9)),
        one_time=s.n_occasions == 1,
        member=cust["loyalty_member"].to_numpy(),
    )


def contact(
    team: PastLists,
    s,
    week: int,
    day: pd.Timestamp,
    cust: pd.DataFrame,
    step,
) -> None:
    """The team's list of this week, and what its contacts do to the customers they reach."""
    rng = np.random.default_rng([int(team.n), week, 26])
    now = seen(s, week, cust)
    signed_up = cust["_signup_week"].to_numpy() <= week
    tenure_weeks = np.maximum(week - cust["_signup_week"].to_numpy(), 4)
    silent = np.where(s.last_week >= 0, week - s.last_week, 10_000)
    listed, acts, holdout = team_list(
        rng,
        week,
        day,
        now,
        signed_up,
        s.n_occasions,
        silent,
        s.n_occasions / tenure_weeks,
        cust["_mean_spend"].to_numpy(),
        team,
    )
    p_buy = step(s, week, listed)
    effect = effect_of(now, listed, acts, team.noise, p_buy)
    team.effects.append(
        pd.DataFrame({"cust": listed, "list_date": day, "action": acts, "true_effect": effect, "p_buy_alone": p_buy})
    )
    who, acts = listed[~holdout], acts[~holdout]
    saved, harmed = outcomes_of_contact(rng, now, who, acts, team.noise)
    kept, lost = who[saved], who[harmed]
    s.active[kept] = True
    s.churned_week[kept] = -1
    s.driver[kept] = ""
    s.open_complaints[kept] = 0
    s.last_slow_week[kept] = -10_000
    s.engagement[kept] = 1.0
    s.fading[kept] = False
    s.dormant_until[kept] = 0
    s.protected_until[kept] = week + HORIZON_WEEKS
    s.forced_week[kept] = week + rng.integers(1, 7, len(kept))
    lost = lost[s.active[lost]]
    s.active[lost] = False
    s.churned_week[lost] = week
    s.driver[lost] = "contact"
