"""Models: estimator factories, cross-fitting, the calibrated churn model, the win-back model, the value model and
the baselines. Each follows scikit-learn's contract: hyperparameters in ``__init__``, what ``fit`` learns in
attributes ending in ``_``, so ``sklearn.base.clone`` gives the same model unfitted. A saved bundle records its
format (``pipeline.bundle.FORMAT``) and one of another format is refused at load time, never half-read.
"""

from pipeline.models.baselines import (
    BgNbdBaseline,
    ConstantRate,
    LogisticBaseline,
    PerPopulation,
    RecencyBaseline,
    RfmBaseline,
)
from pipeline.models.calibration import ProbabilityCalibrator
from pipeline.models.churn import CalibratedChurnModel, logit
from pipeline.models.crossfit import HalvesAverage
from pipeline.models.estimators import (
    align,
    categories_of,
    churn_classifier,
    spend_regressor,
    value_regressor,
)
from pipeline.models.value import ValueModel, blend_weights, value_if_retained
from pipeline.models.winback import ChurnByPopulation, WinBackModel

__all__ = [
    "BgNbdBaseline",
    "CalibratedChurnModel",
    "ChurnByPopulation",
    "HalvesAverage",
    "WinBackModel",
    "ConstantRate",
    "PerPopulation",
    "LogisticBaseline",
    "ProbabilityCalibrator",
    "RecencyBaseline",
    "RfmBaseline",
    "ValueModel",
    "align",
    "blend_weights",
    "logit",
    "spend_regressor",
    "categories_of",
    "churn_classifier",
    "value_if_retained",
    "value_regressor",
]
