"""Typed view of config/sources.yml: which sources and tables exist and the rules their rows must pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import load_config
from common.config_schema import validate
from common.paths import state_dir
from common.sql_identifiers import column_type, identifier, qualified

BATCH_COLUMNS = {
    "_batch_id": "text",
    "_extracted_at": "timestamptz",
    "_interval_start": "timestamptz",
    "_interval_end": "timestamptz",
}
NUMERIC_TYPES = ("numeric", "integer", "bigint", "smallint", "double precision", "real")
DATE_TYPES = ("date",)
TIMESTAMP_TYPES = ("timestamptz", "timestamp", "timestamp with time zone")


@dataclass(frozen=True)
class TableSpec:
    """One source table: key, watermark, typed columns and validation rules."""

    source: str
    name: str
    primary_key: str
    watermark: str
    columns: dict[str, str]
    required: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_in_future: tuple[str, ...] = ()
    references: dict[str, str] = field(default_factory=dict)  # column -> "<source>.<table>"
    source_schema: str = ""
    raw_schema: str = ""

    @property
    def qualified(self) -> str:
        """`source.table`, the name used in quarantine and audit."""
        return f"{self.source}.{self.name}"

    @property
    def raw_table(self) -> str:
        """`raw_schema.table` in the warehouse."""
        return f"{self.raw_schema}.{self.name}"

    def kind_of(self, column: str) -> str:
        """'number', 'date', 'timestamp' or 'text': how a value of the column is parsed."""
        sql_type = self.columns[column].lower()
        if sql_type.startswith(NUMERIC_TYPES):
            return "number"
        if sql_type in DATE_TYPES:
            return "date"
        if sql_type in TIMESTAMP_TYPES:
            return "timestamp"
        return "text"


@dataclass(frozen=True)
class SourceSpec:
    """One source system: connection, kind and its tables in extraction order."""

    name: str
    connection: str
    kind: str
    schema: str
    raw_schema: str
    landing_dir: Path
    tables: tuple[TableSpec, ...]

    def table(self, name: str) -> TableSpec:
        for spec in self.tables:
            if spec.name == name:
                return spec
        raise KeyError(f"source {self.name!r} has no table {name!r}")


def _table(source: str, schema: str, raw_schema: str, name: str, raw: dict[str, Any]) -> TableSpec:
    rules = raw.get("rules") or {}
    where = f"sources.yml: {source}.{name}"
    identifier(name, f"sources.yml: {source} table name")
    columns = {
        identifier(k, f"{where} column name"): column_type(v, f"{where} column {k} type")
        for k, v in raw["columns"].items()
    }
    for target in (rules.get("references") or {}).values():
        qualified(target, f"{where} references")
    spec = TableSpec(
        source=source,
        name=name,
        primary_key=raw["primary_key"],
        watermark=raw.get("watermark", "updated_at"),
        columns=columns,
        required=tuple(rules.get("required", ())),
        non_negative=tuple(rules.get("non_negative", ())),
        allowed_values={k: tuple(v) for k, v in (rules.get("allowed_values") or {}).items()},
        not_in_future=tuple(rules.get("not_in_future", ())),
        references=dict(rules.get("references") or {}),
        source_schema=schema,
        raw_schema=raw_schema,
    )
    named = {
        spec.primary_key,
        spec.watermark,
        *spec.required,
        *spec.non_negative,
        *spec.allowed_values,
        *spec.not_in_future,
        *spec.references,
    }
    unknown = named - set(columns)
    if unknown:
        raise ValueError(f"sources.yml: {source}.{name} rules name unknown columns {sorted(unknown)}")
    return spec


def load_sources(config: dict[str, Any] | None = None) -> dict[str, SourceSpec]:
    """All configured sources, keyed by name, tables in extraction order."""
    if config is None:
        config = load_config("sources")
    else:
        validate("sources", config, "sources config")
    out: dict[str, SourceSpec] = {}
    for name, raw in config["sources"].items():
        kind = raw.get("kind", "sql")
        if kind not in ("sql", "file_drop"):
            raise ValueError(f"sources.yml: source {name!r} has unknown kind {kind!r} (sql | file_drop)")
        # every name that reaches SQL is checked here, before any connection is opened
        identifier(name, "sources.yml: source name")
        identifier(raw["schema"], f"sources.yml: {name} schema")
        identifier(raw["raw_schema"], f"sources.yml: {name} raw_schema")
        landing = Path(raw.get("landing_dir", "landing"))
        tables = tuple(
            _table(name, raw["schema"], raw["raw_schema"], tname, traw)
            for tname, traw in raw["tables"].items()
        )
        out[name] = SourceSpec(
            name=name,
            connection=raw["connection"],
            kind=kind,
            schema=raw["schema"],
            raw_schema=raw["raw_schema"],
            landing_dir=landing if landing.is_absolute() else state_dir() / landing,
            tables=tables,
        )
    return out


def source_spec(name: str) -> SourceSpec:
    """One source by name ('crm' or 'finance'); a clear error for an unknown name."""
    sources = load_sources()
    if name not in sources:
        raise KeyError(f"unknown source {name!r}; configured: {sorted(sources)}")
    return sources[name]


def future_tolerance_days() -> int:
    """Days after the interval end that not_in_future still accepts (clock skew between systems)."""
    return int(load_config("sources").get("future_tolerance_days", 0))


def late_arrival_days() -> int:
    """Days before the interval start a file-drop row's watermark may lie (late deliveries)."""
    return int(load_config("sources").get("late_arrival_days", 7))


def _batch_column(name: str, type_: str) -> str:
    """A batch column: required, defaulting to the transaction setting raw.<name> the loader sets once
    per batch, so the COPY stream carries only the source columns."""
    default = f"current_setting('raw.{name.lstrip('_')}', true)"
    return f"{name} {type_} not null default {default if type_ == 'text' else f'{default}::{type_}'}"


def raw_ddl(sources: dict[str, SourceSpec] | None = None) -> str:
    """CREATE TABLE and CREATE INDEX statements of the raw layer (the baseline migration 010_raw.sql holds them).

    Indexes: the key (the raw gate's cross-batch checks, the daily dbt build's lookups of changed keys),
    _extracted_at (the daily dbt build reads the rows loaded since its last run) and _interval_start
    (a rerun deletes its batch, the raw gate selects it)."""
    sources = sources or load_sources()
    parts: list[str] = []
    for source in sources.values():
        for spec in source.tables:
            cols = [f"    {c} {t}" for c, t in spec.columns.items()]
            cols += [f"    {_batch_column(c, t)}" for c, t in BATCH_COLUMNS.items()]
            parts.append(f"create table {spec.raw_table} (\n" + ",\n".join(cols) + "\n);")
            parts.append(
                f"create index {spec.name}_key_idx on {spec.raw_table} ({spec.primary_key});\n"
                f"create index {spec.name}_extracted_idx on {spec.raw_table} (_extracted_at);\n"
                f"create index {spec.name}_interval_idx on {spec.raw_table} (_interval_start);"
            )
    return "\n".join(parts) + "\n"
