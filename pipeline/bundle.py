"""What training produces and scoring loads: the fitted models with what they need to be used and traced."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Optional

from pipeline.fitting import TrainedModels

LIGHTGBM = "lightgbm"
BGNBD = "bgnbd"  # the label-free BG/NBD x Gamma-Gamma fallback: nothing fitted ahead, fitted per cutoff at scoring
FALLBACK_VERSION = "bgnbd-gamma-gamma (no labelled history)"


@dataclass(frozen=True)
class ModelBundle:
    """A candidate or the champion.

    ``version`` names it in lists and logs (the registered churn model's version, or the fallback's name);
    ``versions`` maps each registered model name to its MLflow version; ``recipe`` is what determines the fit given
    the data (see ``registry.recipe``); ``as_of`` is the plan it was trained for.
    """

    kind: str
    version: str
    recipe: dict
    as_of: str
    trained: Optional[TrainedModels] = None
    versions: dict[str, str] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    calibration: Optional[str] = None
    train_cutoffs: tuple[str, ...] = ()
    training_digest: Optional[str] = None  # the training and validation rows it was fitted on (see stages.train)
    reference: Optional[dict] = None  # its training data's profile, for drift checks (see monitor.reference_profile)
    # the baseline that scores instead of the trained model when the backtest found it no better (evaluate.Scorer)
    scorer: Optional[str] = None
    scorer_reason: Optional[str] = None
    backtest_note: Optional[str] = None  # the model scores, but the backtest found a baseline ahead on one metric

    @property
    def is_fallback(self) -> bool:
        return self.kind == BGNBD

    @classmethod
    def fallback(cls, recipe: dict, as_of: str) -> "ModelBundle":
        """The label-free scorer, for data without a labelled history."""
        return cls(BGNBD, FALLBACK_VERSION, recipe, as_of)

    @classmethod
    def from_saved(cls, saved: "ModelBundle | dict") -> "ModelBundle":
        """A bundle as saved by this or an earlier release (which saved a plain dict)."""
        if isinstance(saved, cls):
            return saved
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in saved.items() if k in known}
        for name in ("features", "train_cutoffs"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)
