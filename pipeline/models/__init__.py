"""Models: estimator factories, the calibrated churn model, the value model and the baselines.

Fitted models saved by earlier releases refer to ``pipeline.models.<Class>``; the names below keep them loadable.
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
from pipeline.models.estimators import (
    HalvesAverage,
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
