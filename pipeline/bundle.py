"""What training produces and scoring loads: the fitted models with what they need to be used and traced."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from pipeline.fitting import TrainedModels

LIGHTGBM = "lightgbm"
BGNBD = "bgnbd"  # the label-free BG/NBD x Gamma-Gamma fallback: nothing fitted ahead, fitted per cutoff at scoring
FALLBACK_VERSION = "bgnbd-gamma-gamma (no labelled history)"
# The save format of a bundle and the fitted models in it. Raise it whenever a field of ModelBundle, TrainedModels or
# a fitted model's learnt attributes change shape: a bundle of another format is refused at load time with a message
# to retrain (pipeline.infra.bundles), never half-read. There are no shims for older formats.
FORMAT = 1  # the first versioned format (0.5.0); bundles of earlier releases carry none and are refused


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
    format: int = FORMAT

    @property
    def is_fallback(self) -> bool:
        return self.kind == BGNBD

    @classmethod
    def fallback(cls, recipe: dict, as_of: str) -> ModelBundle:
        """The label-free scorer, for data without a labelled history."""
        return cls(BGNBD, FALLBACK_VERSION, recipe, as_of)


@dataclass(frozen=True)
class Verdict:
    """What the backtest decided for one candidate (stage evaluate writes it; promote and score apply it).

    ``value_weights``: the value blend chosen by backtest RMSE (None = keep the one chosen in training);
    ``scorer``: the baseline that scores instead of the model (None = the model); the log losses are what promotion
    compares.
    """

    candidate: str
    training_digest: Optional[str]
    as_of: str
    value_weights: Optional[dict[str, float]] = None
    scorer: Optional[str] = None
    scorer_reason: Optional[str] = None
    backtest_note: Optional[str] = None
    candidate_log_loss: Optional[float] = None
    champion_log_loss: Optional[float] = None

    def applies_to(self, bundle: ModelBundle) -> bool:
        return (bundle.version, bundle.training_digest, bundle.as_of) == (
            self.candidate,
            self.training_digest,
            self.as_of,
        )


def settled(bundle: ModelBundle, verdict: Optional[Verdict]) -> ModelBundle:
    """``bundle`` with its backtest's decisions applied (a new bundle; the one given is not changed)."""
    if verdict is None or bundle.trained is None or not verdict.applies_to(bundle):
        return bundle
    trained = bundle.trained
    if verdict.value_weights:
        value = copy.copy(trained.value)
        value.weights_ = dict(verdict.value_weights)
        trained = dataclasses.replace(trained, value=value)
    return dataclasses.replace(
        bundle,
        trained=trained,
        scorer=verdict.scorer,
        scorer_reason=verdict.scorer_reason,
        backtest_note=verdict.backtest_note,
    )
