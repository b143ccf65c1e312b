"""Schemas of the files in config/: every key and type the code reads, unknown keys refused.

`common.config.load_config` validates each file against its model here before returning it, so a
misspelt key (`requried:`), a value of the wrong type (`required: account_id`, `columns` as a list) or
an out-of-range number fails at load, naming the file, the key path and what was expected, before
any connection is opened. Names that reach SQL are checked separately, where they are read, by
`common.sql_identifiers` (the one identifier check).

Adding a key to a config file means adding it here too; adding a file means adding its model to
SCHEMAS.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.sql_identifiers import InvalidIdentifier, column_type, identifier, qualified

NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
NonNegFloat = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
Version = Union[int, str]  # noqa: UP007 - pydantic needs a runtime union here
# Names that reach SQL go through the one identifier check (common.sql_identifiers) at load; code that
# builds SQL from them checks again where it reads them (a config handed over as a dict skips the loader).
Ident = Annotated[str, AfterValidator(lambda v: identifier(v, "name"))]
QualifiedName = Annotated[str, AfterValidator(lambda v: qualified(v, "name"))]
ColumnType = Annotated[str, AfterValidator(lambda v: column_type(v, "name"))]
# Grades, rule and reason codes travel as values (query parameters), never as names; still, a code is a
# short token, not free text
Code = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9_+-]{0,39}$")]
Pair = Annotated[list[float], Field(min_length=2, max_length=2)]  # [low, high]


class ConfigError(ValueError):
    """A config file does not match its schema; the message names file, key path and expectation."""


class ConfigIdentifierError(ConfigError, InvalidIdentifier):
    """A name in a config file that would reach SQL is not a plain identifier; nothing ran with it."""


class Strict(BaseModel):
    """Unknown keys are errors; values are not coerced from other types (no "5" for 5, no "abc")."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


# --- sources.yml ---------------------------------------------------------------------------------


class SourceRules(Strict):
    required: list[Ident] = []
    non_negative: list[Ident] = []
    allowed_values: dict[Ident, list[str]] = {}
    not_in_future: list[Ident] = []
    references: dict[Ident, QualifiedName] = {}


class SourceTable(Strict):
    primary_key: Ident
    watermark: Ident = "updated_at"
    columns: dict[Ident, ColumnType] = Field(min_length=1)
    rules: SourceRules = SourceRules()


class Source(Strict):
    connection: str
    kind: Literal["sql", "file_drop"] = "sql"
    schema_: Ident = Field(alias="schema")
    raw_schema: Ident
    landing_dir: str = "landing"
    tables: dict[Ident, SourceTable] = Field(min_length=1)


class SourcesFile(Strict):
    currencies: list[str] = []  # a YAML anchor the tables' allowed_values refer to
    future_tolerance_days: NonNegInt = 0
    late_arrival_days: NonNegInt = 7
    sources: dict[Ident, Source] = Field(min_length=1)


# --- features.yml --------------------------------------------------------------------------------


class Feature(Strict):
    name: Ident
    kind: Literal["numeric", "categorical", "flag", "date"]
    group: str
    description: str
    risk_direction: Literal["increasing", "decreasing"] | None = None
    model: bool = True


class FeaturesFile(Strict):
    version: Version
    key: list[Ident]
    features: list[Feature] = Field(min_length=1)


# --- rating_scale.yml, segments.yml, reason_codes.yml, limits.yml ----------------------------------


class Grade(Strict):
    grade: Code
    pd_lower: Share
    pd_upper: Share
    description: str
    default: bool = False


class ScoreScaling(Strict):
    base_score: float
    base_odds: float = Field(gt=0)
    pdo: float = Field(gt=0)
    min_score: float
    max_score: float


class RatingScaleFile(Strict):
    version: Version
    grades: list[Grade] = Field(min_length=2)
    score_scaling: ScoreScaling


class Segment(Strict):
    name: Ident
    grades: list[Code] = Field(min_length=1)
    review_frequency_months: PosInt
    description: str


class SegmentsFile(Strict):
    version: Version
    segments: list[Segment] = Field(min_length=1)


class ReasonCode(Strict):
    feature: Ident
    text: str


class ReasonCodesFile(Strict):
    version: Version
    default_code: Code
    codes: dict[Code, ReasonCode] = Field(min_length=1)


class LimitCaps(Strict):
    min_limit: NonNegFloat
    max_limit: NonNegFloat
    max_increase_pct: NonNegFloat
    new_customer_max: NonNegFloat


class LimitRounding(Strict):
    step: Annotated[float, Field(gt=0)]


class LimitDecisions(Strict):
    hold_grades: list[Code]
    hold_dpd: NonNegInt
    reduce_tolerance: Share
    review_segments: list[Ident]
    review_grades: list[Code] = []
    review_utilisation: NonNegFloat


class LimitsFile(Strict):
    version: Version
    months_of_sales: dict[Code, NonNegFloat] = Field(min_length=1)
    cover_exposure_grades: list[Code] = []
    exposure_buffer: NonNegFloat = 1.0
    caps: LimitCaps
    rounding: LimitRounding
    decisions: LimitDecisions


# --- warnings.yml --------------------------------------------------------------------------------


class WarningRule(Strict):
    code: Code
    description: str
    metric: Ident
    comparison: Literal["gt", "ge", "lt", "le", "eq"]
    threshold: float
    severity: Literal["info", "warning", "critical"]
    lookback_days: PosInt | None = None


class Alerting(Strict):
    severity: Literal["info", "warning", "critical"] = "critical"
    smtp_conn_id: str = "smtp_default"
    to: list[str] = []
    from_email: str | None = None
    max_listed: PosInt = 50
    operations_to: list[str] = []
    publish_by_utc: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class WarningsFile(Strict):
    version: Version
    rules: list[WarningRule] = Field(min_length=1)
    alerting: Alerting = Alerting()


# --- quality.yml ---------------------------------------------------------------------------------


class VolumeSettings(Strict):
    warning_min_ratio: NonNegFloat
    warning_max_ratio: NonNegFloat
    critical_min_ratio: NonNegFloat = 0.0
    min_previous_rows: NonNegInt = 0


class Band(Strict):
    mean: Pair | None = None
    quantiles: dict[float, Pair] = {}


class Distribution(Strict):
    source: Literal["history", "config"] = "history"
    snapshots: PosInt = 30
    min_snapshots: PosInt = 7
    k_sd: NonNegFloat = 4
    min_rel_width: NonNegFloat = 0.05
    bands: dict[Ident, Band] = {}
    bureau_score_non_null_min: Share | None = None


class QualityFile(Strict):
    version: Version
    volume: dict[Literal["raw", "features"], dict[str, VolumeSettings]] = {}
    freshness: dict[str, Annotated[float, Field(gt=0)]] = {}
    distribution: Distribution = Distribution()


# --- model.yml -----------------------------------------------------------------------------------


class Split(Strict):
    holdout_snapshots: PosInt
    calibration_snapshots: PosInt
    min_train_snapshots: PosInt = 3
    exclude_in_default: bool = True
    warmup_months: NonNegInt = 0


class Sample(Strict):
    max_fit_rows: PosInt
    max_calibration_rows: PosInt
    max_holdout_rows: PosInt
    chunk_rows: PosInt


class Calibration(Strict):
    method: Literal["platt"] = "platt"


class Binning(Strict):
    max_n_prebins: PosInt
    min_prebin_size: Share
    max_n_bins: PosInt
    min_bin_size: Share
    monotonic_trend: str


class IvSelection(Strict):
    iv_min: NonNegFloat
    iv_max: NonNegFloat
    top: PosInt


class ScorecardLogistic(Strict):
    C: Annotated[float, Field(gt=0)]
    max_iter: PosInt


class Scorecard(Strict):
    enabled: bool = True
    binning: Binning
    selection: IvSelection
    logistic: ScorecardLogistic


class DecisionTree(Strict):
    enabled: bool = True
    max_depth: PosInt | None = None
    min_samples_leaf: PosInt = 1
    class_weight: Literal["balanced"] | None = None


class Boosting(Strict):
    enabled: bool = True
    learning_rate: Annotated[float, Field(gt=0)]
    max_iter: PosInt
    max_leaf_nodes: PosInt | None = None
    min_samples_leaf: PosInt = 20
    l2_regularization: NonNegFloat = 0.0
    max_depth: PosInt | None = None
    early_stopping: bool = True
    n_iter_no_change: PosInt = 10


class MonotoneBoosting(Boosting):
    min_abs_correlation: Share = 0.05


class LogisticCandidate(Strict):
    enabled: bool = True
    numeric: Literal["auto", "spline", "linear"] = "auto"
    spline_min_gain: NonNegFloat = 0.0
    n_knots: PosInt = 5
    C: list[Annotated[float, Field(gt=0)]] | Annotated[float, Field(gt=0)] = 1.0
    min_category_share: Share = 0.0
    tune_max_rows: PosInt | None = None
    max_iter: PosInt = 1000


class Candidates(Strict):
    scorecard: Scorecard | None = None
    decision_tree: DecisionTree | None = None
    hgb: Boosting | None = None
    logistic: LogisticCandidate | None = None
    hgb_monotone: MonotoneBoosting | None = None


class ModelSelection(Strict):
    metric: Literal["auc"] = "auc"
    stability_penalty: NonNegFloat = 0.0
    preferred: str | None = None
    scorecard_tolerance: NonNegFloat = 0.0


class Byo(Strict):
    selection_folds: Annotated[int, Field(ge=2)] = 5
    refit_on_all: bool = True


class MinimumBars(Strict):
    auc: Share
    ks: Share
    max_psi: NonNegFloat


class GradeCalibration(Strict):
    test: Literal["jeffreys"] = "jeffreys"
    alpha: Share = 0.01
    min_observations: NonNegInt = 100
    refuse_overestimates: bool = False


class Gate(Strict):
    auc_tolerance: NonNegFloat
    max_psi: NonNegFloat
    calibration_ratio: Pair
    auto_promote: bool = False
    grade_calibration: GradeCalibration = GradeCalibration()


class Validation(Strict):
    alpha: Share = 0.05
    max_grade_share: Share = 0.4
    psi_bins: Annotated[int, Field(ge=2)] = 10
    stability_warn_psi: NonNegFloat = 0.1


class Shadow(Strict):
    enabled: bool = True
    min_labelled_rows: NonNegInt = 100


class Reasons(Strict):
    top_n: PosInt = 4
    default_code: str = "DEF01"


class Monitoring(Strict):
    backtest_alpha: Share = 0.05


class Scoring(Strict):
    partitions: Annotated[int, Field(ge=1, le=256)] = 1


class ModelFile(Strict):
    model_name: str
    experiment: str
    horizon_months: PosInt
    split: Split
    sample: Sample | None = None
    calibration: Calibration = Calibration()
    candidates: Candidates
    selection: ModelSelection = ModelSelection()
    byo: Byo = Byo()
    minimum_bars: MinimumBars
    gate: Gate
    validation: Validation = Validation()
    shadow: Shadow = Shadow()
    reasons: Reasons = Reasons()
    monitoring: Monitoring = Monitoring()
    scoring: Scoring = Scoring()


# --- desk.yml ------------------------------------------------------------------------------------


class DeskCheck(Strict):
    block_decisions: list[str]
    block_grades: list[Code]
    block_over_limit_ratio: Annotated[float, Field(gt=0)]
    refer_decisions: list[str]
    refer_on_critical_warning: bool
    refer_above_amount: NonNegFloat
    max_rating_age_days: PosInt


class DeskQueue(Strict):
    team_by_segment: dict[str, str]
    default_team: str
    max_due_days: dict[Literal["decision", "warning", "check"], PosInt]
    case_decisions: list[str]
    case_warning_severities: list[str]


class DeskOverrides(Strict):
    four_eyes_above: NonNegFloat
    default_days: PosInt
    max_days: PosInt


class DeskFile(Strict):
    version: Version
    currencies: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)
    check: DeskCheck
    queue: DeskQueue
    outcomes: dict[str, str]
    reason_codes: dict[str, str]
    overrides: DeskOverrides
    max_body_bytes: PosInt

    @model_validator(mode="after")
    def _overrides_fit(self) -> DeskFile:
        if self.overrides.default_days > self.overrides.max_days:
            raise ValueError("overrides.default_days must not exceed overrides.max_days")
        return self


# --- events.yml ----------------------------------------------------------------------------------


class AccountVia(Strict):
    """The account of a table's rows found through another table (payments -> invoices)."""

    via: QualifiedName
    key: Ident
    column: Ident


class EventsFile(Strict):
    connection: Ident
    channel: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]
    poll_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    event_types: dict[Ident, QualifiedName] = Field(min_length=1)
    required_fields: list[Ident] = Field(min_length=1)
    account_columns: dict[QualifiedName, Ident | AccountVia] = Field(min_length=1)
    max_accounts_per_run: PosInt


SCHEMAS: dict[str, type[Strict]] = {
    "sources": SourcesFile,
    "features": FeaturesFile,
    "rating_scale": RatingScaleFile,
    "segments": SegmentsFile,
    "reason_codes": ReasonCodesFile,
    "limits": LimitsFile,
    "warnings": WarningsFile,
    "quality": QualityFile,
    "model": ModelFile,
    "desk": DeskFile,
    "events": EventsFile,
}


# --- error messages ------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes, dict/list value types a field annotation can hold."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class whose field set applies at `loc` (to list the keys it accepts)."""
    current: list[Any] = [root]
    for part in loc:
        following: list[Any] = []
        for kind in current:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                field = next(
                    (f for n, f in kind.model_fields.items() if part in (n, f.alias)),
                    None,
                )
                if field is not None:
                    following += _unwrap(field.annotation)
            else:
                origin, args = typing.get_origin(kind), typing.get_args(kind)
                if origin is dict and args:
                    following += _unwrap(args[1])
                elif origin in (list, tuple) and args:
                    following += _unwrap(args[0])
        current = following
    models = [k for k in current if isinstance(k, type) and issubclass(k, BaseModel)]
    return models[0] if models else None


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc if p != "[key]") or "(top level)"


def _describe(root: type[BaseModel], error: Any) -> str:
    loc = tuple(error["loc"])
    path = _path(loc)
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, InvalidIdentifier):
        return f"{path}: {str(cause).removeprefix('name: ')}"
    if error["type"] == "extra_forbidden":
        allowed = _keys(_model_at(root, loc[:-1]) or root)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{path}: unknown key (expected one of {allowed}){hint}"
    value = error.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return f"{path}: {error['msg']} (got {shown[:80]})"


def validate(name: str, data: Any, where: str) -> BaseModel:
    """The file's data as its schema model; ConfigError naming `where`, every bad key path and why."""
    schema = SCHEMAS.get(name)
    if schema is None:
        raise ConfigError(
            f"{where}: no schema for config file {name!r}; add a model to common/config_schema.py"
        )
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = "; ".join(_describe(schema, e) for e in errors)
        if any(isinstance((e.get("ctx") or {}).get("error"), InvalidIdentifier) for e in errors):
            raise ConfigIdentifierError(f"{where}: {problems}") from None
        raise ConfigError(f"{where}: {problems}") from None
