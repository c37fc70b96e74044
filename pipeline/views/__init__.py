"""The retention team's outputs: the save list and win-back group, the single-file HTML report, the model card."""

from pipeline.views.at_risk import COLUMN_HELP, ListContext, column_help, save_list, win_back_list, write_xlsx
from pipeline.views.card import model_card
from pipeline.views.page import PageInputs, render
from pipeline.views.plots import figures, shap_summary_plot

__all__ = [
    "COLUMN_HELP",
    "ListContext",
    "column_help",
    "PageInputs",
    "figures",
    "model_card",
    "render",
    "save_list",
    "shap_summary_plot",
    "win_back_list",
    "write_xlsx",
]
