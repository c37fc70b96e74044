"""Structured config: one dataclass per group, registered in Hydra's ConfigStore so typos fail.

A field with a fixed set of values is an enum, so a wrong value fails with the allowed ones listed; ranges are
checked by ``validate`` when the app builds the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Optional, cast

import pandas as pd
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from pipeline import graph
from pipeline.config_data import ColumnMaps as ColumnMaps
from pipeline.config_data import ComplaintColumns as ComplaintColumns
from pipeline.config_data import ContactColumns as ContactColumns
from pipeline.config_data import CsvOptions as CsvOptions
from pipeline.config_data import CustomerColumns as CustomerColumns
from pipeline.config_data import DataConfig as DataConfig
from pipeline.config_data import DemoConfig as DemoConfig
from pipeline.config_data import DemoRegime as DemoRegime
from pipeline.config_data import LinesConfig as LinesConfig
from pipeline.config_data import LoadMode as LoadMode
from pipeline.config_data import PostgresConfig as PostgresConfig
from pipeline.config_data import Source as Source
from pipeline.config_data import SurveyColumns as SurveyColumns
from pipeline.config_data import TransactionColumns as TransactionColumns
from pipeline.errors import PipelineError

# stage= choices: the stages of the graph, then the runs (all, weekly, tune); derived, never listed twice.
Stage = StrEnum("Stage", [(name, name) for name in (*graph.STAGE_NAMES, *graph.OTHER_CHOICES)])  # type: ignore[misc]


class Engine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


class Promote(StrEnum):
    """Whether a candidate may replace the champion: by the promotion rules (auto), or whatever they say (force)."""

    auto = "auto"
    force = "force"


class Calibration(StrEnum):
    auto = "auto"
    isotonic = "isotonic"
    sigmoid = "sigmoid"
    none = "none"


class ConfigError(PipelineError, ValueError):
    """A config value out of its range: the message names the key, the value and what is allowed."""


@dataclass
class LoyaltyConfig:
    """Rules of the loyalty ladder and the loyalty quadrant (see docs/features.md)."""

    repeat_min_purchase_days: int = 2  # repeat buyer: at least this many purchase days
    loyal_min_purchase_days: int = 4  # loyal: this many purchase days ...
    loyal_min_tenure_days: int = 180  # ... over at least this long a relationship ...
    active_max_overdue_ratio: float = 2.0  # ... and not more than this many usual gaps since the last purchase
    advocate_min_nps: int = 9  # advocate: loyal and a promoter
    attitudinal_min_nps: int = 9  # quadrant: NPS at least this is attitudinal loyalty


@dataclass
class FeaturesConfig:
    # windows of the count and spend features
    windows_days: list[int] = field(default_factory=lambda: [30, 90, 180, 365])
    engine: Engine = Engine.duckdb  # duckdb (embedded) | spark (needs pyspark and Java 17+)
    spark_master: Optional[str] = None  # null = local[threads]; or spark://host:7077, yarn, sc://host:15002
    memory_limit: Optional[str] = None  # DuckDB's memory cap, e.g. "8GB"; spills past it (null = 80% of RAM)
    probabilistic: bool = True  # BG/NBD and Gamma-Gamma features, fitted per cutoff
    btyd_fit_max_customers: int = 50_000  # BG/NBD and Gamma-Gamma are fitted on at most this many (0 = all)
    exclude: list[str] = field(default_factory=list)  # model inputs to leave out (glob patterns, e.g. "bgnbd_*")
    loyalty: LoyaltyConfig = field(default_factory=LoyaltyConfig)


@dataclass
class LgbmParams:
    n_estimators: int = 2000  # most trees (early stopping may stop sooner)
    learning_rate: float = 0.03  # LightGBM learning rate
    num_leaves: int = 31  # leaves per tree
    max_depth: int = 6  # depth per tree
    min_child_samples: int = 50  # rows per leaf at least
    subsample: float = 0.8  # share of rows per tree
    subsample_freq: int = 1  # re-sample rows every this many trees
    colsample_bytree: float = 0.8  # share of features per tree
    reg_lambda: float = 1.0  # L2 regularisation
    early_stopping_rounds: int = 100  # stop after this many trees without gain on validation


@dataclass
class ModelConfig:
    """Training windows and model settings."""

    cutoff_step_days: int = 28  # spacing of training cutoffs (weekly where fewer than min_train_cutoffs fit)
    n_train_cutoffs: int = 13  # how many cutoffs are stacked into one training set (13 x 28 days: every season)
    min_train_cutoffs: int = 8  # fewer than this fit at cutoff_step_days (a short history): cutoffs are weekly
    n_backtest_folds: int = 4  # out-of-time folds, each one step earlier than the last
    min_history_days: int = 60  # a cutoff needs this much transaction history before it
    label_gap_days: int = 0  # days between a cutoff and the start of the window its label judges (time to act)
    calibration: Calibration = Calibration.auto  # auto (pick by validation log loss) | isotonic | sigmoid | none
    max_rows_per_cutoff: int = 200_000  # training cutoffs use at most this many customers, sampled (0 = all)
    # Small trees, at most 200: exact TreeSHAP costs trees x leaves x depth^2 per customer and explains everyone; on
    # a million customers an uncapped fit stops at ~400 trees and doubles the weekly run. On the demo's backtest these
    # settings score as well as 31-leaf, depth-6 trees (ROC AUC 0.96877 both, log loss 0.21125 vs 0.21119) and explain
    # about 5x faster. The rate 0.05 (not faster): on small data a faster rate stops so early that the trees hardly use
    # open complaints. The value model's smaller, faster trees lower its RMSE on the demo.
    churn: LgbmParams = field(
        default_factory=lambda: LgbmParams(learning_rate=0.05, num_leaves=15, max_depth=4, n_estimators=200)
    )
    value: LgbmParams = field(default_factory=lambda: LgbmParams(learning_rate=0.08, num_leaves=15, max_depth=4))
    promotion_margin: float = 0.002  # log-loss gain a candidate with another recipe needs over the champion
    # features whose rise never lowers churn risk
    monotone_increasing: list[str] = field(default_factory=lambda: ["open_complaints", "oldest_open_complaint_days"])


@dataclass
class TrackingConfig:
    enabled: bool = True  # log runs to MLflow
    uri: Optional[str] = None  # null = sqlite database under paths.mlruns
    experiment: str = "churn-clv"  # MLflow experiment name
    run_name: Optional[str] = None  # null = the stage name
    register: bool = True  # register the models and set the champion alias
    churn_model_name: str = "churn_classifier"  # registered churn model
    value_model_name: str = "value_regressor"  # registered value model


@dataclass
class CampaignConfig:
    """Retention-campaign economics for the profit curve and EMPC (Verbraken et al. 2013; defaults from the paper)."""

    contact_cost: float = 1.0  # f: cost of contacting one customer
    incentive_cost: float = 10.0  # d: cost of the incentive for a customer who accepts it
    acceptance_alpha: float = 6.0  # acceptance rate of would-be churners ~ Beta(alpha, beta), mean 0.3
    acceptance_beta: float = 14.0  # ... and beta


@dataclass
class ReportConfig:
    top_n: int = 500  # size of the save list (retention.list_size=count): rows in at_risk.csv
    n_reasons: int = 3  # reasons per customer
    currency: str = "EUR"  # shown with every amount in the list and the report


class ListSize(StrEnum):
    """How many customers go on the save list: a fixed count, every customer worth a contact, or the backtest's best."""

    count = "count"  # type: ignore[assignment]  # report.top_n
    threshold = "threshold"  # every customer whose contact is expected to save at least retention.min_saveable
    optimal = "optimal"  # the profit-optimal share of customers from the latest backtest fold's profit curve


@dataclass
class UpliftConfig:
    """The uplift model learned from past lists (pipeline.uplift): when it is fitted and tested."""

    enabled: bool = True  # fit it when past lists allow; the list uses it only when it wins out of time
    min_rows: int = 100  # contacted customers an action needs (and held-out customers the hold-out needs) to be learned
    fold_days: int = 28  # the out-of-time test blocks: lists of this many days, each judged by a model fitted before
    max_shift_auc: float = 0.75  # past lists' customers this distinguishable from this week's candidates: not used


@dataclass
class EffectsConfig:
    """When a kind of contact's save rate is measured on past lists' hold-outs instead of assumed (pipeline.effects)."""

    min_contacted: int = 200  # contacted customers an action needs on past lists before its measured rate is used
    min_held_out: int = 30  # ... and held-out customers it would have been used on
    prior_sd: float = 0.10  # how far a configured save rate may be off (the prior's sd); measured rates shrink to it


@dataclass
class RetentionConfig:
    """Who goes on the weekly save list, who goes to the win-back group, and how a list is judged afterwards."""

    medium_risk: float = 0.33  # risk band: churn probability from which risk is medium ...
    high_risk: float = 0.66  # ... and from which it is high
    list_size: ListSize = ListSize.count  # count (report.top_n), threshold (min_saveable) or optimal (backtest)
    above_typical_only: bool = True  # the save list holds only customers at more risk than a typical active one
    min_saveable: float = 0.0  # list_size=threshold: the least expected saving that earns a contact
    holdout_share: float = 0.05  # share of the save list held out (not contacted, not in at_risk.csv) to measure saves
    explore_share: float = 0.10  # share of the contacted customers given an action drawn at random (recorded)
    stale_complaint_days: int = 90  # a complaint open longer is flagged as a data warning, not offered as a reason
    risk_rise_points: float = 10.0  # week over week: a rise of at least this many probability points is reported
    effects: EffectsConfig = field(default_factory=EffectsConfig)
    uplift: UpliftConfig = field(default_factory=UpliftConfig)


@dataclass
class PopulationConfig:
    """Who a team can still keep (the active base) and who is in the win-back group (see pipeline.population)."""

    return_quantile: float = 0.9  # active: silent no longer than this share of the base's repeat-purchase gaps ...
    max_silence_days: Optional[int] = None  # ... or than this many days, if set (null = the window from the data)
    own_rhythm: bool = True  # ... or than their own usual gap allows at that quantile (repeat buyers)


@dataclass
class HealthConfig:
    """When the report opens with a warning: drift from the champion's training data, the champion's age, gaps."""

    max_psi: float = 0.25  # population stability index of a feature or of the score
    max_model_age_days: int = 120  # days between the champion's as_of and this list's
    max_missing_increase: float = 0.10  # rise in a feature's share of missing values since training
    max_data_age_days: int = 7  # the newest transaction is older than this at as_of: has this week's data arrived?
    # not checked for drift: they grow with the calendar wherever the customer base is not renewed (a single cohort),
    # or follow it by design (the season ahead)
    ignore: list[str] = field(default_factory=lambda: ["tenure_days", "account_age_days", "season_ahead"])


@dataclass
class SentenceConfig:
    """A wording of a reason: ``{feature|filter}`` placeholders; used where ``when`` holds and all values are known."""

    text: str = MISSING
    when: Optional[str] = None  # a condition on the customer's features (pandas eval syntax); null = always


@dataclass
class DriverConfig:
    """A group of related features that together make one reason, its wordings and the action it suggests."""

    label: str = MISSING  # plain words for charts and tables
    features: list[str] = field(default_factory=list)
    action: str = "none"  # a key of ReasonsConfig.actions
    sentences: list[SentenceConfig] = field(default_factory=list)  # the first that applies is used


@dataclass
class ActionConfig:
    """A kind of contact: what the team calls it, the share of at-risk customers it keeps, and what one costs."""

    label: str = MISSING
    save_rate: float = 0.0
    cost: float = 0.0


@dataclass
class ReasonsConfig:
    """Drivers, their sentences and actions (configs/reasons/*.yaml): a team rewords them without touching code."""

    min_points: float = 1.0  # a driver is a reason only when it raises risk by at least this many probability points
    drivers: dict[str, DriverConfig] = field(default_factory=dict)
    actions: dict[str, ActionConfig] = field(default_factory=dict)


@dataclass
class PathsConfig:
    """Where the run's data, models and tracking store live: under ``root`` (the project) unless set absolutely, so
    ``python -m pipeline`` writes to the same place from any working directory (a scheduler's, say)."""

    root: str = "${project_root:}"  # the project folder (the one holding configs/); paths.root=... moves them all
    raw: str = "${paths.root}/data/raw"  # demo data
    interim: str = "${paths.root}/data/interim"  # validated tables, features, evaluation
    quarantine: str = "${paths.root}/data/quarantine"  # rows set aside, with reasons
    scored: str = "${paths.root}/data/scored"  # each week's lists and report
    models: str = "${paths.root}/models"  # candidate, champion, promotion log
    mlruns: str = "${paths.root}/mlruns"  # MLflow store


@dataclass
class Config:
    stage: Stage = Stage["all"]  # the stage to run (pipeline/graph.py); all = every stage; weekly = score, no training
    as_of: Optional[str] = None  # YYYY-MM-DD; null = the day after the last transaction
    horizon_days: int = 90  # how far ahead churn and value are predicted
    seed: int = 42  # every random choice (demo data, models, samples, hold-out)
    promote: Promote = Promote.auto  # force: this run's model replaces the champion (a backfill's too)
    threads: int = 0  # LightGBM, DuckDB, Spark (local) and BLAS threads; 0 = all cores, never more than the machine has
    data: DataConfig = MISSING
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    reasons: ReasonsConfig = MISSING
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the folder with configs/, data/ and models/


def register() -> None:
    """Register the schemas so the YAML files under configs/ are validated against them, and ``${project_root:}``."""
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT), replace=True)
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(group="data", name="base_data", node=DataConfig)
    cs.store(group="reasons", name="base_reasons", node=ReasonsConfig)


def load_reasons(name: str = "default") -> ReasonsConfig:
    """A reasons file of configs/reasons/ as Hydra would compose it (for notebooks and tests outside the app)."""
    saved = OmegaConf.load(PROJECT_ROOT / "configs" / "reasons" / f"{name}.yaml")
    assert isinstance(saved, DictConfig)
    saved.pop("defaults", None)
    return cast(ReasonsConfig, OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ReasonsConfig), saved)))


def as_of_date(cfg: Config) -> Optional[pd.Timestamp]:
    """The configured as_of as a calendar day (None = the day after the last transaction, found by the features).

    The demo's default is its "today", ``data.demo.end_date``: the weeks after it are for weekly runs to load.
    """
    if cfg.as_of:
        return pd.Timestamp(cfg.as_of).normalize()
    if cfg.data.source == Source.demo:
        return pd.Timestamp(cfg.data.demo.end_date).normalize()
    return None
