"""Champion-challenger on live data: score the @challenger in shadow beside the published @champion.

Every rated date, after the champion's ratings are published, the version @challenger points at rates
the same feature snapshot; its PD, score and grade go to model_shadow.scores (never to the BI
contract, never to decisions). Once the date's labels mature, `python -m ml.cli models shadow` shows
both versions' realised performance on the same customers. A challenger that fails to load or score
fails this step only: the published ratings are already committed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from common.config import load_config
from common.warehouse import WAREHOUSE, connection_url, copy_rows, transaction
from ml import registry
from ratings.queries import queries
from ratings.scoring import DEFAULT_CHUNK_SIZE, read_snapshot

SHADOW_TABLE = "model_shadow.scores"
COLUMNS = [
    "as_of_date",
    "customer_id",
    "model_name",
    "model_version",
    "champion_version",
    "pd_12m",
    "score",
    "rating_grade",
    "run_id",
    "scored_at",
]


@dataclass
class ShadowResult:
    """What one shadow run did (JSON-friendly for the DAG and the run audit)."""

    as_of_date: str
    status: str  # scored | no_challenger | disabled
    challenger_version: str | None = None
    champion_version: str | None = None
    rows: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shadow_versions() -> tuple[str | None, str | None]:
    """(@challenger, @champion) version numbers; the challenger is None when it is the champion."""
    challenger, champion = (
        registry.alias_version(registry.CHALLENGER),
        registry.alias_version(registry.CHAMPION),
    )
    return (None if challenger == champion else challenger), champion


def score_challenger(
    as_of_date: date,
    run_id: str,
    url: str | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    challenger: str | None = None,
) -> ShadowResult:
    """Score D's snapshot with @challenger (or the given version) into model_shadow.scores.

    One transaction: D's earlier rows of that version are replaced, so a rerun adds no rows.
    """
    day = as_of_date.isoformat()
    if not load_config("model").get("shadow", {}).get("enabled", True):
        return ShadowResult(day, "disabled", reason="config/model.yml shadow.enabled is false")
    found, champion = shadow_versions()
    version = str(challenger) if challenger else found
    if version is None:
        return ShadowResult(
            day, "no_challenger", champion_version=champion, reason="no @challenger apart from @champion"
        )
    url = url or connection_url(WAREHOUSE)
    model = registry.load_version(version)
    name, scored_at, rows = registry.registered_model_name(), datetime.now(UTC), 0
    with transaction(url) as cur:
        params = {"d": as_of_date, "model_name": name, "model_version": version}
        cur.execute(queries("shadow")["clear_version_date"], params)
        for features in read_snapshot(url, as_of_date, chunk_size):
            rated = model.predict(features)
            rated.insert(0, "customer_id", features["customer_id"].to_numpy())
            rated = rated.assign(
                as_of_date=day,
                model_name=name,
                model_version=version,
                champion_version=champion or "",
                run_id=run_id,
                scored_at=scored_at.isoformat(),
            )
            rows += copy_rows(cur, SHADOW_TABLE, COLUMNS, rated)
    return ShadowResult(day, "scored", version, champion, rows)
