"""Models: estimator factories, the calibrated churn model, the value model and the baselines.

Fitted models saved by earlier releases refer to ``pipeline.models.<Class>``; the names below keep them loadable.
"""

from pipeline.models.baselines import BgNbdBaseline, LogisticBaseline, RfmBaseline
from pipeline.models.calibration import ProbabilityCalibrator
from pipeline.models.churn import CalibratedChurnModel
from pipeline.models.estimators import align, categories_of, churn_classifier, value_regressor
from pipeline.models.value import ValueModel, value_if_retained

__all__ = [
    "BgNbdBaseline",
    "CalibratedChurnModel",
    "LogisticBaseline",
    "ProbabilityCalibrator",
    "RfmBaseline",
    "ValueModel",
    "align",
    "categories_of",
    "churn_classifier",
    "value_if_retained",
    "value_regressor",
]
