"""Risk segments (grade groups with a review frequency), read from config/segments.yml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.config import load_config
from common.sql_identifiers import identifier
from ml.scale import MasterScale, load_master_scale


@dataclass(frozen=True)
class Segment:
    """One risk segment; rank 1 is the lowest risk."""

    name: str
    rank: int
    grades: tuple[str, ...]
    review_frequency_months: int
    description: str


def load_segments(
    config: dict[str, Any] | None = None, scale: MasterScale | None = None
) -> tuple[Segment, ...]:
    """Segments from config, validated: identifier names, every master-scale grade in exactly one segment."""
    config = config or load_config("segments")
    scale = scale or load_master_scale()
    segments = []
    for i, raw in enumerate(config["segments"]):
        name = identifier(raw["name"], "segments.yml: segment name")
        months = int(raw["review_frequency_months"])
        if months <= 0:
            raise ValueError(f"segments.yml: segment {name}: review_frequency_months must be positive")
        segments.append(
            Segment(name, i + 1, tuple(str(g) for g in raw["grades"]), months, str(raw["description"]))
        )
    assigned = [g for s in segments for g in s.grades]
    scale_grades = [g.grade for g in scale.grades]
    if sorted(assigned) != sorted(scale_grades):
        raise ValueError(
            f"segments.yml: segments must cover each grade of master scale {scale.version} exactly once: "
            f"assigned {assigned}, scale {scale_grades}"
        )
    return tuple(segments)


def segment_for_grade(grades: pd.Series | np.ndarray, segments: tuple[Segment, ...]) -> np.ndarray:
    """Segment name per rating grade."""
    lookup = {g: s.name for s in segments for g in s.grades}
    out = pd.Series(np.asarray(grades, dtype=object)).map(lookup)
    if out.isna().any():
        unknown = sorted(set(pd.Series(np.asarray(grades, dtype=object))[out.isna()]))
        raise ValueError(f"grades without a segment: {unknown}")
    return out.to_numpy(dtype=object)
