"""Which model scores the list: the champion, which changes only when a candidate earns it.

A pure function of the candidate, the current champion, the columns the scoring data has and the evaluation's log
losses. First, a candidate never replaces the champion when
  * it is the champion itself (an identical rerun: same recipe and same training rows, so nothing was refitted), or
  * it was trained for an earlier as_of than the champion (a backfill), unless the run says ``promote=force``.
Otherwise it replaces the champion when
  * there is no champion yet, or the champion cannot score this data (it needs features the data does not have), or
    it is the label-free BG/NBD fallback and the candidate is a trained model, or the candidate is that fallback
    (the data holds no labelled history, and such data is scored with it);
  * it has the champion's recipe (same model and feature settings, newer data): the backtest of a recipe is
    deterministic, so the two would tie on it, and the fresher fit wins;
  * otherwise it must beat the champion's recipe, backtested by the evaluation on the same folds and data, by
    ``model.promotion_margin`` in mean log loss. If it does not, or there is no backtest to compare on, the champion
    stays and the reason is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pipeline.bundle import ModelBundle


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    candidate: str
    champion_before: Optional[str]


def settled_without_backtest(
    candidate: ModelBundle, champion: Optional[ModelBundle], scoring_columns: list[str], force: bool = False
) -> Optional[Decision]:
    """The decision when the rules settle it without comparing backtests; None when the recipes must be compared."""
    name = candidate.version
    if champion is None:
        return Decision(True, "no champion yet", name, None)
    before = champion.version
    if force:
        return Decision(True, "promote=force", name, before)
    if candidate.version == champion.version and candidate.training_digest == champion.training_digest:
        return Decision(False, "identical to the champion (same recipe, same training rows): nothing new", name, before)
    if candidate.as_of < champion.as_of:
        return Decision(
            False,
            f"trained for as_of {candidate.as_of[:10]}, before the champion's {champion.as_of[:10]} (a backfill): the "
            f"production champion stays; promote=force would replace it",
            name,
            before,
        )
    if candidate.is_fallback:
        return Decision(
            True, "this data holds no labelled history, so the label-free BG/NBD x Gamma-Gamma scores it", name, before
        )
    if champion.is_fallback:
        return Decision(True, "the champion is the label-free fallback; a trained model replaces it", name, before)
    missing = sorted(set(champion.features) - set(scoring_columns))
    if missing:
        return Decision(
            True, f"the champion needs features this data does not have ({', '.join(missing[:5])})", name, before
        )
    if champion.recipe == candidate.recipe:
        return Decision(True, "same recipe as the champion, fitted on the same or newer data", name, before)
    return None


def needs_comparison(candidate: ModelBundle, champion: Optional[ModelBundle], scoring_columns: list[str]) -> bool:
    """Whether promotion will compare the two on a backtest (the rules above do not settle it), so evaluate must
    backtest the champion's recipe on the same folds."""
    return settled_without_backtest(candidate, champion, scoring_columns) is None


def decide(
    candidate: ModelBundle,
    champion: Optional[ModelBundle],
    scoring_columns: list[str],
    candidate_log_loss: Optional[float],
    champion_log_loss: Optional[float],
    margin: float,
    force: bool = False,
) -> Decision:
    """Whether ``candidate`` replaces ``champion`` (see the module docstring), and why."""
    settled = settled_without_backtest(candidate, champion, scoring_columns, force)
    if settled is not None:
        return settled
    assert champion is not None  # settled_without_backtest decides when there is none
    name, before = candidate.version, champion.version
    if candidate_log_loss is None or champion_log_loss is None:
        return Decision(False, "different recipe and no backtest to compare it with the champion on", name, before)
    if candidate_log_loss <= champion_log_loss - margin:
        return Decision(
            True,
            f"backtest log loss {candidate_log_loss:.4f} beats the champion recipe's {champion_log_loss:.4f} "
            f"by at least {margin}",
            name,
            before,
        )
    return Decision(
        False,
        f"backtest log loss {candidate_log_loss:.4f} does not beat the champion recipe's {champion_log_loss:.4f} "
        f"by the margin {margin} (model.promotion_margin)",
        name,
        before,
    )
