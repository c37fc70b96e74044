"""The stages, one module each, in the order of ``pipeline.graph``: ingest -> features (and labels) -> train ->
evaluate -> promote -> score (with its reasons) -> report. Each reads what earlier stages wrote through the catalog
and writes only what the graph says it alone writes; none imports a later one, and no library module imports a stage
(tests check both). ``pipeline.stages.run`` holds one runner per stage; ``pipeline/__main__.py`` runs them.
"""

from pipeline.stages.evaluate import Evaluation, run_evaluate
from pipeline.stages.features import check_as_of, load_labelled, run_features
from pipeline.stages.ingest import run_ingest
from pipeline.stages.promote import complete_champion, run_promotion
from pipeline.stages.report import run_report
from pipeline.stages.run import RUNNERS, Run
from pipeline.stages.score import Scored, read_scored, run_score
from pipeline.stages.train import run_train, run_tune

__all__ = [
    "RUNNERS",
    "Evaluation",
    "Run",
    "Scored",
    "check_as_of",
    "complete_champion",
    "load_labelled",
    "read_scored",
    "run_evaluate",
    "run_features",
    "run_ingest",
    "run_promotion",
    "run_report",
    "run_score",
    "run_train",
    "run_tune",
]
