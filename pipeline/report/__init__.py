"""The retention team's outputs: the at-risk list, the single-file HTML report, its plots and the model card."""

from pipeline.report.at_risk import AT_RISK_COLUMNS, at_risk_list
from pipeline.report.card import model_card
from pipeline.report.page import render
from pipeline.report.plots import Figures, figures, shap_summary_plot

__all__ = ["AT_RISK_COLUMNS", "Figures", "at_risk_list", "figures", "model_card", "render", "shap_summary_plot"]
